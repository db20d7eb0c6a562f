package domain_test

import (
	"errors"
	"strings"
	"testing"

	"authd/domain"
)

func TestParseEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"  Alice@Example.COM ", "alice@example.com", true},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org", true},
		{"", "", false},
		{"no-at-sign", "", false},
		{"Alice <alice@example.com>", "", false},
		{"alice@", "", false},
		{"@example.com", "", false},
		{"alice@example.com.", "", false},
		{"a\x00b@example.com", "", false},
		{"a b@example.com", "", false},
		{"\xff@example.com", "", false},
		{strings.Repeat("a", 250) + "@x.io", "", false},
		{strings.Repeat("a", 1<<20), "", false},
	}
	for _, tt := range tests {
		e, err := domain.ParseEmail(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseEmail(%.40q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		var verr *domain.ValidationError
		if err != nil && (!errors.As(err, &verr) || verr.Fields[0].Field != "email") {
			t.Errorf("ParseEmail(%.40q) error %v is not a validation error on email", tt.in, err)
		}
		if e.String() != tt.want {
			t.Errorf("ParseEmail(%q) = %q, want %q", tt.in, e, tt.want)
		}
	}
}

type listChecker map[string]bool

func (l listChecker) IsCommon(pw string) bool { return l[strings.ToLower(pw)] }

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	common := listChecker{"passwordpassword": true}
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"12 characters", "abcdefghijkl", true},
		{"11 characters", "abcdefghijk", false},
		{"12 multibyte code points", strings.Repeat("é", 12), true},
		{"11 multibyte code points (22 bytes)", strings.Repeat("é", 11), false},
		{"128 code points", strings.Repeat("x", 128), true},
		{"129 code points", strings.Repeat("x", 129), false},
		{"10 KB", strings.Repeat("x", 10000), false},
		{"NUL", "abcdefghijkl\x00", false},
		{"invalid UTF-8", "abcdefghijkl\xff", false},
		{"common", "PasswordPassword", false},
		{"no composition rules", "correct horse battery staple", true},
	}
	for _, tt := range tests {
		err := domain.ValidatePassword("password", tt.pw, common)
		if (err == nil) != tt.ok {
			t.Errorf("%s: ValidatePassword = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestUserApplyLastAdmin(t *testing.T) {
	t.Parallel()
	user, admin := domain.RoleUser, domain.RoleAdmin
	off := false
	newAdmin := func() *domain.User {
		return domain.RehydrateUser(1, domain.MustParseEmail("a@x.io"), "h", domain.RoleAdmin, true, t0)
	}
	tests := []struct {
		name    string
		change  domain.UserChange
		admins  int
		wantErr error
	}{
		{"demote the last admin", domain.UserChange{Role: &user}, 1, domain.ErrLastAdmin},
		{"deactivate the last admin", domain.UserChange{Active: &off}, 1, domain.ErrLastAdmin},
		{"demote one of two admins", domain.UserChange{Role: &user}, 2, nil},
		{"keep the role", domain.UserChange{Role: &admin}, 1, nil},
	}
	for _, tt := range tests {
		u := newAdmin()
		err := u.Apply(tt.change, tt.admins)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil && !u.IsAdmin() {
			t.Errorf("%s: a refused change was applied", tt.name)
		}
	}
	u := domain.RehydrateUser(2, domain.MustParseEmail("b@x.io"), "h", domain.RoleUser, true, t0)
	if err := u.Apply(domain.UserChange{Active: &off}, 0); err != nil || u.IsActive() || u.CanLogIn() == nil {
		t.Errorf("deactivating a user: %v", err)
	}
	if _, err := domain.ParseRole("root"); err == nil {
		t.Error("ParseRole accepted root")
	}
}

func TestTooLongToBePassword(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{strings.Repeat("x", 128), false},
		{strings.Repeat("é", 128), false},
		{strings.Repeat("x", 129), true},
		{strings.Repeat("€", 129), true},
		{strings.Repeat("x", 10000), true},
	} {
		if got := domain.TooLongToBePassword(tt.pw); got != tt.want {
			t.Errorf("TooLongToBePassword(%d bytes) = %v, want %v", len(tt.pw), got, tt.want)
		}
	}
}
