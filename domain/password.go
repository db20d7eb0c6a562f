package domain

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Password length bounds, counted in Unicode code points.
const (
	MinPasswordRunes = 12
	MaxPasswordRunes = 128
	// MaxPasswordBytes bounds the encoded size (4 bytes per code point) so an
	// absurd input is refused before it is counted or hashed.
	MaxPasswordBytes = 4 * MaxPasswordRunes
)

// CommonPasswordChecker reports whether a password is on a list of commonly
// used or easily guessed passwords.
type CommonPasswordChecker interface {
	IsCommon(password string) bool
}

// NormalizePassword returns the form of plain that is hashed and verified:
// its Unicode NFC, so that a password typed as composed characters on one
// keyboard and as decomposed ones on another is the same password. It is
// not otherwise changed (no case folding, trimming or compatibility
// mapping), so no distinct passwords become one.
func NormalizePassword(plain string) string { return norm.NFC.String(plain) }

// ValidatePassword applies the password policy to plain and returns a
// *ValidationError naming field when it fails: 12–128 code points of valid
// UTF-8 without NUL, counted and checked against the common list in the
// NFC form NormalizePassword gives it, and not a common password. There
// are no composition rules and nothing is truncated. common may be nil to
// skip the list check.
func ValidatePassword(field, plain string, common CommonPasswordChecker) error {
	switch {
	case len(plain) > MaxPasswordBytes:
		return NewValidationError(field, "must be at most 128 characters")
	case !utf8.ValidString(plain):
		return NewValidationError(field, "must be valid UTF-8")
	case strings.ContainsRune(plain, 0):
		return NewValidationError(field, "must not contain NUL characters")
	}
	plain = NormalizePassword(plain)
	n := utf8.RuneCountInString(plain)
	switch {
	case n < MinPasswordRunes:
		return NewValidationError(field, "must be at least 12 characters")
	case n > MaxPasswordRunes:
		return NewValidationError(field, "must be at most 128 characters")
	case common != nil && common.IsCommon(plain):
		return NewValidationError(field, "is too common; choose a less guessable password")
	}
	return nil
}

// TooLongToBePassword reports whether plain is longer than any password the
// policy accepts, so that it can be refused without spending a hash on it.
func TooLongToBePassword(plain string) bool {
	return len(plain) > MaxPasswordBytes || utf8.RuneCountInString(plain) > MaxPasswordRunes
}
