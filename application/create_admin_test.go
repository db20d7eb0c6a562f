package application_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

func TestCreateAdminCreatesAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	u, created, err := f.createAdmin().Do(t.Context(), "  Root@Example.com ", adminPassword)
	if err != nil || !created {
		t.Fatalf("CreateAdmin = created %v, %v; want a new admin", created, err)
	}

	stored := f.storedUser(t, u.ID())
	if stored.Email().String() != "root@example.com" || stored.Role() != domain.RoleAdmin || !stored.IsActive() || !stored.CreatedAt().Equal(t0) {
		t.Errorf("stored admin = %s %s active=%v created %s", stored.Email(), stored.Role(), stored.IsActive(), stored.CreatedAt())
	}
	if err := application.NewAuthorizeAdmin().Do(f.caller(t, "root@example.com", adminPassword)); err != nil {
		t.Errorf("AuthorizeAdmin of the new admin: %v", err)
	}
	tp := f.mustLogin(t, "root@example.com", adminPassword, domain.ClientInfo{})
	if role := f.principal(t, tp).Role; role != domain.RoleAdmin {
		t.Errorf("access token role = %s, want admin", role)
	}
	if got := f.eventTypes(t, u.ID())[0]; got != domain.EventRoleChanged {
		t.Errorf("first event = %s, want role_changed", got)
	}
}

func TestCreateAdminPromotesExistingUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		inactive bool
	}{
		{"active user", false},
		{"inactive user is reactivated", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			existing := f.mustRegister(t, "mel@example.com", goodPassword)
			if tt.inactive {
				f.setActive(t, existing.ID(), false)
			}

			u, created, err := f.createAdmin().Do(t.Context(), "MEL@example.com", adminPassword)
			if err != nil || created {
				t.Fatalf("CreateAdmin = created %v, %v; want the existing user promoted", created, err)
			}

			if u.ID() != existing.ID() {
				t.Errorf("CreateAdmin returned user %d, want the existing %d", u.ID(), existing.ID())
			}
			stored := f.storedUser(t, existing.ID())
			if stored.Role() != domain.RoleAdmin || !stored.IsActive() {
				t.Errorf("stored user = %s active=%v, want an active admin", stored.Role(), stored.IsActive())
			}
			if us, _ := f.users.List(t.Context(), ports.UserQuery{}); len(us) != 1 {
				t.Errorf("%d users, want no new one", len(us))
			}
			f.mustLogin(t, "mel@example.com", adminPassword, domain.ClientInfo{})
			if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "mel@example.com", Password: goodPassword}); !errors.Is(err, domain.ErrInvalidCredentials) {
				t.Errorf("login with the replaced password: %v, want ErrInvalidCredentials", err)
			}
		})
	}
}

func TestCreateAdminRefusesInvalidInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, email, password string
		existing              bool
		wantFields            []string
	}{
		{name: "short password", email: "root@example.com", password: "short", wantFields: []string{"password"}},
		{name: "common password", email: "root@example.com", password: "password1234", wantFields: []string{"password"}},
		{name: "common password for an existing user", email: "nia@example.com", password: "password1234", existing: true, wantFields: []string{"password"}},
		{name: "bad email", email: "root", password: adminPassword, wantFields: []string{"email"}},
		{name: "both", email: "", password: "", wantFields: []string{"email", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			var existing *domain.User
			if tt.existing {
				existing = f.mustRegister(t, tt.email, goodPassword)
			}
			hashes := f.hasher.hashes.Load()

			u, created, err := f.createAdmin().Do(t.Context(), tt.email, tt.password)

			if diff := cmp.Diff(tt.wantFields, fieldNames(t, err)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s", diff)
			}
			if u != nil || created {
				t.Errorf("CreateAdmin returned a user with an error")
			}
			if f.hasher.hashes.Load() != hashes {
				t.Error("refused input was hashed")
			}
			us, _ := f.users.List(t.Context(), ports.UserQuery{})
			switch {
			case existing == nil && len(us) != 0:
				t.Errorf("%d users stored, want none", len(us))
			case existing != nil && (us[0].Role() != domain.RoleUser || us[0].PasswordHash() != existing.PasswordHash()):
				t.Error("the existing user was changed")
			}
		})
	}
}
