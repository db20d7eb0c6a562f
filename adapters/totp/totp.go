// Package totp computes the time-based one-time passwords of RFC 6238 with
// github.com/pquerna/otp, under the domain's policy: 6 digits, 30-second
// steps, HMAC-SHA-1, as authenticator apps expect.
package totp

import (
	"encoding/base32"
	"net/url"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"authd/domain"
	"authd/ports"
)

var _ ports.TOTP = Codes{}

// Codes implements ports.TOTP. Issuer is the name authenticator apps show
// above the account.
type Codes struct {
	Issuer string
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

var opts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment returns secret in base32 and the otpauth:// URI (Key URI
// Format) that names the issuer and account.
func (c Codes) Enrolment(secret []byte, account string) (encoded, uri string) {
	encoded = b32.EncodeToString(secret)
	v := url.Values{}
	v.Set("secret", encoded)
	v.Set("issuer", c.Issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + c.Issuer + ":" + account, RawQuery: v.Encode()}
	return encoded, u.String()
}

// Matches reports whether code is secret's code for step, comparing in
// constant time (hotp does).
func (Codes) Matches(secret []byte, code string, step int64) bool {
	if step < 0 || len(code) != domain.TOTPDigits {
		return false
	}
	ok, err := hotp.ValidateCustom(code, uint64(step), b32.EncodeToString(secret), opts)
	return err == nil && ok
}

// Code returns secret's code for step; tests use it to play an
// authenticator app.
func Code(secret []byte, step int64) (string, error) {
	return hotp.GenerateCodeCustom(b32.EncodeToString(secret), uint64(step), opts)
}
