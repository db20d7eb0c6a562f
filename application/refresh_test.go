package application_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "kim@example.com", goodPassword)
	first := f.mustLogin(t, "kim@example.com", goodPassword, domain.ClientInfo{})
	f.clock.Advance(time.Hour)

	second := f.mustRefresh(t, first.RefreshToken)

	if second.RefreshToken == first.RefreshToken || !domain.LooksLikeRefreshSecret(second.RefreshToken) {
		t.Errorf("rotation returned refresh token %q, want a new secret", second.RefreshToken)
	}
	if second.SessionID != first.SessionID || second.UserID != u.ID() {
		t.Errorf("rotation moved to session %s user %d, want %s %d", second.SessionID, second.UserID, first.SessionID, u.ID())
	}
	if p := f.principal(t, second); p.UserID != u.ID() || p.SessionID != first.SessionID || p.Role != domain.RoleUser {
		t.Errorf("new access token principal = %+v", p)
	}
	fs, _ := f.families.ListLive(t.Context(), u.ID(), f.clock.Now())
	if len(fs) != 1 || !fs[0].LastUsedAt().Equal(t0.Add(time.Hour)) {
		t.Errorf("after rotation: %d live families, want 1 last used at the rotation", len(fs))
	}

	client := domain.NewClientInfo("thief", "203.0.113.66")
	_, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: first.RefreshToken, Client: client})
	if !errors.Is(err, domain.ErrRefreshTokenReused) {
		t.Fatalf("replaying the rotated token: %v, want ErrRefreshTokenReused", err)
	}
	if s := f.liveSessions(t, u.ID()); len(s) != 0 {
		t.Errorf("reuse left %d live sessions, want the family ended", len(s))
	}
	if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: second.RefreshToken}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Errorf("successor after reuse: %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: first.RefreshToken}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Errorf("rotated token of the ended family: %v, want ErrInvalidRefreshToken", err)
	}

	var reused []domain.AuthEvent
	for _, e := range f.events(t, u.ID()) {
		if e.Type == domain.EventRefreshReused {
			reused = append(reused, e)
		}
	}
	if len(reused) != 1 || reused[0].SessionID != first.SessionID || reused[0].Client != client {
		t.Errorf("refresh_token_reused events = %+v, want one for session %s from the replaying client", reused, first.SessionID)
	}
}

func TestRefreshRefusesUnknownTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"garbage", "not a token"},
		{"right length, not base64url", strings.Repeat("*", 43)},
		{"well formed but unknown", strings.Repeat("A", 43)},
		{"padded", strings.Repeat("A", 43) + "="},
		{"huge", strings.Repeat("A", 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "lee@example.com", goodPassword)
			f.mustLogin(t, "lee@example.com", goodPassword, domain.ClientInfo{})

			tp, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: tt.token})

			if !errors.Is(err, domain.ErrInvalidRefreshToken) || tp != (application.TokenPair{}) {
				t.Errorf("Refresh = %+v, %v; want ErrInvalidRefreshToken", tp, err)
			}
			if len(f.liveSessions(t, u.ID())) != 1 {
				t.Error("an unknown token affected the user's session")
			}
		})
	}
}

func TestRefreshLifetimes(t *testing.T) {
	t.Parallel()
	// Every step but the last must rotate; the last gives wantLast.
	tests := []struct {
		name     string
		steps    []time.Duration // since login
		wantLast error
	}{
		{"unused for just under the sliding TTL", []time.Duration{14*day - time.Second}, nil},
		{"unused for the sliding TTL", []time.Duration{14 * day}, domain.ErrInvalidRefreshToken},
		{"rotation slides the TTL", []time.Duration{10 * day, 24*day - time.Second}, nil},
		{"the slid TTL still ends", []time.Duration{10 * day, 24 * day}, domain.ErrInvalidRefreshToken},
		{"every 13 days until day 78", []time.Duration{13 * day, 26 * day, 39 * day, 52 * day, 65 * day, 78 * day}, nil},
		{"every 13 days, day 91 is past the absolute end", []time.Duration{13 * day, 26 * day, 39 * day, 52 * day, 65 * day, 78 * day, 91 * day}, domain.ErrInvalidRefreshToken},
		{"last second of the session", []time.Duration{13 * day, 26 * day, 39 * day, 52 * day, 65 * day, 78 * day, 90*day - time.Second}, nil},
		{"rotation never extends the absolute end", []time.Duration{13 * day, 26 * day, 39 * day, 52 * day, 65 * day, 78 * day, 89 * day, 90 * day}, domain.ErrInvalidRefreshToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "mia@example.com", goodPassword)
			token := f.mustLogin(t, "mia@example.com", goodPassword, domain.ClientInfo{}).RefreshToken
			last := len(tt.steps) - 1
			for _, at := range tt.steps[:last] {
				f.clock.Set(t0.Add(at))
				token = f.mustRefresh(t, token).RefreshToken
			}
			f.clock.Set(t0.Add(tt.steps[last]))

			tp, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: token})

			if !errors.Is(err, tt.wantLast) {
				t.Fatalf("refresh at %s: %v, want %v", tt.steps[last], err, tt.wantLast)
			}
			if err != nil {
				// An expired token is not a replay: asking again is the same answer.
				if _, again := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: token}); !errors.Is(again, domain.ErrInvalidRefreshToken) {
					t.Errorf("second attempt with the expired token: %v", again)
				}
				return
			}
			if p := f.principal(t, tp); p.UserID != u.ID() {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestRefreshAfterDeactivation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := f.mustCreateAdmin(t, "root@example.com")
	u := f.mustRegister(t, "ned@example.com", goodPassword)
	tp := f.mustLogin(t, "ned@example.com", goodPassword, domain.ClientInfo{})
	off := false
	if _, err := f.updateUser().Do(t.Context(), adminPrincipal(root), u.ID(), domain.UserChange{Active: &off}, domain.ClientInfo{}); err != nil {
		t.Fatalf("deactivate: %v", err)
	}

	_, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: tp.RefreshToken})

	if !errors.Is(err, domain.ErrAccountDisabled) {
		t.Errorf("refresh of a deactivated user: %v, want ErrAccountDisabled", err)
	}
	if s := f.liveSessions(t, u.ID()); len(s) != 0 {
		t.Errorf("deactivated user has %d live sessions", len(s))
	}
}

func TestRefreshOfInactiveOwnerEndsSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A user switched off outside authd (directly in the database) whose
	// session was therefore not ended with it.
	hash, err := f.hasher.Hash(t.Context(), goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	nu, err := domain.NewUser(domain.MustParseEmail("olga@example.com"), hash, t0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.users.Create(t.Context(), nu)
	if err != nil {
		t.Fatal(err)
	}
	secret, digest, err := domain.NewRefreshSecret(f.random)
	if err != nil {
		t.Fatal(err)
	}
	sid := uuid.New()
	fam := domain.NewFamily(sid, u.Owner(), digest, domain.ClientInfo{}, t0, domain.DefaultSessionPolicy)
	if err := f.families.Create(t.Context(), fam); err != nil {
		t.Fatal(err)
	}
	f.store.ForceUserActive(u.ID(), false)
	f.clock.Advance(time.Minute)

	tp, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: secret})

	if !errors.Is(err, domain.ErrAccountDisabled) || tp != (application.TokenPair{}) {
		t.Fatalf("Refresh = %+v, %v; want ErrAccountDisabled", tp, err)
	}
	if s := f.liveSessions(t, u.ID()); len(s) != 0 {
		t.Errorf("%d live sessions remain, want the family ended", len(s))
	}
	// The owner's state is checked first, so the answer stays the same
	// once the family is ended.
	if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: secret}); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Errorf("second refresh: %v, want ErrAccountDisabled", err)
	}
}

func TestRefreshCarriesCurrentRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := f.mustCreateAdmin(t, "root@example.com")
	u := f.mustRegister(t, "pat@example.com", goodPassword)
	token := f.mustLogin(t, "pat@example.com", goodPassword, domain.ClientInfo{}).RefreshToken

	for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleUser, domain.RoleAdmin} {
		if _, err := f.updateUser().Do(t.Context(), adminPrincipal(root), u.ID(), domain.UserChange{Role: &role}, domain.ClientInfo{}); err != nil {
			t.Fatalf("set role %s: %v", role, err)
		}
		f.clock.Advance(time.Minute)
		tp := f.mustRefresh(t, token)
		if got := f.principal(t, tp).Role; got != role {
			t.Errorf("after changing the role to %s the access token says %s", role, got)
		}
		token = tp.RefreshToken
	}
}

func TestRefreshConcurrentUseOfOneToken(t *testing.T) {
	t.Parallel()
	const n = 50
	f := newFixture(t)
	u := f.mustRegister(t, "quinn@example.com", goodPassword)
	token := f.mustLogin(t, "quinn@example.com", goodPassword, domain.ClientInfo{}).RefreshToken
	uc := f.refresh()

	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = uc.Do(t.Context(), application.RefreshInput{RefreshToken: token})
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, domain.ErrRefreshTokenReused), errors.Is(err, domain.ErrInvalidRefreshToken):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent refreshes succeeded, want exactly 1", wins, n)
	}
	// Every loser after the winner is a replay, so the family ends.
	if s := f.liveSessions(t, u.ID()); len(s) != 0 {
		t.Errorf("%d live sessions after concurrent replays, want the family ended", len(s))
	}
}
