package application_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

func TestLogout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// token picks what to log out with, given the session's first and
		// current refresh tokens.
		token     func(first, current string) string
		wantEnded bool
	}{
		{"current token", func(_, current string) string { return current }, true},
		{"already rotated token", func(first, _ string) string { return first }, true},
		{"unknown token", func(_, _ string) string { return strings.Repeat("B", 43) }, false},
		{"garbage", func(_, _ string) string { return "garbage" }, false},
		{"empty", func(_, _ string) string { return "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "rita@example.com", goodPassword)
			first := f.mustLogin(t, "rita@example.com", goodPassword, domain.ClientInfo{})
			f.clock.Advance(time.Hour)
			current := f.mustRefresh(t, first.RefreshToken)
			client := domain.NewClientInfo("app", "198.51.100.20")

			if err := f.logout().Do(t.Context(), tt.token(first.RefreshToken, current.RefreshToken), client); err != nil {
				t.Fatalf("Logout: %v, want nil", err)
			}

			live := f.liveSessions(t, u.ID())
			if ended := len(live) == 0; ended != tt.wantEnded {
				t.Fatalf("session ended = %v, want %v", ended, tt.wantEnded)
			}
			_, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: current.RefreshToken})
			if tt.wantEnded && !errors.Is(err, domain.ErrInvalidRefreshToken) {
				t.Errorf("refresh after logout: %v, want ErrInvalidRefreshToken", err)
			}
			if !tt.wantEnded && err != nil {
				t.Errorf("refresh after a no-op logout: %v", err)
			}
			var logouts []domain.AuthEvent
			for _, e := range f.events(t, 0) {
				if e.Type == domain.EventLogout {
					e.ID = 0
					logouts = append(logouts, e)
				}
			}
			var want []domain.AuthEvent
			if tt.wantEnded {
				want = []domain.AuthEvent{{Type: domain.EventLogout, UserID: u.ID(), SessionID: first.SessionID,
					Client: client, At: t0.Add(time.Hour)}}
			}
			if diff := cmp.Diff(want, logouts); diff != "" {
				t.Errorf("logout events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogoutIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "sam@example.com", goodPassword)
	tp := f.mustLogin(t, "sam@example.com", goodPassword, domain.ClientInfo{})

	for i := range 3 {
		if err := f.logout().Do(t.Context(), tp.RefreshToken, domain.ClientInfo{}); err != nil {
			t.Fatalf("logout #%d: %v", i+1, err)
		}
		f.clock.Advance(time.Minute)
	}

	if s := f.liveSessions(t, u.ID()); len(s) != 0 {
		t.Errorf("%d live sessions after logout", len(s))
	}
	n := 0
	for _, typ := range f.eventTypes(t, u.ID()) {
		if typ == domain.EventLogout {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d logout events, want 1: repeated logouts change nothing", n)
	}
}

func TestLogoutAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "tess@example.com", goodPassword)
	other := f.mustRegister(t, "uma@example.com", goodPassword)
	var tokens []application.TokenPair
	for range 3 {
		tokens = append(tokens, f.mustLogin(t, "tess@example.com", goodPassword, domain.ClientInfo{}))
		f.clock.Advance(time.Minute)
	}
	otherTP := f.mustLogin(t, "uma@example.com", goodPassword, domain.ClientInfo{})
	p := f.principal(t, tokens[1])
	client := domain.NewClientInfo("app", "192.0.2.33")

	if err := f.logoutAll().Do(t.Context(), p, client); err != nil {
		t.Fatalf("LogoutAll: %v", err)
	}

	if s := f.liveSessions(t, u.ID()); len(s) != 0 {
		t.Errorf("%d live sessions after logging out everywhere", len(s))
	}
	for i, tp := range tokens {
		if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: tp.RefreshToken}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Errorf("refresh of session %d: %v, want ErrInvalidRefreshToken", i, err)
		}
	}
	if got := f.liveSessions(t, other.ID()); !slices.Equal(got, []uuid.UUID{otherTP.SessionID}) {
		t.Errorf("another user's sessions = %v, want untouched", got)
	}
	es := f.events(t, u.ID())
	last := es[len(es)-1]
	if last.Type != domain.EventLogoutAll || last.SessionID != p.SessionID || last.Client != client {
		t.Errorf("last event = %+v, want logout_all from the caller's session", last)
	}

	// Nothing left to end is not an error.
	if err := f.logoutAll().Do(t.Context(), p, client); err != nil {
		t.Errorf("second LogoutAll: %v", err)
	}
}
