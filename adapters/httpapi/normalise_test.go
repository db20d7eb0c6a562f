package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"authd/domain"
)

// TestLookAlikeEmailsAreRefused: an address that looks exactly like
// another one cannot be registered, and the spellings of one address are
// one account.
func TestLookAlikeEmailsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := f.register(t, "root@example.org", strongPassword)
	for _, lookAlike := range []string{
		"root\u200b@example.org",        // zero-width space
		"ro\u200dot@example.org",        // zero-width joiner
		"root\u00ad@example.org",        // soft hyphen
		"\u202eroot@example.org",        // right-to-left override
		"root@exam\u2060ple.org",        // word joiner in the domain
		"root\ufe0f@example.org",        // variation selector
		"root\u3164@example.org",        // Hangul filler
		"root\u0000@example.org",        // NUL
		"root\u00a0x@example.org",       // no-break space inside
		"root\U000e0020@example.org",    // tag space
		"root\U000f0000@example.org",    // private use
		"root\u0378@example.org",        // unassigned
		"root@example.org\u200b",        // zero-width space at the end, not trimmed
		"root@xn--exmple-cua.org\u200b", // and with an A-label
	} {
		p := f.do(t, "POST", "/v1/auth/register", credentials(lookAlike, strongPassword), "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) == 0 || p.Errors[0].Field != "email" {
			t.Errorf("register %+q: errors %+v, want one about email", lookAlike, p.Errors)
		}
	}
	if root.Email != "root@example.org" {
		t.Errorf("registered email = %q", root.Email)
	}

	zoe := f.register(t, "Zoë@Bücher.example", strongPassword)
	if zoe.Email != "zoë@xn--bcher-kva.example" {
		t.Errorf("stored email = %+q, want NFC, lower case and the domain's A-label", zoe.Email)
	}
	for _, spelling := range []string{
		norm.NFD.String("Zoë@Bücher.example"),
		"zoë@xn--bcher-kva.example",
		norm.NFD.String("ZOË@BÜCHER.EXAMPLE"),
	} {
		f.do(t, "POST", "/v1/auth/register", credentials(spelling, strongPassword), "").problem(t, http.StatusConflict, "email_taken")
		tp := f.login(t, spelling, strongPassword)
		me := decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", tp.AccessToken), http.StatusOK)
		if me.ID != zoe.ID {
			t.Errorf("logging in as %+q gave user %d, want %d", spelling, me.ID, zoe.ID)
		}
	}
}

// TestPasswordSpellingsAreOnePassword: a password registered in one
// Unicode spelling logs in with the other, and a hash made before
// passwords were normalised still logs in and is then replaced.
func TestPasswordSpellingsAreOnePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	nfc := "crème brûlée à la carte 42"
	nfd := norm.NFD.String(nfc)
	f.register(t, "cook@example.com", nfc)
	f.login(t, "cook@example.com", nfd)

	// A hash of the decomposed bytes as typed, as made before the rule.
	u := f.register(t, "legacy@example.com", strongPassword)
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(nfd), salt, cheapParams.Time, cheapParams.Memory, cheapParams.Threads, cheapParams.KeyLen)
	legacy := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", cheapParams.Memory, cheapParams.Time, cheapParams.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if _, err := f.store.Users().Update(context.Background(), domain.UserID(u.ID), func(u *domain.User) error {
		u.UpgradePasswordHash(legacy)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The composed spelling did not make that hash, so it cannot match yet.
	f.do(t, "POST", "/v1/auth/login", credentials("legacy@example.com", nfc), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
	f.login(t, "legacy@example.com", nfd)
	stored, err := f.store.Users().ByID(context.Background(), domain.UserID(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	if stored.PasswordHash() == legacy {
		t.Fatal("the legacy hash was not replaced after a successful login")
	}
	// Rehashed in NFC: both spellings now log in.
	f.login(t, "legacy@example.com", nfc)
	f.login(t, "legacy@example.com", nfd)
}
