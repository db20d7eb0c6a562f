package domain

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// MaxEmailBytes is the longest accepted email, matching users.email varchar(255).
const MaxEmailBytes = 255

// maxLocalPartBytes is RFC 5321's limit on the part before the "@".
const maxLocalPartBytes = 64

// maxEmailInputBytes bounds the input before it is normalised: NFC can
// shrink a decomposed spelling to a third of its size, so a longer input
// can never fit MaxEmailBytes.
const maxEmailInputBytes = 3 * MaxEmailBytes

// Email is a normalised and validated email address: Unicode NFC,
// lower-cased, the domain as its IDNA A-label, and none of the characters
// that let two different addresses look the same. The zero value is not a
// valid email.
type Email struct {
	addr string
}

// emailDomain converts a domain to its ASCII form the way UTS #46 lookup
// does (mapping, nontransitional), holding it to the hostname rules of RFC
// 5321 and the DNS length limits, and checking the bidi and joiner rules
// of IDNA2008.
var emailDomain = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckJoiners(true),
	idna.CheckHyphens(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// ParseEmail normalises and validates s. It returns a *ValidationError for
// the field "email" when s is not a plain address. Normalising trims
// surrounding white space, converts to Unicode NFC (so the composed and
// decomposed spellings of an address are one address), lower-cases, and
// converts the domain to its IDNA A-label (bücher.example becomes
// xn--bcher-kva.example). Characters that render as nothing or as
// something else are refused rather than dropped: control, format
// (zero-width, bidi controls, tags), space and other default-ignorable
// characters, private-use and unassigned code points.
func ParseEmail(s string) (Email, error) {
	switch s = strings.TrimSpace(s); {
	case s == "":
		return Email{}, NewValidationError("email", "is required")
	case len(s) > maxEmailInputBytes:
		return Email{}, NewValidationError("email", "must be at most 255 bytes")
	case !utf8.ValidString(s):
		return Email{}, NewValidationError("email", "must be valid UTF-8")
	}
	for _, r := range s {
		if !visibleInEmail(r) {
			return Email{}, NewValidationError("email", "must not contain control, format, space, private-use or unassigned characters")
		}
	}
	// NFC again after lower-casing, which may leave a decomposed sequence.
	s = norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
	invalid := NewValidationError("email", "must be a valid email address")
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Email{}, invalid
	}
	local := s[:at]
	host, err := emailDomain.ToASCII(s[at+1:])
	if err != nil || host == "" || strings.HasSuffix(host, ".") {
		return Email{}, invalid
	}
	addr := local + "@" + strings.ToLower(host)
	switch {
	case len(addr) > MaxEmailBytes:
		return Email{}, NewValidationError("email", "must be at most 255 bytes")
	case len(local) > maxLocalPartBytes:
		return Email{}, invalid
	}
	a, err := mail.ParseAddress(addr)
	// Only a bare address is accepted: no display name, no angle brackets,
	// no quoted local part.
	if err != nil || a.Name != "" || a.Address != addr || strings.ContainsAny(addr, "<>\" ") {
		return Email{}, invalid
	}
	return Email{addr: addr}, nil
}

// visibleInEmail reports whether r may appear in an email address: a
// character that is assigned and shows as itself. Refused are controls
// (Cc), format characters (Cf: zero-width space and joiners, bidi marks,
// embeddings, overrides and isolates, the BOM, tags), every space and
// white-space character, the other default-ignorable code points (variation
// selectors, fillers, the combining grapheme joiner), private-use (Co) and
// unassigned code points, whose normalisation a later Unicode version may
// define differently.
func visibleInEmail(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return r > ' ' && r != 0x7f
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Z, unicode.White_Space,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
		return false
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// MustParseEmail is ParseEmail for tests and constants; it panics on error.
func MustParseEmail(s string) Email {
	e, err := ParseEmail(s)
	if err != nil {
		panic(err)
	}
	return e
}

// RehydrateEmail rebuilds a stored email without validating it again; it is
// meant for repository adapters. A stored address was normalised when it
// was written; one written under older, laxer rules must still load (an
// account must not become unreadable because the rules grew stricter).
// cmd/migrate's check-emails and normalize-emails report and rewrite such
// rows.
func RehydrateEmail(stored string) Email { return Email{addr: stored} }

// String returns the normalised address.
func (e Email) String() string { return e.addr }

// IsZero reports whether e is the zero value.
func (e Email) IsZero() bool { return e.addr == "" }
