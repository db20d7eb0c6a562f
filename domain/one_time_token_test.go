package domain_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/domain"
)

var tokenNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// seeded is a deterministic source of "random" bytes.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// storedUser is a stored, active user with id and email.
func storedUser(id domain.UserID, email string) *domain.User {
	return domain.RehydrateUser(domain.UserRecord{
		ID: id, Email: domain.MustParseEmail(email), PasswordHash: "old-hash", Role: domain.RoleUser, Active: true, CreatedAt: tokenNow,
	})
}

// issued returns the one token u's change issued, consumed at at.
func issued(t *testing.T, u *domain.User, at time.Time) domain.OneTimeToken {
	t.Helper()
	ts := u.IssuedTokens()
	if len(ts) != 1 {
		t.Fatalf("the change issued %d tokens, want 1", len(ts))
	}
	tok, err := ts[0].Consume(at)
	if err != nil {
		t.Fatalf("consume a fresh token: %v", err)
	}
	return tok
}

func TestTokenPurposes(t *testing.T) {
	t.Parallel()
	for p, want := range map[domain.TokenPurpose]time.Duration{
		domain.PurposePasswordReset:     30 * time.Minute,
		domain.PurposeEmailVerification: 24 * time.Hour,
		domain.PurposeEmailChange:       time.Hour,
	} {
		if got := p.Lifetime(); got != want {
			t.Errorf("%s lifetime = %s, want %s", p, got, want)
		}
		if got, err := domain.ParseTokenPurpose(string(p)); err != nil || got != p {
			t.Errorf("ParseTokenPurpose(%q) = %q, %v", p, got, err)
		}
	}
	if _, err := domain.ParseTokenPurpose("refresh"); err == nil {
		t.Error("ParseTokenPurpose accepted an unknown purpose")
	}
	if len(domain.TokenPurposes()) != 3 {
		t.Errorf("TokenPurposes() = %v", domain.TokenPurposes())
	}
}

func TestIssueTokenStoresOnlyTheDigestAndRevokesThePurpose(t *testing.T) {
	t.Parallel()
	u := storedUser(7, "ada@example.com")
	secret, err := u.IssueToken(domain.PurposePasswordReset, seeded(1), tokenNow)
	if err != nil {
		t.Fatal(err)
	}
	if !domain.LooksLikeOneTimeToken(secret) || len(secret) != 43 {
		t.Fatalf("secret %q does not look like 32 base64url bytes", secret)
	}
	ts := u.IssuedTokens()
	if len(ts) != 1 {
		t.Fatalf("issued %d tokens", len(ts))
	}
	tok := ts[0]
	if tok.Hash() != domain.HashOneTimeToken(secret) || tok.Purpose() != domain.PurposePasswordReset ||
		tok.UserID() != 7 || tok.Email() != u.Email() || !tok.ExpiresAt().Equal(tokenNow.Add(30*time.Minute)) ||
		!tok.UsedAt().IsZero() || tok.SessionID() != uuid.Nil {
		t.Errorf("issued token %+v", tok.Record())
	}
	if ps, at := u.RevokesTokens(); len(ps) != 1 || ps[0] != domain.PurposePasswordReset || !at.Equal(tokenNow) {
		t.Errorf("RevokesTokens() = %v at %s, want the reset purpose now", ps, at)
	}
	if _, err := u.IssueToken(domain.PurposeEmailChange, seeded(2), tokenNow); err == nil {
		t.Error("IssueToken issued an email change token, which needs the new address")
	}
	// Two draws from different streams differ.
	v := storedUser(7, "ada@example.com")
	other, _ := v.IssueToken(domain.PurposePasswordReset, seeded(3), tokenNow)
	if other == secret {
		t.Error("two tokens drawn from different randomness are equal")
	}
}

func TestConsumeAtTheEdges(t *testing.T) {
	t.Parallel()
	u := storedUser(1, "a@example.com")
	if _, err := u.IssueToken(domain.PurposeEmailVerification, seeded(1), tokenNow); err != nil {
		t.Fatal(err)
	}
	tok := u.IssuedTokens()[0]
	end := tokenNow.Add(24 * time.Hour)
	if !tok.Usable(end.Add(-time.Microsecond)) || tok.Usable(end) {
		t.Errorf("usable just before the expiry: %v, at it: %v; want true, false", tok.Usable(end.Add(-time.Microsecond)), tok.Usable(end))
	}
	if _, err := tok.Consume(end); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("consume at the expiry: %v", err)
	}
	used, err := tok.Consume(end.Add(-time.Microsecond))
	if err != nil || !used.UsedAt().Equal(end.Add(-time.Microsecond)) {
		t.Fatalf("consume before the expiry: %v, used at %s", err, used.UsedAt())
	}
	if _, err := used.Consume(end.Add(-time.Microsecond)); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("second use: %v, want ErrInvalidOneTimeToken", err)
	}
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	resetToken := func(t *testing.T, u *domain.User) domain.OneTimeToken {
		t.Helper()
		issuer := domain.RehydrateUser(u.Record())
		if _, err := issuer.IssueToken(domain.PurposePasswordReset, seeded(9), tokenNow); err != nil {
			t.Fatal(err)
		}
		return issued(t, issuer, tokenNow.Add(time.Minute))
	}
	t.Run("ends every session, verifies the address, revokes the other reset tokens", func(t *testing.T) {
		t.Parallel()
		u := storedUser(3, "b@example.com")
		tok := resetToken(t, u)
		epoch := u.SessionEpoch()
		if err := u.ResetPassword(tok, "new-hash", tokenNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		end, ok := u.EndsSessions()
		if u.PasswordHash() != "new-hash" || !ok || end.Except != uuid.Nil || u.SessionEpoch() != epoch+1 {
			t.Errorf("hash %q, ends sessions %v (%+v), epoch %d", u.PasswordHash(), ok, end, u.SessionEpoch())
		}
		if !u.EmailVerified() || !u.EmailVerifiedAt().Equal(tokenNow.Add(time.Minute)) {
			t.Errorf("verified %v at %s", u.EmailVerified(), u.EmailVerifiedAt())
		}
		if ps, _ := u.RevokesTokens(); len(ps) != 1 || ps[0] != domain.PurposePasswordReset {
			t.Errorf("revokes %v", ps)
		}
	})
	for _, c := range []struct {
		name string
		user func() *domain.User
		tok  func(t *testing.T) domain.OneTimeToken
	}{
		{"a token of another purpose", func() *domain.User { return storedUser(3, "b@example.com") }, func(t *testing.T) domain.OneTimeToken {
			u := storedUser(3, "b@example.com")
			_, _ = u.IssueToken(domain.PurposeEmailVerification, seeded(1), tokenNow)
			return issued(t, u, tokenNow)
		}},
		{"another user's token", func() *domain.User { return storedUser(3, "b@example.com") }, func(t *testing.T) domain.OneTimeToken {
			return resetToken(t, storedUser(4, "b@example.com"))
		}},
		{"an address the user no longer has", func() *domain.User { return storedUser(3, "new@example.com") }, func(t *testing.T) domain.OneTimeToken {
			return resetToken(t, storedUser(3, "b@example.com"))
		}},
		{"a disabled user", func() *domain.User {
			u := storedUser(3, "b@example.com")
			off := false
			u.Apply(domain.UserChange{Active: &off}, tokenNow)
			return domain.RehydrateUser(u.Record())
		}, func(t *testing.T) domain.OneTimeToken { return resetToken(t, storedUser(3, "b@example.com")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := c.user()
			if err := u.ResetPassword(c.tok(t), "new-hash", tokenNow); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
				t.Fatalf("ResetPassword: %v, want ErrInvalidOneTimeToken", err)
			}
			if _, ends := u.EndsSessions(); ends || u.PasswordHash() != "old-hash" {
				t.Error("a refused reset changed the user")
			}
		})
	}
}

func TestVerifyEmail(t *testing.T) {
	t.Parallel()
	u := storedUser(5, "c@example.com")
	if u.EmailVerified() || !errors.Is(u.CheckEmailVerified(), domain.ErrEmailNotVerified) {
		t.Fatal("a new user counts as verified")
	}
	issuer := storedUser(5, "c@example.com")
	_, _ = issuer.IssueToken(domain.PurposeEmailVerification, seeded(1), tokenNow)
	tok := issued(t, issuer, tokenNow)
	reset := storedUser(5, "c@example.com")
	_, _ = reset.IssueToken(domain.PurposePasswordReset, seeded(2), tokenNow)
	if err := u.VerifyEmail(issued(t, reset, tokenNow), tokenNow); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("verify with a reset token: %v", err)
	}
	if err := u.VerifyEmail(tok, tokenNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u.CheckEmailVerified() != nil || !u.EmailVerifiedAt().Equal(tokenNow.Add(time.Hour)) {
		t.Errorf("not verified after VerifyEmail")
	}
	if _, ends := u.EndsSessions(); ends {
		t.Error("verifying an address ended sessions")
	}
	// A second verification keeps the first time.
	again := domain.RehydrateUser(u.Record())
	if err := again.VerifyEmail(tok, tokenNow.Add(2*time.Hour)); err != nil || !again.EmailVerifiedAt().Equal(tokenNow.Add(time.Hour)) {
		t.Errorf("second verification: %v, verified at %s", err, again.EmailVerifiedAt())
	}
}

func TestEmailChange(t *testing.T) {
	t.Parallel()
	sid := uuid.MustParse("6c0f2a8e-8f4e-4b54-9d43-0d1f3c36c1a1")
	u := storedUser(6, "old@example.com")
	if _, err := u.RequestEmailChange(u.Email(), sid, seeded(1), tokenNow); err == nil {
		t.Error("a change to the current address was accepted")
	}
	next := domain.MustParseEmail("new@example.com")
	secret, err := u.RequestEmailChange(next, sid, seeded(1), tokenNow)
	if err != nil {
		t.Fatal(err)
	}
	tok := issued(t, u, tokenNow.Add(time.Minute))
	if tok.Email() != next || tok.SessionID() != sid || tok.Hash() != domain.HashOneTimeToken(secret) ||
		!tok.ExpiresAt().Equal(tokenNow.Add(time.Hour)) {
		t.Errorf("change token %+v", tok.Record())
	}

	w := storedUser(6, "old@example.com")
	if err := w.ChangeEmail(tok, tokenNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	end, ok := w.EndsSessions()
	if w.Email() != next || !w.EmailVerified() || !ok || end.Except != sid {
		t.Errorf("after the change: %s verified=%v ends=%v %+v", w.Email(), w.EmailVerified(), ok, end)
	}
	if ps, _ := w.RevokesTokens(); len(ps) != 3 {
		t.Errorf("a change revokes %v, want every purpose", ps)
	}
	// The token is void once the address is the user's, and for another user.
	if err := domain.RehydrateUser(w.Record()).ChangeEmail(tok, tokenNow); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("change to the address the user has: %v", err)
	}
	if err := storedUser(8, "old@example.com").ChangeEmail(tok, tokenNow); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("another user's change token: %v", err)
	}
	reset := storedUser(6, "old@example.com")
	_, _ = reset.IssueToken(domain.PurposePasswordReset, seeded(2), tokenNow)
	if err := storedUser(6, "old@example.com").ChangeEmail(issued(t, reset, tokenNow), tokenNow); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("change with a reset token: %v", err)
	}
}
