package domain_test

import (
	"testing"

	"authd/domain"
)

// FuzzParseSecondFactorCodes: whatever is typed, the parsers refuse it or
// return a canonical code that parses to itself.
func FuzzParseSecondFactorCodes(f *testing.F) {
	for _, s := range []string{"123456", " 123456 ", "12 3456", "abcde-fghjk", "ABCDE-FGHJK", "il0o1iloo1", "abcdefghjk", "", "\x00", "１２３４５６", "abcde-fghjk-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := domain.ParseTOTPCode("totp_code", s); err == nil {
			if again, err := domain.ParseTOTPCode("totp_code", c); err != nil || again != c || len(c) != domain.TOTPDigits {
				t.Fatalf("TOTP %q → %q → %q, %v", s, c, again, err)
			}
		}
		if c, err := domain.ParseRecoveryCode("recovery_code", s); err == nil {
			if again, err := domain.ParseRecoveryCode("recovery_code", c); err != nil || again != c || len(c) != 10 {
				t.Fatalf("recovery %q → %q → %q, %v", s, c, again, err)
			}
		}
		_, _ = domain.ParsePasskeyName(s)
	})
}
