package application_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "abel@example.com", goodPassword)
	current := f.mustLogin(t, "abel@example.com", goodPassword, domain.NewClientInfo("laptop", ""))
	other := f.mustLogin(t, "abel@example.com", goodPassword, domain.NewClientInfo("phone", ""))
	f.clock.Advance(time.Minute)
	client := domain.NewClientInfo("laptop", "198.51.100.77")

	err := f.changePassword().Do(t.Context(), f.principal(t, current), application.ChangePasswordInput{
		CurrentPassword: goodPassword, NewPassword: otherPassword, Client: client,
	})
	if err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}

	if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "abel@example.com", Password: goodPassword}); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Errorf("login with the old password: %v, want ErrInvalidCredentials", err)
	}
	f.mustLogin(t, "abel@example.com", otherPassword, domain.ClientInfo{})
	if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: other.RefreshToken}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Errorf("refresh of the other session: %v, want ErrInvalidRefreshToken", err)
	}
	f.mustRefresh(t, current.RefreshToken)

	var changed []domain.AuthEvent
	for _, e := range f.events(t, u.ID()) {
		if e.Type == domain.EventPasswordChanged {
			e.ID = 0
			changed = append(changed, e)
		}
	}
	want := []domain.AuthEvent{{Type: domain.EventPasswordChanged, UserID: u.ID(), SessionID: current.SessionID,
		Client: client, At: t0.Add(time.Minute)}}
	if diff := cmp.Diff(want, changed); diff != "" {
		t.Errorf("password_changed events (-want +got):\n%s", diff)
	}
}

func TestChangePasswordRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		current    string
		next       string
		inactive   bool
		gone       bool
		wantErr    error
		wantFields []string // for a *domain.ValidationError
	}{
		{name: "wrong current password", current: adminPassword, next: otherPassword, wantErr: application.ErrWrongCurrentPassword},
		{name: "empty current password", current: "", next: otherPassword, wantErr: application.ErrWrongCurrentPassword},
		{name: "current password over 512 bytes", current: strings.Repeat("c", domain.MaxPasswordBytes+1), next: otherPassword, wantErr: application.ErrWrongCurrentPassword},
		{name: "short new password", current: goodPassword, next: "tiny", wantFields: []string{"new_password"}},
		{name: "common new password", current: goodPassword, next: "password1234", wantFields: []string{"new_password"}},
		{name: "new password over 128 characters", current: goodPassword, next: strings.Repeat("Zq9$", 33), wantFields: []string{"new_password"}},
		{name: "inactive account", current: goodPassword, next: otherPassword, inactive: true, wantErr: domain.ErrInvalidAccessToken},
		{name: "account gone", current: goodPassword, next: otherPassword, gone: true, wantErr: domain.ErrInvalidAccessToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "beth@example.com", goodPassword)
			current := f.mustLogin(t, "beth@example.com", goodPassword, domain.ClientInfo{})
			other := f.mustLogin(t, "beth@example.com", goodPassword, domain.ClientInfo{})
			p := f.principal(t, current)
			if tt.gone {
				p.UserID += 100
			}
			if tt.inactive {
				f.setActive(t, u.ID(), false)
			}
			hashes := f.hasher.hashes.Load()

			err := f.changePassword().Do(t.Context(), p, application.ChangePasswordInput{CurrentPassword: tt.current, NewPassword: tt.next})

			if tt.wantFields != nil {
				if diff := cmp.Diff(tt.wantFields, fieldNames(t, err)); diff != "" {
					t.Errorf("invalid fields (-want +got):\n%s", diff)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ChangePassword: %v, want %v", err, tt.wantErr)
			}
			if errors.Is(tt.wantErr, application.ErrWrongCurrentPassword) && !errors.Is(err, domain.ErrInvalidCredentials) {
				t.Error("ErrWrongCurrentPassword does not match domain.ErrInvalidCredentials")
			}
			if got := f.hasher.hashes.Load(); got != hashes {
				t.Errorf("a refused change hashed a new password")
			}
			if got := f.storedUser(t, u.ID()).PasswordHash(); got != u.PasswordHash() {
				t.Error("a refused change replaced the stored hash")
			}
			// (Deactivation itself ends the sessions of an inactive account.)
			if got := f.liveSessions(t, u.ID()); !tt.inactive && (!slices.Contains(got, other.SessionID) || !slices.Contains(got, current.SessionID)) {
				t.Errorf("a refused change ended sessions; live: %v", got)
			}
			if slices.Contains(f.eventTypes(t, u.ID()), domain.EventPasswordChanged) {
				t.Error("password_changed recorded for a refused change")
			}
		})
	}
}

// TestChangePasswordIsAtomic breaks the ending of sessions: the change then
// fails as a whole, so the old password and every session remain.
func TestChangePasswordIsAtomic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "cleo@example.com", goodPassword)
	current := f.mustLogin(t, "cleo@example.com", goodPassword, domain.ClientInfo{})
	other := f.mustLogin(t, "cleo@example.com", goodPassword, domain.ClientInfo{})
	f.store.BreakSessionEnds()
	err := f.changePassword().Do(t.Context(), f.principal(t, current), application.ChangePasswordInput{
		CurrentPassword: goodPassword, NewPassword: otherPassword,
	})
	if err == nil {
		t.Fatal("ChangePassword succeeded although the other sessions could not be ended")
	}
	if got := f.storedUser(t, u.ID()).PasswordHash(); got != u.PasswordHash() {
		t.Error("the new password was stored without ending the other sessions")
	}
	if diff := cmp.Diff([]uuid.UUID{other.SessionID, current.SessionID}, f.liveSessions(t, u.ID())); diff != "" {
		t.Errorf("live sessions (-want +got):\n%s", diff)
	}
}

// changingHasher changes the user's password while a login checks the old
// one, the interleaving of a login racing a password change.
type changingHasher struct {
	ports.PasswordHasher
	during func()
	once   sync.Once
}

func (h *changingHasher) Verify(ctx context.Context, plain, encoded string) (bool, bool, error) {
	ok, rehash, err := h.PasswordHasher.Verify(ctx, plain, encoded)
	h.once.Do(h.during)
	return ok, rehash, err
}

func TestLoginRacingPasswordChangeOpensNoSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "dora@example.com", goodPassword)
	first := f.mustLogin(t, "dora@example.com", goodPassword, domain.ClientInfo{})
	h := &changingHasher{PasswordHasher: f.hasher}
	h.during = func() {
		err := f.changePassword().Do(t.Context(), f.principal(t, first), application.ChangePasswordInput{
			CurrentPassword: goodPassword, NewPassword: otherPassword,
		})
		if err != nil {
			t.Errorf("ChangePassword during the login: %v", err)
		}
	}
	login := application.NewLogin(f.users, f.families, f.store.MFA(), h, f.issuer, domain.DefaultSessionPolicy, application.NoLimits, f.env)
	_, err := login.Do(t.Context(), application.LoginInput{Email: "dora@example.com", Password: goodPassword})
	if !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("login that checked the old password: %v, want ErrInvalidCredentials", err)
	}
	// Only the session that changed the password is live.
	if diff := cmp.Diff([]uuid.UUID{first.SessionID}, f.liveSessions(t, u.ID())); diff != "" {
		t.Errorf("live sessions (-want +got):\n%s", diff)
	}
	f.mustLogin(t, "dora@example.com", otherPassword, domain.ClientInfo{})
}
