package porttest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// issue stores, through an update of user id at now, a new token of
// purpose p for the user's address, and returns its secret.
func issue(t *testing.T, users ports.UserRepository, id domain.UserID, p domain.TokenPurpose, now time.Time) string {
	t.Helper()
	var secret string
	if _, err := users.Update(context.Background(), id, func(u *domain.User) error {
		var err error
		secret, err = u.IssueToken(p, rand.Reader, now)
		return err
	}); err != nil {
		t.Fatalf("issue a %s token to %d: %v", p, id, err)
	}
	return secret
}

// usable reports whether Find accepts secret as a token of purpose p at
// now; any error other than domain.ErrInvalidOneTimeToken fails the test.
func usable(t *testing.T, tokens ports.OneTimeTokenRepository, secret string, p domain.TokenPurpose, now time.Time) bool {
	t.Helper()
	_, err := tokens.Find(context.Background(), domain.HashOneTimeToken(secret), p, now)
	if err != nil && !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Fatalf("Find: %v", err)
	}
	return err == nil
}

// verify redeems secret as a verification token at now.
func verify(tokens ports.OneTimeTokenRepository, secret string, now time.Time) error {
	_, err := tokens.Redeem(context.Background(), domain.HashOneTimeToken(secret), domain.PurposeEmailVerification, now,
		func(t domain.OneTimeToken, u *domain.User) error { return u.VerifyEmail(t, now) })
	return err
}

// OneTimeTokens runs the contract of ports.OneTimeTokenRepository, and of
// the UserRepository changes that issue and revoke tokens, against the
// repositories newRepos returns (Tokens must be set).
func OneTimeTokens(t *testing.T, newRepos func(t *testing.T) Repos) {
	t.Helper()
	ctx := context.Background()

	t.Run("a token issued with a new user is found and works once", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		nu := newUser(t, "una."+uniq(t)+"@example.com")
		secret, err := nu.IssueToken(domain.PurposeEmailVerification, rand.Reader, base)
		if err != nil {
			t.Fatal(err)
		}
		u, err := r.Users.Create(ctx, nu)
		if err != nil {
			t.Fatal(err)
		}
		hash := domain.HashOneTimeToken(secret)
		found, err := r.Tokens.Find(ctx, hash, domain.PurposeEmailVerification, base.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if found.UserID() != u.ID() || found.Email() != u.Email() || found.Hash() != hash || found.ID() == 0 ||
			found.SessionID() != uuid.Nil || !found.UsedAt().IsZero() {
			t.Errorf("found %+v", found.Record())
		}
		sameTime(t, "expires at", found.ExpiresAt(), base.Add(24*time.Hour))
		sameTime(t, "created at", found.CreatedAt(), base)
		if usable(t, r.Tokens, secret, domain.PurposePasswordReset, base) {
			t.Error("a verification token was found as a reset token")
		}
		at := base.Add(time.Hour)
		var seen domain.OneTimeToken
		got, err := r.Tokens.Redeem(ctx, hash, domain.PurposeEmailVerification, at, func(tok domain.OneTimeToken, u *domain.User) error {
			seen = tok
			return u.VerifyEmail(tok, at)
		})
		if err != nil {
			t.Fatal(err)
		}
		sameTime(t, "the consumed token's used at", seen.UsedAt(), at)
		if seen.ID() != found.ID() || seen.Email() != u.Email() {
			t.Errorf("fn saw %+v", seen.Record())
		}
		if !got.EmailVerified() || !mustReload(t, r.Users, u.ID()).EmailVerified() {
			t.Error("the redemption's change was not stored")
		}
		sameTime(t, "verified at", mustReload(t, r.Users, u.ID()).EmailVerifiedAt(), at)
		if usable(t, r.Tokens, secret, domain.PurposeEmailVerification, at) {
			t.Error("a used token is still found")
		}
		if err := verify(r.Tokens, secret, at); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
			t.Errorf("second use: %v, want ErrInvalidOneTimeToken", err)
		}
	})

	t.Run("unknown tokens and tokens of another purpose are refused", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "vic")
		secret := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
		for _, c := range []struct {
			hash domain.TokenHash
			p    domain.TokenPurpose
		}{
			{domain.HashOneTimeToken("unknown"), domain.PurposePasswordReset},
			{domain.HashOneTimeToken(secret), domain.PurposeEmailVerification},
			{domain.HashOneTimeToken(secret), domain.PurposeEmailChange},
		} {
			called := false
			_, err := r.Tokens.Redeem(ctx, c.hash, c.p, base, func(domain.OneTimeToken, *domain.User) error { called = true; return nil })
			if !errors.Is(err, domain.ErrInvalidOneTimeToken) || called {
				t.Errorf("Redeem as %s: %v (fn called: %v), want ErrInvalidOneTimeToken", c.p, err, called)
			}
		}
		if !usable(t, r.Tokens, secret, domain.PurposePasswordReset, base) {
			t.Error("refused redemptions spent the token")
		}
	})

	t.Run("expiry is exact", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "wil")
		secret := issue(t, r.Users, u.ID(), domain.PurposeEmailVerification, base)
		end := base.Add(24 * time.Hour)
		if !usable(t, r.Tokens, secret, domain.PurposeEmailVerification, end.Add(-time.Microsecond)) ||
			usable(t, r.Tokens, secret, domain.PurposeEmailVerification, end) {
			t.Error("Find does not stop at the expiry exactly")
		}
		if err := verify(r.Tokens, secret, end); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
			t.Errorf("redeem at the expiry: %v", err)
		}
		if err := verify(r.Tokens, secret, end.Add(-time.Microsecond)); err != nil {
			t.Errorf("redeem just before the expiry: %v", err)
		}
	})

	t.Run("a new token revokes the unused ones of its purpose only", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "xia")
		first := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
		verification := issue(t, r.Users, u.ID(), domain.PurposeEmailVerification, base)
		other := mustCreate(t, r.Users, "yan")
		othersReset := issue(t, r.Users, other.ID(), domain.PurposePasswordReset, base)
		second := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base.Add(time.Minute))
		at := base.Add(2 * time.Minute)
		for _, c := range []struct {
			name, secret string
			p            domain.TokenPurpose
			want         bool
		}{
			{"the first reset token", first, domain.PurposePasswordReset, false},
			{"the second reset token", second, domain.PurposePasswordReset, true},
			{"the verification token", verification, domain.PurposeEmailVerification, true},
			{"another user's reset token", othersReset, domain.PurposePasswordReset, true},
		} {
			if got := usable(t, r.Tokens, c.secret, c.p, at); got != c.want {
				t.Errorf("%s: usable %v, want %v", c.name, got, c.want)
			}
		}
	})

	t.Run("a failing change stores nothing and leaves the token usable", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "zoe")
		fam, _ := mustFamily(t, r.Families, u, base)
		secret := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
		boom := errors.New("boom")
		_, err := r.Tokens.Redeem(ctx, domain.HashOneTimeToken(secret), domain.PurposePasswordReset, base, func(tok domain.OneTimeToken, u *domain.User) error {
			if err := u.ResetPassword(tok, phc+"new", base); err != nil {
				return err
			}
			u.Audit(domain.AuthEvent{Type: domain.EventPasswordReset, UserID: u.ID(), At: base})
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Redeem: %v, want fn's error", err)
		}
		if got := mustReload(t, r.Users, u.ID()); got.PasswordHash() != phc || got.EmailVerified() {
			t.Error("a failed redemption changed the user")
		}
		checkFamilies(t, mustListLive(t, r.Families, u.ID(), base), fam)
		if len(mustEvents(t, r.Audit)) != 0 {
			t.Error("a failed redemption stored events")
		}
		if !usable(t, r.Tokens, secret, domain.PurposePasswordReset, base) {
			t.Fatal("a failed redemption used the token")
		}
		// The domain's own refusal stores nothing either.
		_, err = r.Tokens.Redeem(ctx, domain.HashOneTimeToken(secret), domain.PurposePasswordReset, base, func(tok domain.OneTimeToken, u *domain.User) error {
			return u.VerifyEmail(tok, base)
		})
		if !errors.Is(err, domain.ErrInvalidOneTimeToken) || !usable(t, r.Tokens, secret, domain.PurposePasswordReset, base) {
			t.Errorf("a reset token redeemed as a verification: %v", err)
		}
	})

	t.Run("a reset carries out every decision in its transaction", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "ari")
		mustFamily(t, r.Families, u, base)
		mustFamily(t, r.Families, u, base)
		older := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
		secret := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
		at := base.Add(time.Minute)
		got, err := r.Tokens.Redeem(ctx, domain.HashOneTimeToken(secret), domain.PurposePasswordReset, at, func(tok domain.OneTimeToken, u *domain.User) error {
			if err := u.ResetPassword(tok, phc+"new", at); err != nil {
				return err
			}
			u.Audit(domain.AuthEvent{Type: domain.EventPasswordReset, UserID: u.ID(), At: at})
			u.Send(outgoing(domain.MailToUser(0), "reset", at))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		stored := mustReload(t, r.Users, u.ID())
		if stored.PasswordHash() != phc+"new" || !stored.EmailVerified() || stored.SessionEpoch() != got.SessionEpoch() {
			t.Errorf("stored user after the reset: hash %q verified %v epoch %d", stored.PasswordHash(), stored.EmailVerified(), stored.SessionEpoch())
		}
		if live := mustListLive(t, r.Families, u.ID(), at); len(live) != 0 {
			t.Errorf("%d sessions live after a reset", len(live))
		}
		if es := mustEvents(t, r.Audit); len(es) != 1 || es[0].Type != domain.EventPasswordReset {
			t.Errorf("events %+v", es)
		}
		if mails := mustClaim(t, r.Outbox, at, time.Minute, 10); len(mails) != 1 || mails[0].To != u.Email().String() {
			t.Errorf("mails %+v", mails)
		}
		for _, s := range []string{older, secret} {
			if usable(t, r.Tokens, s, domain.PurposePasswordReset, at) {
				t.Error("a reset token works after the reset")
			}
		}
	})

	t.Run("an email change moves the address unless it is taken", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "bo")
		taken := mustCreate(t, r.Users, "cy")
		kept, _ := mustFamily(t, r.Families, u, base)
		mustFamily(t, r.Families, u, base)
		reset := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
		change := func(to domain.Email) string {
			t.Helper()
			var secret string
			if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
				var err error
				secret, err = u.RequestEmailChange(to, kept, rand.Reader, base)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return secret
		}
		redeem := func(secret string) (*domain.User, error) {
			return r.Tokens.Redeem(ctx, domain.HashOneTimeToken(secret), domain.PurposeEmailChange, base.Add(time.Minute),
				func(tok domain.OneTimeToken, u *domain.User) error { return u.ChangeEmail(tok, base.Add(time.Minute)) })
		}
		toTaken := change(taken.Email())
		if _, err := redeem(toTaken); !errors.Is(err, domain.ErrEmailTaken) {
			t.Fatalf("change to a taken address: %v, want ErrEmailTaken", err)
		}
		if got := mustReload(t, r.Users, u.ID()); got.Email() != u.Email() {
			t.Fatalf("the refused change moved the user to %s", got.Email())
		}
		if !usable(t, r.Tokens, toTaken, domain.PurposeEmailChange, base) {
			t.Error("the refused change used its token")
		}
		next := domain.MustParseEmail("bo.next." + uniq(t) + "@example.com")
		secret := change(next)
		if usable(t, r.Tokens, toTaken, domain.PurposeEmailChange, base) {
			t.Error("a new change token left the previous one usable")
		}
		moved, err := redeem(secret)
		if err != nil {
			t.Fatal(err)
		}
		if moved.Email() != next || !moved.EmailVerified() {
			t.Errorf("after the change: %s verified %v", moved.Email(), moved.EmailVerified())
		}
		if byNew, err := r.Users.ByEmail(ctx, next); err != nil || byNew.ID() != u.ID() {
			t.Errorf("ByEmail(new) = %v, %v", byNew, err)
		}
		if _, err := r.Users.ByEmail(ctx, u.Email()); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("ByEmail(old) after the change: %v, want ErrUserNotFound", err)
		}
		checkFamilies(t, mustListLive(t, r.Families, u.ID(), base.Add(time.Minute)), kept)
		if usable(t, r.Tokens, reset, domain.PurposePasswordReset, base.Add(time.Minute)) {
			t.Error("a reset token of the old address works after the change")
		}
		// The old address is free again.
		mustCreateEmail(t, r.Users, u.Email().String())
	})

	t.Run("concurrent redemptions of one token: exactly one wins", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "dee")
		for round := range 3 {
			secret := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
			const n = 8
			var wins, refused atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range n {
				wg.Go(func() {
					<-start
					_, err := r.Tokens.Redeem(ctx, domain.HashOneTimeToken(secret), domain.PurposePasswordReset, base,
						func(tok domain.OneTimeToken, u *domain.User) error { return u.ResetPassword(tok, phc+"r", base) })
					switch {
					case err == nil:
						wins.Add(1)
					case errors.Is(err, domain.ErrInvalidOneTimeToken):
						refused.Add(1)
					default:
						t.Errorf("Redeem: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 || refused.Load() != n-1 {
				t.Fatalf("round %d: %d redemptions won and %d were refused, want 1 and %d", round, wins.Load(), refused.Load(), n-1)
			}
		}
	})

	t.Run("a redemption racing a revocation neither deadlocks nor wins late", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "eve")
		for round := range 5 {
			secret := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)
			var wg sync.WaitGroup
			var redeemErr error
			var newer string
			start := make(chan struct{})
			wg.Go(func() {
				<-start
				redeemErr = verifyReset(r.Tokens, secret)
			})
			wg.Go(func() {
				<-start
				newer = issueNoFatal(r.Users, u.ID())
			})
			close(start)
			wg.Wait()
			if redeemErr != nil && !errors.Is(redeemErr, domain.ErrInvalidOneTimeToken) {
				t.Fatalf("round %d: Redeem: %v", round, redeemErr)
			}
			if newer == "" {
				t.Fatalf("round %d: issuing the newer token failed", round)
			}
			if usable(t, r.Tokens, secret, domain.PurposePasswordReset, base) {
				t.Fatalf("round %d: the older token is usable after both", round)
			}
		}
	})

	t.Run("prune deletes used, revoked and expired tokens in batches", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "fay")
		issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base)                          // revoked at +1m
		used := issue(t, r.Users, u.ID(), domain.PurposePasswordReset, base.Add(time.Minute)) // used at +2m
		if _, err := r.Tokens.Redeem(ctx, domain.HashOneTimeToken(used), domain.PurposePasswordReset, base.Add(2*time.Minute),
			func(tok domain.OneTimeToken, u *domain.User) error {
				return u.ResetPassword(tok, phc+"p", base.Add(2*time.Minute))
			}); err != nil {
			t.Fatal(err)
		}
		issue(t, r.Users, u.ID(), domain.PurposeEmailVerification, base) // revoked at +2h by the next
		live := issue(t, r.Users, u.ID(), domain.PurposeEmailVerification, base.Add(2*time.Hour))
		if n, err := r.Tokens.Prune(ctx, base, 10); err != nil || n != 0 {
			t.Fatalf("Prune before anything ended: %d, %v", n, err)
		}
		// By +3h the first reset token (revoked at +1m), the used one
		// (+2m) and the first verification token (revoked at +2h) have
		// ended; the live one expires at +26h.
		before := base.Add(3 * time.Hour)
		if n, err := r.Tokens.Prune(ctx, before, 2); err != nil || n != 2 {
			t.Fatalf("first batch: %d, %v; want 2", n, err)
		}
		if n, err := r.Tokens.Prune(ctx, before, 2); err != nil || n != 1 {
			t.Fatalf("second batch: %d, %v; want 1", n, err)
		}
		if n, err := r.Tokens.Prune(ctx, before, 2); err != nil || n != 0 {
			t.Fatalf("third batch: %d, %v; want 0", n, err)
		}
		if !usable(t, r.Tokens, live, domain.PurposeEmailVerification, before) {
			t.Error("pruning deleted a live token")
		}
		if n, err := r.Tokens.Prune(ctx, base.Add(26*time.Hour), 10); err != nil || n != 1 {
			t.Errorf("prune after the last expiry: %d, %v; want 1", n, err)
		}
	})
}

// verifyReset redeems secret as a reset token, as a user would.
func verifyReset(tokens ports.OneTimeTokenRepository, secret string) error {
	_, err := tokens.Redeem(context.Background(), domain.HashOneTimeToken(secret), domain.PurposePasswordReset, base,
		func(tok domain.OneTimeToken, u *domain.User) error { return u.ResetPassword(tok, phc+"v", base) })
	return err
}

// issueNoFatal is issue for goroutines other than the test's: it returns
// "" on failure.
func issueNoFatal(users ports.UserRepository, id domain.UserID) string {
	var secret string
	if _, err := users.Update(context.Background(), id, func(u *domain.User) error {
		var err error
		secret, err = u.IssueToken(domain.PurposePasswordReset, rand.Reader, base)
		return err
	}); err != nil {
		return ""
	}
	return secret
}
