package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"

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
		return domain.RehydrateUser(domain.UserRecord{ID: 1, Email: domain.MustParseEmail("a@x.io"), PasswordHash: "h", Role: domain.RoleAdmin, Active: true, CreatedAt: t0})
	}
	tests := []struct {
		name        string
		change      domain.UserChange
		otherAdmins int
		removes     bool
		wantErr     error
	}{
		{"demote the last admin", domain.UserChange{Role: &user}, 0, true, domain.ErrLastAdmin},
		{"deactivate the last admin", domain.UserChange{Active: &off}, 0, true, domain.ErrLastAdmin},
		{"demote one of two admins", domain.UserChange{Role: &user}, 1, true, nil},
		{"keep the role", domain.UserChange{Role: &admin}, 0, false, nil},
	}
	for _, tt := range tests {
		u := newAdmin()
		u.Apply(tt.change, t0)
		if got := u.RemovesActiveAdmin(); got != tt.removes {
			t.Errorf("%s: RemovesActiveAdmin = %v, want %v", tt.name, got, tt.removes)
		}
		if err := u.AllowAdminRemoval(tt.otherAdmins); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	u := domain.RehydrateUser(domain.UserRecord{ID: 2, Email: domain.MustParseEmail("b@x.io"), PasswordHash: "h", Role: domain.RoleUser, Active: true, CreatedAt: t0})
	u.Apply(domain.UserChange{Active: &off}, t0)
	if u.IsActive() || u.CanLogIn() == nil || u.RemovesActiveAdmin() || u.AllowAdminRemoval(0) != nil {
		t.Errorf("deactivating a plain user: active=%v removes admin=%v", u.IsActive(), u.RemovesActiveAdmin())
	}
	if _, err := domain.ParseRole("root"); err == nil {
		t.Error("ParseRole accepted root")
	}
}

func TestUserDecidesWhichSessionsEnd(t *testing.T) {
	t.Parallel()
	t1 := t0.Add(time.Hour)
	keep := uuid.New()
	on, off := true, false
	user := func(active bool) *domain.User {
		return domain.RehydrateUser(domain.UserRecord{ID: 3, Email: domain.MustParseEmail("c@x.io"), PasswordHash: "h", Role: domain.RoleUser, Active: active, CreatedAt: t0, SessionEpoch: 4})
	}
	tests := []struct {
		name   string
		change func(u *domain.User)
		ends   bool
		want   domain.SessionEnding
	}{
		{"password change keeps the caller's session", func(u *domain.User) { u.ChangePassword("h2", keep, t1) }, true, domain.SessionEnding{At: t1, Except: keep}},
		{"password set by an operator ends every session", func(u *domain.User) { u.ChangePassword("h2", uuid.Nil, t1) }, true, domain.SessionEnding{At: t1}},
		{"deactivation ends every session", func(u *domain.User) { u.Apply(domain.UserChange{Active: &off}, t1) }, true, domain.SessionEnding{At: t1}},
		{"password change and deactivation end every session", func(u *domain.User) {
			u.ChangePassword("h2", keep, t1)
			u.Apply(domain.UserChange{Active: &off}, t1)
		}, true, domain.SessionEnding{At: t1}},
		{"a rehash ends nothing", func(u *domain.User) { u.UpgradePasswordHash("h2") }, false, domain.SessionEnding{}},
		{"a role change ends nothing", func(u *domain.User) { u.Apply(domain.UserChange{Role: &domain.RoleAdmin}, t1) }, false, domain.SessionEnding{}},
		{"staying active ends nothing", func(u *domain.User) { u.Apply(domain.UserChange{Active: &on}, t1) }, false, domain.SessionEnding{}},
	}
	for _, tt := range tests {
		u := user(true)
		tt.change(u)
		got, ends := u.EndsSessions()
		if ends != tt.ends || got != tt.want {
			t.Errorf("%s: EndsSessions = %+v, %v; want %+v, %v", tt.name, got, ends, tt.want, tt.ends)
		}
		wantEpoch := int64(4)
		if tt.ends {
			wantEpoch = 5
		}
		if u.SessionEpoch() != wantEpoch || u.Owner().SessionEpoch != wantEpoch {
			t.Errorf("%s: session epoch %d, want %d", tt.name, u.SessionEpoch(), wantEpoch)
		}
	}
	// Reactivating ends nothing: the sessions already ended.
	u := user(false)
	u.Apply(domain.UserChange{Active: &on}, t1)
	if _, ends := u.EndsSessions(); ends || !u.IsActive() {
		t.Errorf("reactivation: ends sessions %v, active %v", ends, u.IsActive())
	}
}

func TestRole(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"user", "admin"} {
		r, err := domain.ParseRole(s)
		if err != nil || r.String() != s {
			t.Errorf("ParseRole(%q) = %v, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "Admin", "root", "user "} {
		if _, err := domain.ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
	var zero domain.Role
	if zero != domain.RoleUser || domain.RoleUser == domain.RoleAdmin {
		t.Error("the zero role is not RoleUser")
	}
}

func TestNewClientInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ua, ip   string
		wantUA, wantIP string
	}{
		{"plain", "curl/8", "192.0.2.1", "curl/8", "192.0.2.1"},
		{"clipped in characters", strings.Repeat("é", 600), strings.Repeat("1", 100), strings.Repeat("é", domain.MaxUserAgentChars), strings.Repeat("1", domain.MaxIPChars)},
		{"NUL removed", "a\x00b", "", "ab", ""},
		{"invalid UTF-8 replaced", "a\xffb", "", "a\uFFFDb", ""},
	}
	for _, tt := range tests {
		c := domain.NewClientInfo(tt.ua, tt.ip)
		if c.UserAgent() != tt.wantUA || c.IP() != tt.wantIP {
			t.Errorf("%s: NewClientInfo = %q %q, want %q %q", tt.name, c.UserAgent(), c.IP(), tt.wantUA, tt.wantIP)
		}
		if again := domain.NewClientInfo(c.UserAgent(), c.IP()); again != c {
			t.Errorf("%s: NewClientInfo is not idempotent", tt.name)
		}
	}
	// The details do not alias the caller's buffer.
	buf := []byte("agent")
	c := domain.NewClientInfo(unsafe.String(&buf[0], len(buf)), "")
	copy(buf, "XXXXX")
	if c.UserAgent() != "agent" {
		t.Errorf("user agent aliases its source: %q", c.UserAgent())
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

// TestPasswordsAreComparedInNFC: the policy counts and checks the NFC form,
// so a decomposed spelling is neither longer nor a way around the list.
func TestPasswordsAreComparedInNFC(t *testing.T) {
	t.Parallel()
	nfd := strings.Repeat("e\u0301", 6) // 12 code points as typed, 6 in NFC
	if err := domain.ValidatePassword("password", nfd, nil); err == nil {
		t.Errorf("six decomposed é (12 code points, 6 characters) passed the 12-character minimum")
	}
	if got := domain.NormalizePassword(nfd); got != strings.Repeat("é", 6) {
		t.Errorf("NormalizePassword(%+q) = %+q, want NFC", nfd, got)
	}
	common := listChecker{"passwordpässword": true}
	if err := domain.ValidatePassword("password", "passwordpa\u0308ssword", common); err == nil {
		t.Error("the NFD spelling of a common password passed the list check")
	}
	for _, keep := range []string{"Ｐａｓｓｗｏｒｄ", "ﬁﬁﬁﬁﬁﬁﬁﬁﬁﬁﬁﬁ", " padded password "} {
		if got := domain.NormalizePassword(keep); got != keep {
			t.Errorf("NormalizePassword(%+q) = %+q; only canonical (NFC) changes are made", keep, got)
		}
	}
}
