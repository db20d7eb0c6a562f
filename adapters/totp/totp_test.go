package totp_test

import (
	"encoding/base32"
	"net/url"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"authd/adapters/totp"
	"authd/domain"
)

// TestCodesAreThoseOfAuthenticatorApps checks the RFC 6238 test vector
// (SHA-1, 8 digits cut to 6) and agreement with pquerna's own generator.
func TestCodesAreThoseOfAuthenticatorApps(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	c := totp.Codes{Issuer: "authd"}
	// RFC 6238 Appendix B: T=59 gives 94287082; the 6-digit code is 287082.
	if !c.Matches(secret, "287082", domain.TOTPStep(time.Unix(59, 0))) {
		t.Error("the RFC 6238 test vector does not match")
	}
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	encoded, uri := c.Enrolment(secret, "ada@example.com")
	code, err := pqtotp.GenerateCode(encoded, now)
	if err != nil {
		t.Fatal(err)
	}
	step := domain.TOTPStep(now)
	if !c.Matches(secret, code, step) {
		t.Error("pquerna's code for now does not match")
	}
	if c.Matches(secret, code, step+1) || c.Matches(secret, "12345", step) || c.Matches(secret, "abcdef", step) {
		t.Error("a code matched another step or a malformed code matched")
	}
	if mine, _ := totp.Code(secret, step); mine != code {
		t.Errorf("Code = %s, pquerna says %s", mine, code)
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != encoded || u.Query().Get("issuer") != "authd" {
		t.Fatalf("uri %q", uri)
	}
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(encoded); err != nil {
		t.Errorf("secret %q is not base32", encoded)
	}
}
