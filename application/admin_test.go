package application_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

func TestAuthorizeAdmin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup returns the caller as GetCurrentUser reads it for a
		// request, or nil when it refuses the token.
		setup   func(t *testing.T, f *fixture) *domain.User
		wantErr error
	}{
		{"active admin", func(t *testing.T, f *fixture) *domain.User {
			f.mustCreateAdmin(t, "root@example.com")
			return f.caller(t, "root@example.com", adminPassword)
		}, nil},
		{"user", func(t *testing.T, f *fixture) *domain.User {
			f.mustRegister(t, "user@example.com", goodPassword)
			return f.caller(t, "user@example.com", goodPassword)
		}, domain.ErrForbidden},
		{"user whose token still claims admin", func(t *testing.T, f *fixture) *domain.User {
			root := f.mustCreateAdmin(t, "root@example.com")
			a := f.mustCreateAdmin(t, "former@example.com")
			tp := f.mustLogin(t, "former@example.com", adminPassword, domain.ClientInfo{})
			demote := domain.RoleUser
			if _, err := f.updateUser().Do(t.Context(), adminPrincipal(root), a.ID(), domain.UserChange{Role: &demote}, domain.ClientInfo{}); err != nil {
				t.Fatal(err)
			}
			p := f.principal(t, tp)
			if p.Role != domain.RoleAdmin {
				t.Fatalf("token role = %s, want the admin role it was issued with", p.Role)
			}
			u, err := f.currentUser().Do(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}, domain.ErrForbidden},
		{"no caller", func(*testing.T, *fixture) *domain.User { return nil }, domain.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := tt.setup(t, f)
			if err := application.NewAuthorizeAdmin().Do(u); !errors.Is(err, tt.wantErr) {
				t.Errorf("AuthorizeAdmin: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestDeactivatedAdminsTokenIsRefused: an admin switched off loses its
// sessions, so its token no longer authenticates at all.
func TestDeactivatedAdminsTokenIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustCreateAdmin(t, "root@example.com")
	a := f.mustCreateAdmin(t, "former@example.com")
	p := f.principal(t, f.mustLogin(t, "former@example.com", adminPassword, domain.ClientInfo{}))
	f.setActive(t, a.ID(), false)
	if _, err := f.currentUser().Do(t.Context(), p); !errors.Is(err, domain.ErrInvalidAccessToken) {
		t.Errorf("GetCurrentUser after deactivation: %v, want ErrInvalidAccessToken", err)
	}
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Ids 1–55 are u00…u54@example.com, ids 56–58 ops0…ops2@corp.example.
	for i := range 55 {
		mustCreateUser(t, f, fmt.Sprintf("u%02d@example.com", i))
	}
	for i := range 3 {
		mustCreateUser(t, f, fmt.Sprintf("ops%d@corp.example", i))
	}
	ids := func(from, to domain.UserID) []domain.UserID {
		var out []domain.UserID
		for id := from; id <= to; id++ {
			out = append(out, id)
		}
		return out
	}
	tests := []struct {
		name     string
		q        ports.UserQuery
		wantIDs  []domain.UserID
		wantNext domain.UserID
	}{
		{"default page of 50", ports.UserQuery{}, ids(1, 50), 50},
		{"second default page", ports.UserQuery{After: 50}, ids(51, 58), 0},
		{"largest page holds everything", ports.UserQuery{Limit: 100}, ids(1, 58), 0},
		{"page of 10", ports.UserQuery{Limit: 10}, ids(1, 10), 10},
		{"page of 10 after 40", ports.UserQuery{Limit: 10, After: 40}, ids(41, 50), 50},
		{"page exactly reaching the end has no next", ports.UserQuery{Limit: 8, After: 50}, ids(51, 58), 0},
		{"page one short of the end", ports.UserQuery{Limit: 7, After: 50}, ids(51, 57), 57},
		{"page of 1", ports.UserQuery{Limit: 1}, ids(1, 1), 1},
		{"after the last user", ports.UserQuery{After: 58}, nil, 0},
		{"email prefix", ports.UserQuery{EmailPrefix: "ops"}, ids(56, 58), 0},
		{"email prefix, paged", ports.UserQuery{EmailPrefix: "ops", Limit: 2}, ids(56, 57), 57},
		{"email prefix, last page", ports.UserQuery{EmailPrefix: "ops", Limit: 2, After: 57}, ids(58, 58), 0},
		{"email prefix matching one", ports.UserQuery{EmailPrefix: "u07@"}, ids(8, 8), 0},
		{"email prefix matching none", ports.UserQuery{EmailPrefix: "nobody"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			us, next, err := application.NewListUsers(f.users).Do(t.Context(), pageOf(tt.q.Limit, int64(tt.q.After)), tt.q.EmailPrefix)
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			var got []domain.UserID
			for _, u := range us {
				got = append(got, u.ID())
			}
			if diff := cmp.Diff(tt.wantIDs, got); diff != "" {
				t.Errorf("user ids (-want +got):\n%s", diff)
			}
			if next != tt.wantNext {
				t.Errorf("next = %d, want %d", next, tt.wantNext)
			}
		})
	}
}

func TestListUsersWalksAllPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 23 {
		mustCreateUser(t, f, fmt.Sprintf("w%02d@example.com", i))
	}
	uc := application.NewListUsers(f.users)
	var seen []domain.UserID
	q := ports.UserQuery{Limit: 5}
	for pages := 1; ; pages++ {
		us, next, err := uc.Do(t.Context(), pageOf(q.Limit, int64(q.After)), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			seen = append(seen, u.ID())
		}
		if next == 0 {
			if pages != 5 {
				t.Errorf("%d pages, want 5", pages)
			}
			break
		}
		if next != us[len(us)-1].ID() {
			t.Fatalf("next = %d, want the last id of the page %d", next, us[len(us)-1].ID())
		}
		q.After = next
	}
	var want []domain.UserID
	for id := range domain.UserID(23) {
		want = append(want, id+1)
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("walked ids (-want +got):\n%s", diff)
	}
}

func TestListUsersRefusesBadQueries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		limit, after string
		prefix       string
		wantFields   []string
	}{
		{"negative limit", "-1", "", "", []string{"limit"}},
		{"zero limit", "0", "", "", []string{"limit"}},
		{"limit over 100", "101", "", "", []string{"limit"}},
		{"limit not a number", "ten", "", "", []string{"limit"}},
		{"negative cursor", "", "-1", "", []string{"after"}},
		{"cursor not a number", "", "x", "", []string{"after"}},
		{"prefix over 255 bytes", "", "", strings.Repeat("a", 256), []string{"email"}},
		{"bad page", "1000", "-5", "", []string{"limit", "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			mustCreateUser(t, f, "someone@example.com")
			page, err := application.ParsePage(tt.limit, tt.after)
			var us []*domain.User
			var next domain.UserID
			if err == nil {
				us, next, err = application.NewListUsers(f.users).Do(t.Context(), page, tt.prefix)
			}
			if diff := cmp.Diff(tt.wantFields, fieldNames(t, err)); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s", diff)
			}
			if us != nil || next != 0 {
				t.Errorf("returned %d users and next %d with an error", len(us), next)
			}
		})
	}
}

// pageOf is the page a listing request with these parameters asks for; a
// zero limit or cursor is a parameter left out.
func pageOf(limit int, after int64) application.Page {
	l, a := "", ""
	if limit != 0 {
		l = strconv.Itoa(limit)
	}
	if after != 0 {
		a = strconv.FormatInt(after, 10)
	}
	return application.MustParsePage(l, a)
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "gus@example.com", goodPassword)
	uc := application.NewGetUser(f.users)

	got, err := uc.Do(t.Context(), u.ID())
	if err != nil || got.ID() != u.ID() || got.Email() != u.Email() {
		t.Errorf("GetUser(%d) = %v, %v", u.ID(), got, err)
	}
	for _, id := range []domain.UserID{0, -1, u.ID() + 1} {
		if _, err := uc.Do(t.Context(), id); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("GetUser(%d): %v, want ErrUserNotFound", id, err)
		}
	}
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	admin, user := domain.RoleAdmin, domain.RoleUser
	on, off := true, false
	type state struct {
		Role   domain.Role
		Active bool
	}
	tests := []struct {
		name string
		// extraAdmin adds a second active admin before the change.
		extraAdmin bool
		// target is "root" (the admin) or "user" (a logged-in user).
		target       string
		inactiveUser bool
		change       domain.UserChange
		wantErr      error
		want         state
		wantEvents   []domain.EventType
		wantSessions int
	}{
		{name: "promote a user", target: "user", change: domain.UserChange{Role: &admin},
			want: state{admin, true}, wantEvents: []domain.EventType{domain.EventRoleChanged}, wantSessions: 1},
		{name: "deactivate a user ends its sessions", target: "user", change: domain.UserChange{Active: &off},
			want: state{user, false}, wantEvents: []domain.EventType{domain.EventUserDeactivated}},
		{name: "reactivate a user", target: "user", inactiveUser: true, change: domain.UserChange{Active: &on},
			want: state{user, true}, wantEvents: []domain.EventType{domain.EventUserActivated}},
		{name: "promote and deactivate at once", target: "user", change: domain.UserChange{Role: &admin, Active: &off},
			want:       state{admin, false},
			wantEvents: []domain.EventType{domain.EventRoleChanged, domain.EventUserDeactivated}},
		{name: "no change records nothing", target: "user", change: domain.UserChange{Role: &user, Active: &on},
			want: state{user, true}, wantSessions: 1},
		{name: "empty change", target: "user", change: domain.UserChange{},
			want: state{user, true}, wantSessions: 1},
		{name: "demote the last admin", target: "root", change: domain.UserChange{Role: &user},
			wantErr: domain.ErrLastAdmin, want: state{admin, true}, wantSessions: 1},
		{name: "deactivate the last admin", target: "root", change: domain.UserChange{Active: &off},
			wantErr: domain.ErrLastAdmin, want: state{admin, true}, wantSessions: 1},
		{name: "demote one of two admins", target: "root", extraAdmin: true, change: domain.UserChange{Role: &user},
			want: state{user, true}, wantEvents: []domain.EventType{domain.EventRoleChanged}, wantSessions: 1},
		{name: "deactivate one of two admins", target: "root", extraAdmin: true, change: domain.UserChange{Active: &off},
			want: state{admin, false}, wantEvents: []domain.EventType{domain.EventUserDeactivated}},
		{name: "keep the last admin an admin", target: "root", change: domain.UserChange{Role: &admin},
			want: state{admin, true}, wantSessions: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			root := f.mustCreateAdmin(t, "root@example.com")
			f.mustLogin(t, "root@example.com", adminPassword, domain.ClientInfo{})
			if tt.extraAdmin {
				f.mustCreateAdmin(t, "second@example.com")
			}
			u := f.mustRegister(t, "hal@example.com", goodPassword)
			f.mustLogin(t, "hal@example.com", goodPassword, domain.ClientInfo{})
			if tt.inactiveUser {
				f.setActive(t, u.ID(), false)
			}
			target := map[string]domain.UserID{"root": root.ID(), "user": u.ID()}[tt.target]
			before := len(f.events(t, 0))
			f.clock.Advance(time.Hour)
			client := domain.NewClientInfo("admin-console", "10.0.0.1")
			got, err := f.updateUser().Do(t.Context(), adminPrincipal(root), target, tt.change, client)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("UpdateUser: %v, want %v", err, tt.wantErr)
			}
			stored := f.storedUser(t, target)
			if diff := cmp.Diff(tt.want, state{stored.Role(), stored.IsActive()}); diff != "" {
				t.Errorf("stored user (-want +got):\n%s", diff)
			}
			if err == nil && (got.ID() != target || got.Role() != stored.Role() || got.IsActive() != stored.IsActive()) {
				t.Errorf("returned user differs from the stored one")
			}
			if s := f.liveSessions(t, target); len(s) != tt.wantSessions {
				t.Errorf("%d live sessions, want %d", len(s), tt.wantSessions)
			}
			var gotEvents []domain.EventType
			for _, e := range f.events(t, 0)[before:] {
				gotEvents = append(gotEvents, e.Type)
				if e.UserID != target || e.ActorID != root.ID() || !e.At.Equal(t0.Add(time.Hour)) || e.Client != client {
					t.Errorf("event %+v, want it about user %d at the change, by the admin from its client", e, target)
				}
				if e.Type == domain.EventRoleChanged && (e.Detail["from"] == "" || e.Detail["to"] != stored.Role().String()) {
					t.Errorf("role_changed detail %v, want from and to", e.Detail)
				}
			}
			if diff := cmp.Diff(tt.wantEvents, gotEvents); diff != "" {
				t.Errorf("audit events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateUserMissing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	off := false
	if _, err := f.updateUser().Do(t.Context(), domain.Principal{UserID: 1, Role: domain.RoleAdmin}, 7, domain.UserChange{Active: &off}, domain.ClientInfo{}); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("UpdateUser of a missing user: %v, want ErrUserNotFound", err)
	}
	if es := f.events(t, 0); len(es) != 0 {
		t.Errorf("events recorded: %v", es)
	}
}

func TestRevokeUserSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "ian@example.com", goodPassword)
	other := f.mustRegister(t, "jo@example.com", goodPassword)
	var tps []string
	for range 3 {
		tps = append(tps, f.mustLogin(t, "ian@example.com", goodPassword, domain.ClientInfo{}).RefreshToken)
	}
	f.mustLogin(t, "jo@example.com", goodPassword, domain.ClientInfo{})
	if err := f.logout().Do(t.Context(), tps[0], domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	uc := application.NewRevokeUserSessions(f.users, f.families, f.env)
	client := domain.NewClientInfo("", "10.0.0.2")
	admin := adminPrincipal(f.mustCreateAdmin(t, "root@example.com"))

	n, err := uc.Do(t.Context(), admin, u.ID(), client)
	if err != nil || n != 2 {
		t.Fatalf("RevokeUserSessions = %d, %v; want 2 (one session was already ended)", n, err)
	}
	for i, tok := range tps {
		if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: tok}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Errorf("refresh of session %d: %v, want ErrInvalidRefreshToken", i, err)
		}
	}
	if len(f.liveSessions(t, other.ID())) != 1 {
		t.Error("another user's session was ended")
	}
	if n, err := uc.Do(t.Context(), admin, u.ID(), client); err != nil || n != 0 {
		t.Errorf("second RevokeUserSessions = %d, %v; want 0", n, err)
	}
	es := f.events(t, u.ID())
	for _, e := range es[len(es)-2:] {
		if e.Type != domain.EventSessionsRevokedByAdmin || e.ActorID != admin.UserID || e.Client != client {
			t.Errorf("event %+v, want sessions_revoked_by_admin by %d", e, admin.UserID)
		}
	}
	if _, err := uc.Do(t.Context(), admin, 999, client); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("RevokeUserSessions of a missing user: %v, want ErrUserNotFound", err)
	}
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.env = f.env.WithMail(nil) // no verification links, so no email_verification_sent
	// 7 events: two registrations, three logins, two failed logins.
	a := f.mustRegister(t, "kay@example.com", goodPassword)
	b := f.mustRegister(t, "lou@example.com", goodPassword)
	for _, email := range []string{"kay@example.com", "lou@example.com", "kay@example.com"} {
		f.mustLogin(t, email, goodPassword, domain.ClientInfo{})
	}
	for range 2 {
		if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "kay@example.com", Password: otherPassword}); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	all := f.events(t, 0)
	if len(all) != 7 {
		t.Fatalf("%d events, want 7", len(all))
	}
	uc := application.NewListAudit(f.audit)

	tests := []struct {
		name     string
		q        ports.AuditQuery
		wantIDs  []int64
		wantNext int64
	}{
		{"default page", ports.AuditQuery{}, []int64{1, 2, 3, 4, 5, 6, 7}, 0},
		{"first page of 3", ports.AuditQuery{Limit: 3}, []int64{1, 2, 3}, 3},
		{"middle page", ports.AuditQuery{Limit: 3, After: 3}, []int64{4, 5, 6}, 6},
		{"last page", ports.AuditQuery{Limit: 3, After: 6}, []int64{7}, 0},
		{"page exactly reaching the end", ports.AuditQuery{Limit: 7}, []int64{1, 2, 3, 4, 5, 6, 7}, 0},
		{"one user's events", ports.AuditQuery{UserID: b.ID()}, []int64{2, 4}, 0},
		{"one user's events, paged", ports.AuditQuery{UserID: a.ID(), Limit: 2}, []int64{1, 3}, 3},
		{"one user's events, next page", ports.AuditQuery{UserID: a.ID(), Limit: 2, After: 3}, []int64{5, 6}, 6},
		{"one user's events, last page", ports.AuditQuery{UserID: a.ID(), Limit: 2, After: 6}, []int64{7}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es, next, err := uc.Do(t.Context(), pageOf(tt.q.Limit, tt.q.After), tt.q.UserID)
			if err != nil {
				t.Fatalf("ListAudit: %v", err)
			}
			var got []int64
			for _, e := range es {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(tt.wantIDs, got); diff != "" {
				t.Errorf("event ids (-want +got):\n%s", diff)
			}
			if next != tt.wantNext {
				t.Errorf("next = %d, want %d", next, tt.wantNext)
			}
		})
	}

	for _, q := range [][2]string{{"-1", ""}, {"101", ""}, {"", "-1"}} {
		if _, err := application.ParsePage(q[0], q[1]); len(fieldNames(t, err)) != 1 {
			t.Errorf("ParsePage(%q): %v, want one invalid field", q, err)
		}
	}
}

// mustCreateUser stores a user directly, without the cost of a hash.
func mustCreateUser(t *testing.T, f *fixture, email string) *domain.User {
	t.Helper()
	nu, err := domain.NewUser(domain.MustParseEmail(email), "$argon2id$not-a-real-hash", t0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.users.Create(t.Context(), nu)
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}
