package application_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

func TestRegisterCreatesActiveUserWithNormalisedEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	client := domain.NewClientInfo("curl/8", "198.51.100.4")

	u, err := f.register().Do(t.Context(), application.RegisterInput{
		Email: "  Alice.Smith@Example.COM ", Password: goodPassword, Client: client,
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}

	stored := f.storedUser(t, u.ID())
	type view struct {
		Email   string
		Role    domain.Role
		Active  bool
		Created time.Time
	}
	want := view{Email: "alice.smith@example.com", Role: domain.RoleUser, Active: true, Created: t0}
	for name, got := range map[string]*domain.User{"returned": u, "stored": stored} {
		if diff := cmp.Diff(want, view{got.Email().String(), got.Role(), got.IsActive(), got.CreatedAt()}); diff != "" {
			t.Errorf("%s user (-want +got):\n%s", name, diff)
		}
	}
	if u.ID() <= 0 {
		t.Errorf("user id = %d, want an assigned id", u.ID())
	}
	if ok, _, err := f.hasher.Verify(t.Context(), goodPassword, stored.PasswordHash()); err != nil || !ok {
		t.Errorf("stored hash does not verify the password: ok=%v err=%v", ok, err)
	}
	if stored.PasswordHash() == goodPassword || strings.Contains(stored.PasswordHash(), goodPassword) {
		t.Error("the password is stored in plain text")
	}
	es := f.events(t, u.ID())
	if len(es) != 2 || es[0].Type != domain.EventUserRegistered || es[0].Client != client ||
		es[1].Type != domain.EventEmailVerificationSent || es[1].Client != client {
		t.Errorf("audit = %+v, want user_registered and email_verification_sent from the client", es)
	}
}

func TestRegisterRefusesInvalidInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		email      string
		password   string
		wantFields []string
	}{
		{"bad email and short password reported together", "not-an-email", "short", []string{"email", "password"}},
		{"missing email", "   ", goodPassword, []string{"email"}},
		{"email with display name", "Alice <alice@example.com>", goodPassword, []string{"email"}},
		{"email over 255 bytes", strings.Repeat("a", 250) + "@example.com", goodPassword, []string{"email"}},
		{"password of 11 characters", "bob@example.com", "abcdefghijk", []string{"password"}},
		{"password of 129 characters", "bob@example.com", strings.Repeat("xY7!", 32) + "z", []string{"password"}},
		{"password with NUL", "bob@example.com", goodPassword + "\x00", []string{"password"}},
		{"password of invalid UTF-8", "bob@example.com", goodPassword + "\xff", []string{"password"}},
		{"common password", "bob@example.com", "password1234", []string{"password"}},
		{"common password in another case", "bob@example.com", "PASSWORD1234", []string{"password"}},
		{"repetitive password", "bob@example.com", "abababababababab", []string{"password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)

			u, err := f.register().Do(t.Context(), application.RegisterInput{Email: tt.email, Password: tt.password})

			if u != nil {
				t.Errorf("Register returned user %v", u.Email())
			}
			if diff := cmp.Diff(tt.wantFields, fieldNames(t, err)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s", diff)
			}
			if got := f.hasher.calls(); got != [3]int64{} {
				t.Errorf("hasher calls (hash, verify, dummy) = %v, want none for invalid input", got)
			}
			if us, _ := f.users.List(t.Context(), ports.UserQuery{}); len(us) != 0 {
				t.Errorf("%d users stored, want none", len(us))
			}
		})
	}
}

func TestRegisterRefusesTakenEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, first, second string
	}{
		{"same spelling", "carol@example.com", "carol@example.com"},
		{"other case", "carol@example.com", "Carol@EXAMPLE.com"},
		{"surrounding spaces", "Carol@example.com", "  carol@example.com\t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			first := f.mustRegister(t, tt.first, goodPassword)

			_, err := f.register().Do(t.Context(), application.RegisterInput{Email: tt.second, Password: otherPassword})

			if !errors.Is(err, domain.ErrEmailTaken) {
				t.Fatalf("second Register: %v, want ErrEmailTaken", err)
			}
			us, _ := f.users.List(t.Context(), ports.UserQuery{})
			if len(us) != 1 || us[0].ID() != first.ID() || us[0].PasswordHash() != first.PasswordHash() {
				t.Errorf("users after the refused registration = %d, want only the first one unchanged", len(us))
			}
		})
	}
}
