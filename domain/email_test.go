package domain_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"authd/domain"
)

// TestParseEmailNormalises: the spellings of one address are one Email.
func TestParseEmailNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"ASCII, trimmed and lower-cased", "  Alice@Example.COM ", "alice@example.com"},
		{"surrounding Unicode white space is trimmed (NBSP, ideographic space)", "\u00a0alice@example.com\u3000", "alice@example.com"},
		{"Ll/Lu: non-ASCII letters are lower-cased", "ÄNNE@example.com", "änne@example.com"},
		{"NFC local part stays", "j\u00f6rg@example.com", "jörg@example.com"},
		{"NFD local part (Mn combining mark) becomes NFC", "jo\u0308rg@example.com", "jörg@example.com"},
		{"NFD upper case becomes NFC lower case", "JO\u0308RG@example.com", "jörg@example.com"},
		{"Hangul jamo (NFD) compose", "\u1100\u1161@example.com", "가@example.com"},
		{"IDN domain becomes its A-label", "a@bücher.example", "a@xn--bcher-kva.example"},
		{"NFD IDN domain gives the same A-label", "a@bu\u0308cher.example", "a@xn--bcher-kva.example"},
		{"upper-case IDN domain", "a@BÜCHER.EXAMPLE", "a@xn--bcher-kva.example"},
		{"A-label given as is", "a@xn--bcher-kva.example", "a@xn--bcher-kva.example"},
		{"upper-case A-label", "a@XN--BCHER-KVA.example", "a@xn--bcher-kva.example"},
		{"Lo: CJK local part and domain", "用户@例子.example", "用户@xn--fsqu00a.example"},
		{"nontransitional: ß is kept (IDNA2008)", "a@faß.de", "a@xn--fa-hia.de"},
		{"fullwidth domain letters map to ASCII (UTS #46)", "a@ｅｘａｍｐｌｅ.org", "a@example.org"},
		{"Nd: digits", "user42@example.com", "user42@example.com"},
		{"Pd/Pc: hyphen, dot, plus, underscore in the local part", "a.b-c_d+tag@sub.example.org", "a.b-c_d+tag@sub.example.org"},
		{"So: a symbol in the local part", "✓@example.com", "✓@example.com"},
		{"single-label domain", "root@localhost", "root@localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := domain.ParseEmail(tt.in)
			if err != nil {
				t.Fatalf("ParseEmail(%+q): %v", tt.in, err)
			}
			if e.String() != tt.want {
				t.Fatalf("ParseEmail(%+q) = %+q, want %+q", tt.in, e, tt.want)
			}
			if again := domain.MustParseEmail(e.String()); again != e {
				t.Errorf("not idempotent: %+q then %+q", e, again)
			}
		})
	}
}

// TestParseEmailRefusesInvisibleCharacters: a character that renders as
// nothing, or not as itself, would let a second account look exactly like
// an existing one, so it is refused, never silently dropped.
func TestParseEmailRefusesInvisibleCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		category string
		r        rune
	}{
		{"Cc NUL", 0x00},
		{"Cc BEL", 0x07},
		{"Cc TAB (white space)", '\t'},
		{"Cc LF", '\n'},
		{"Cc CR", '\r'},
		{"Cc DEL", 0x7f},
		{"Cc NEL (C1)", 0x85},
		{"Cc C1 APC", 0x9f},
		{"Cf soft hyphen", 0xad},
		{"Cf Arabic letter mark", 0x61c},
		{"Cf Mongolian vowel separator", 0x180e},
		{"Cf zero-width space", 0x200b},
		{"Cf zero-width non-joiner", 0x200c},
		{"Cf zero-width joiner", 0x200d},
		{"Cf left-to-right mark", 0x200e},
		{"Cf right-to-left mark", 0x200f},
		{"Cf left-to-right embedding", 0x202a},
		{"Cf right-to-left override", 0x202e},
		{"Cf word joiner", 0x2060},
		{"Cf invisible times", 0x2062},
		{"Cf left-to-right isolate", 0x2066},
		{"Cf pop directional isolate", 0x2069},
		{"Cf byte order mark", 0xfeff},
		{"Cf interlinear annotation", 0xfff9},
		{"Cf language tag", 0xe0001},
		{"Cf tag latin small a", 0xe0061},
		{"Zs space", ' '},
		{"Zs no-break space", 0xa0},
		{"Zs ogham space mark", 0x1680},
		{"Zs en quad", 0x2000},
		{"Zs hair space", 0x200a},
		{"Zs narrow no-break space", 0x202f},
		{"Zs medium mathematical space", 0x205f},
		{"Zs ideographic space", 0x3000},
		{"Zl line separator", 0x2028},
		{"Zp paragraph separator", 0x2029},
		{"Mn variation selector 16", 0xfe0f},
		{"Mn variation selector 256", 0xe01ef},
		{"Mn Mongolian free variation selector", 0x180b},
		{"Mn combining grapheme joiner (default ignorable)", 0x34f},
		{"Lo Hangul choseong filler (default ignorable)", 0x115f},
		{"Lo Hangul filler (default ignorable)", 0x3164},
		{"Lo halfwidth Hangul filler (default ignorable)", 0xffa0},
		{"Co private use", 0xe000},
		{"Co private use (Apple logo)", 0xf8ff},
		{"Co supplementary private use", 0xf0000},
		{"Cn unassigned", 0x378},
		{"Cn noncharacter U+FDD0", 0xfdd0},
		{"Cn noncharacter U+FFFF", 0xffff},
		{"Cn noncharacter U+10FFFF", 0x10ffff},
	}
	for _, tt := range tests {
		for _, pos := range []string{"local", "domain"} {
			in := "root" + string(tt.r) + "@example.org"
			if pos == "domain" {
				in = "root@exam" + string(tt.r) + "ple.org"
			}
			t.Run(tt.category+" in the "+pos, func(t *testing.T) {
				t.Parallel()
				e, err := domain.ParseEmail(in)
				var verr *domain.ValidationError
				if err == nil || !errors.As(err, &verr) || verr.Fields[0].Field != "email" {
					t.Fatalf("ParseEmail(%+q) = %+q, %v; want a validation error on email", in, e, err)
				}
			})
		}
	}
}

func TestParseEmailRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "   ", "no-at-sign", "Alice <alice@example.com>", "alice@", "@example.com",
		"alice@example.com.", "alice@.example.com", "alice@exa..mple.com", "a b@example.com", `"a b"@example.com`,
		"\xff@example.com", "a@\xff.com",
		strings.Repeat("a", 65) + "@x.io", // local part over 64 bytes
		strings.Repeat("a", 61) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".io", // over 255 bytes
		strings.Repeat("ä", 33) + "@x.io", // 66 bytes of local part
		strings.Repeat("a", 1<<20),
		"a@" + strings.Repeat("b", 64) + ".io", // a label over 63 bytes
		"a@-example.com", "a@example-.com",     // hyphens at a label's ends
		"a@ab--cd.example",       // hyphens in positions 3 and 4 without xn--
		"a@xn--zz.example",       // not Punycode
		"a@exa_mple.com",         // not a hostname (RFC 5321)
		"a@[192.0.2.1]",          // address literals are not accepted
		"a@ex!ample.com",         // not a hostname
		"a@\u05d0\u0041.example", // bidi rule: Hebrew and Latin in one label
		"a@\u0301example.com",    // a label starting with a combining mark
		"a＠example.com",          // fullwidth at sign is not "@"
		"a@example.com\u200b",    // trailing zero-width space is not trimmed
		"root\u200b@example.org", // the look-alike of root@example.org
		"root@example.org\u202e", // a bidi override
		"\u202egro.elpmaxe@toor", // a bidi override before it
		"a@exa\u200dmple.com",    // a joiner outside its context
		"a@b@example.com",        // two at signs
		"a@exa mple.com",         // a space in the domain
		"a\u00a0b@example.com",   // a no-break space inside
	} {
		if e, err := domain.ParseEmail(in); err == nil {
			t.Errorf("ParseEmail(%.60q) = %q, want an error", in, e)
		}
	}
}

// TestParseEmailSpellingsAreOneAddress: NFC and NFD spellings, upper and
// lower case, U-label and A-label name one account.
func TestParseEmailSpellingsAreOneAddress(t *testing.T) {
	t.Parallel()
	spellings := []string{
		"Zoë@Bücher.Example",
		norm.NFD.String("Zoë@Bücher.Example"),
		"zoë@xn--bcher-kva.example",
		norm.NFD.String("ZOË@BÜCHER.EXAMPLE"),
		"  zoe\u0308@bu\u0308cher.example\t",
	}
	want := domain.MustParseEmail(spellings[0])
	for _, s := range spellings[1:] {
		if got, err := domain.ParseEmail(s); err != nil || got != want {
			t.Errorf("ParseEmail(%+q) = %+q, %v; want %+q", s, got, err, want)
		}
	}
}

// FuzzParseEmail checks the normal form's properties on any input: it is
// NFC, lower-case, an ASCII domain, no invisible characters, at most 255
// bytes, a fixed point of ParseEmail, and the same for the input's NFD.
func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "  Alice@Example.COM ", "jo\u0308rg@bu\u0308cher.example", "用户@例子.广告",
		"root\u200b@example.org", "a@faß.de", "a@ｅｘａｍｐｌｅ.org", "a@xn--bcher-kva.example", "\u202egro.elpmaxe@toor",
		"a@[192.0.2.1]", "\xff@x", "İ@x.org", "ǅ@x.org", "ﬁ@x.org", "Ω@x.org", "\u0958@x.org", "a@b@c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := domain.ParseEmail(in)
		if err != nil {
			var verr *domain.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != "email" {
				t.Fatalf("ParseEmail(%+q): error %v is not one validation error on email", in, err)
			}
			return
		}
		s := e.String()
		at := strings.LastIndexByte(s, '@')
		switch {
		case len(s) > domain.MaxEmailBytes || !utf8.ValidString(s):
			t.Fatalf("ParseEmail(%+q) = %+q: too long or not UTF-8", in, s)
		case !norm.NFC.IsNormalString(s):
			t.Fatalf("ParseEmail(%+q) = %+q is not NFC", in, s)
		case strings.ToLower(s) != s && norm.NFC.String(strings.ToLower(s)) != s:
			t.Fatalf("ParseEmail(%+q) = %+q is not lower-case", in, s)
		case at <= 0 || strings.Count(s, "@") != 1:
			t.Fatalf("ParseEmail(%+q) = %+q has no single @", in, s)
		}
		for _, r := range s[at+1:] {
			if r >= utf8.RuneSelf {
				t.Fatalf("ParseEmail(%+q) = %+q: the domain is not ASCII", in, s)
			}
		}
		for _, r := range s {
			if strings.ContainsRune(" \t\u00a0\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff", r) || r < 0x20 {
				t.Fatalf("ParseEmail(%+q) = %+q keeps an invisible character %U", in, s, r)
			}
		}
		if again, err := domain.ParseEmail(s); err != nil || again != e {
			t.Fatalf("ParseEmail is not idempotent on %+q: %+q, %v", s, again, err)
		}
		if d := norm.NFD.String(in); len(d) <= 3*domain.MaxEmailBytes {
			if got, err := domain.ParseEmail(d); err != nil || got != e {
				t.Fatalf("the NFD spelling of %+q parses to %+q, %v; want %+q", in, got, err, e)
			}
		}
	})
}
