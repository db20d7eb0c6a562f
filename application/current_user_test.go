package application_test

import (
	"errors"
	"testing"

	"authd/domain"
)

func TestGetCurrentUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// principal is built from the registered user's id.
		principal func(id domain.UserID) domain.Principal
		inactive  bool
		wantErr   error
	}{
		{"active user", func(id domain.UserID) domain.Principal { return domain.Principal{UserID: id} }, false, nil},
		{"inactive user", func(id domain.UserID) domain.Principal { return domain.Principal{UserID: id} }, true, domain.ErrInvalidAccessToken},
		{"user gone", func(id domain.UserID) domain.Principal { return domain.Principal{UserID: id + 100} }, false, domain.ErrInvalidAccessToken},
		{"no user", func(domain.UserID) domain.Principal { return domain.Principal{} }, false, domain.ErrInvalidAccessToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "vera@example.com", goodPassword)
			if tt.inactive {
				f.setActive(t, u.ID(), false)
			}

			got, err := f.currentUser().Do(t.Context(), tt.principal(u.ID()))

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
