package domain

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// MaxEmailBytes is the longest accepted email, matching users.email varchar(255).
const MaxEmailBytes = 255

// maxLocalPartBytes is RFC 5321's limit on the part before the "@".
const maxLocalPartBytes = 64

// Email is a normalised (trimmed, lower-cased) and validated email address.
// The zero value is not a valid email.
type Email struct {
	addr string
}

// ParseEmail trims, lower-cases and validates s. It returns a
// *ValidationError for the field "email" when s is not a plain address.
func ParseEmail(s string) (Email, error) {
	switch s = strings.TrimSpace(s); {
	case s == "":
		return Email{}, NewValidationError("email", "is required")
	case len(s) > MaxEmailBytes:
		return Email{}, NewValidationError("email", "must be at most 255 bytes")
	case !utf8.ValidString(s):
		return Email{}, NewValidationError("email", "must be valid UTF-8")
	}
	s = strings.ToLower(s)
	a, err := mail.ParseAddress(s)
	// Only a bare address is accepted: no display name, no angle brackets.
	if err != nil || a.Name != "" || a.Address != s || strings.ContainsAny(s, "<>\" ") {
		return Email{}, NewValidationError("email", "must be a valid email address")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > maxLocalPartBytes || at == len(s)-1 || strings.HasPrefix(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return Email{}, NewValidationError("email", "must be a valid email address")
	}
	return Email{addr: s}, nil
}

// MustParseEmail is ParseEmail for tests and constants; it panics on error.
func MustParseEmail(s string) Email {
	e, err := ParseEmail(s)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the normalised address.
func (e Email) String() string { return e.addr }

// IsZero reports whether e is the zero value.
func (e Email) IsZero() bool { return e.addr == "" }
