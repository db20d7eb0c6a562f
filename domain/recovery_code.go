package domain

import (
	"fmt"
	"io"
	"strings"
)

// RecoveryCodeCount is how many recovery codes an account gets at once.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32 in lower case: no i, l, o or u,
// so a code read from paper is not mistyped.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// recoveryCodeChars is the length of a code without its separator: 50 bits.
const recoveryCodeChars = 10

// CodeDigest is the keyed digest (HMAC-SHA-256) a recovery code is stored
// as, with the id of the key that made it.
type CodeDigest struct {
	KeyID string
	Sum   [32]byte
}

// NewRecoveryCodes draws RecoveryCodeCount recovery codes from r, each
// shown as "xxxxx-xxxxx" (ten characters of Crockford's base32).
func NewRecoveryCodes(r io.Reader) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	buf := make([]byte, recoveryCodeChars)
	for i := range codes {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("domain: read random: %w", err)
		}
		var b strings.Builder
		for j, c := range buf {
			if j == recoveryCodeChars/2 {
				b.WriteByte('-')
			}
			// 256 is a multiple of 32: every symbol is equally likely.
			b.WriteByte(recoveryAlphabet[c%32])
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// ParseRecoveryCode returns the canonical form of a recovery code as typed
// (the ten characters, lower case, without separator), which is what its
// digest is made of. Case does not matter, the hyphen in the middle is
// optional, surrounding spaces are trimmed, and i, l and o read as 1, 1 and
// 0. Anything else is a *ValidationError on field.
func ParseRecoveryCode(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) == recoveryCodeChars+1 && s[recoveryCodeChars/2] == '-' {
		s = s[:recoveryCodeChars/2] + s[recoveryCodeChars/2+1:]
	}
	if len(s) != recoveryCodeChars {
		return "", NewValidationError(field, "must be a recovery code: 10 letters and digits, as xxxxx-xxxxx")
	}
	out := make([]byte, recoveryCodeChars)
	for i := range len(s) {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", NewValidationError(field, "must be a recovery code: 10 letters and digits, as xxxxx-xxxxx")
		}
		out[i] = c
	}
	return string(out), nil
}

// ParseTOTPCode returns a TOTP code as typed, without surrounding spaces,
// or a *ValidationError on field unless it is exactly TOTPDigits ASCII
// digits (a code with spaces inside is refused, not guessed at).
func ParseTOTPCode(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) != TOTPDigits {
		return "", NewValidationError(field, "must be the 6 digits the authenticator app shows")
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return "", NewValidationError(field, "must be the 6 digits the authenticator app shows")
		}
	}
	return s, nil
}
