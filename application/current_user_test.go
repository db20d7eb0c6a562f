package application_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

func TestGetCurrentUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// act changes the world after the login; principal is the
		// logged-in session's token.
		act     func(t *testing.T, f *fixture, u *domain.User, p domain.Principal) domain.Principal
		wantErr error
	}{
		{"live session", func(_ *testing.T, _ *fixture, _ *domain.User, p domain.Principal) domain.Principal { return p }, nil},
		{"logged out everywhere", func(t *testing.T, f *fixture, _ *domain.User, p domain.Principal) domain.Principal {
			if err := f.logoutAll().Do(t.Context(), p, domain.ClientInfo{}); err != nil {
				t.Fatal(err)
			}
			return p
		}, domain.ErrInvalidAccessToken},
		{"session revoked", func(t *testing.T, f *fixture, _ *domain.User, p domain.Principal) domain.Principal {
			if err := f.revokeSession().Do(t.Context(), p, p.SessionID, domain.ClientInfo{}); err != nil {
				t.Fatal(err)
			}
			return p
		}, domain.ErrInvalidAccessToken},
		{"session past its absolute end", func(_ *testing.T, f *fixture, _ *domain.User, p domain.Principal) domain.Principal {
			f.clock.Advance(domain.DefaultSessionPolicy.MaxLifetime)
			return p
		}, domain.ErrInvalidAccessToken},
		{"user deactivated", func(t *testing.T, f *fixture, u *domain.User, p domain.Principal) domain.Principal {
			f.setActive(t, u.ID(), false)
			return p
		}, domain.ErrInvalidAccessToken},
		{"inactive user whose session was not ended", func(_ *testing.T, f *fixture, u *domain.User, p domain.Principal) domain.Principal {
			f.store.ForceUserActive(u.ID(), false)
			return p
		}, domain.ErrInvalidAccessToken},
		{"session of another user", func(_ *testing.T, _ *fixture, _ *domain.User, p domain.Principal) domain.Principal {
			p.UserID += 100
			return p
		}, domain.ErrInvalidAccessToken},
		{"unknown session", func(_ *testing.T, _ *fixture, _ *domain.User, p domain.Principal) domain.Principal {
			p.SessionID = uuid.New()
			return p
		}, domain.ErrInvalidAccessToken},
		{"no session claim", func(_ *testing.T, _ *fixture, _ *domain.User, p domain.Principal) domain.Principal {
			p.SessionID = uuid.Nil
			return p
		}, domain.ErrInvalidAccessToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "vera@example.com", goodPassword)
			p := f.principal(t, f.mustLogin(t, "vera@example.com", goodPassword, domain.ClientInfo{}))
			f.clock.Advance(time.Minute)
			p = tt.act(t, f, u, p)

			got, err := f.currentUser().Do(t.Context(), p)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GetCurrentUser: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got != nil {
					t.Errorf("returned user %v with an error", got.Email())
				}
				return
			}
			if got.ID() != u.ID() || got.Email() != u.Email() || got.Role() != domain.RoleUser || !got.IsActive() {
				t.Errorf("GetCurrentUser = %d %s %s active=%v, want the registered user", got.ID(), got.Email(), got.Role(), got.IsActive())
			}
		})
	}
}

// TestGetCurrentUserReadsTheUserOnce proves that authenticating a caller
// costs one repository lookup, which also returns the user.
func TestGetCurrentUserReadsTheUserOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "once@example.com", goodPassword)
	p := f.principal(t, f.mustLogin(t, "once@example.com", goodPassword, domain.ClientInfo{}))
	users := &countingUsers{UserRepository: f.users}
	if _, err := application.NewGetCurrentUser(users, f.env).Do(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if got := users.calls.Load(); got != 1 {
		t.Errorf("repository calls = %d, want 1", got)
	}
}
