package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"authd/domain"
)

// userPage is a page of the admin user list.
type userPage struct {
	Users     []userBody `json:"users"`
	NextAfter *int64     `json:"next_after"`
}

// eventBody is one entry of the audit trail.
type eventBody struct {
	ID        int64   `json:"id"`
	Type      string  `json:"type"`
	UserID    *int64  `json:"user_id"`
	SessionID *string `json:"session_id"`
}

func userPath(id int64) string { return "/v1/admin/users/" + strconv.FormatInt(id, 10) }

func TestAdminRequiresAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.newAdmin(t, "root@example.com")
	a := f.newAccount(t, "plain@example.com")
	cases := []struct{ method, path, body string }{
		{"GET", "/v1/admin/users", ""},
		{"GET", userPath(a.user.ID), ""},
		{"PATCH", userPath(a.user.ID), `{"role":"admin"}`},
		{"POST", userPath(a.user.ID) + "/sessions/revoke", ""},
		{"GET", "/v1/admin/audit", ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			t.Parallel()
			f.do(t, c.method, c.path, c.body, a.tokens.AccessToken).problem(t, http.StatusForbidden, "forbidden")
		})
	}
}

func TestAdminListUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "admin@example.com")
	var ids []int64
	for i := range 5 {
		ids = append(ids, f.register(t, fmt.Sprintf("member%d@example.com", i), strongPassword).ID)
	}
	f.register(t, "zed@example.org", strongPassword)
	list := func(query string) userPage {
		t.Helper()
		return decode[userPage](t, f.do(t, "GET", "/v1/admin/users"+query, "", admin.tokens.AccessToken), http.StatusOK)
	}

	all := list("")
	if len(all.Users) != 7 || all.NextAfter != nil {
		t.Fatalf("all users = %d, next_after %v; want 7 and null", len(all.Users), all.NextAfter)
	}
	var seen []int64
	after := ""
	for range 10 {
		p := list("?limit=3" + after)
		for _, u := range p.Users {
			seen = append(seen, u.ID)
		}
		if p.NextAfter == nil {
			break
		}
		if len(p.Users) != 3 || *p.NextAfter != p.Users[2].ID {
			t.Fatalf("page = %+v: want 3 users and next_after the last id", p)
		}
		after = "&after=" + strconv.FormatInt(*p.NextAfter, 10)
	}
	want := []int64{admin.user.ID}
	want = append(append(want, ids...), all.Users[6].ID)
	if !slices.Equal(seen, want) {
		t.Errorf("paged ids = %v, want %v", seen, want)
	}
	if !slices.IsSorted(seen) {
		t.Error("users are not ordered by id")
	}

	prefix := list("?email=member")
	if len(prefix.Users) != 5 {
		t.Errorf("email=member matched %d users, want 5", len(prefix.Users))
	}
	if got := list("?email=MEMBER3"); len(got.Users) != 1 || got.Users[0].Email != "member3@example.com" {
		t.Errorf("email=MEMBER3 matched %+v, want member3 (case-insensitive prefix)", got.Users)
	}
	if got := list("?email=%25"); len(got.Users) != 0 {
		t.Errorf("email=%% matched %d users: the prefix is not taken literally", len(got.Users))
	}
	if got := list("?limit=100"); len(got.Users) != 7 {
		t.Errorf("limit=100 listed %d", len(got.Users))
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "after=-5", "after=x", "limit=99999999999999999999"} {
		t.Run(q, func(t *testing.T) {
			t.Parallel()
			p := f.do(t, "GET", "/v1/admin/users?"+q, "", admin.tokens.AccessToken).problem(t, http.StatusUnprocessableEntity, "validation_failed")
			if len(p.Errors) == 0 {
				t.Error("no field errors")
			}
		})
	}
}

func TestAdminGetUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "admin@example.com")
	a := f.newAccount(t, "target@example.com")
	got := decode[userBody](t, f.do(t, "GET", userPath(a.user.ID), "", admin.tokens.AccessToken), http.StatusOK)
	if got != a.user {
		t.Errorf("user = %+v, want %+v", got, a.user)
	}
	for _, path := range []string{userPath(99999), "/v1/admin/users/abc", "/v1/admin/users/0", "/v1/admin/users/-1", "/v1/admin/users/99999999999999999999"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			f.do(t, "GET", path, "", admin.tokens.AccessToken).problem(t, http.StatusNotFound, "not_found")
		})
	}
}

func TestAdminPatchUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "admin@example.com")
	a := f.newAccount(t, "target@example.com")
	second := f.login(t, a.email, strongPassword)
	patch := func(id int64, body string) response {
		t.Helper()
		return f.do(t, "PATCH", userPath(id), body, admin.tokens.AccessToken)
	}

	if u := decode[userBody](t, patch(a.user.ID, `{}`), http.StatusOK); u != a.user {
		t.Errorf("empty patch changed the user: %+v", u)
	}
	if u := decode[userBody](t, patch(a.user.ID, `{"role":"admin"}`), http.StatusOK); u.Role != "admin" || !u.IsActive {
		t.Errorf("promoted user = %+v", u)
	}
	if u := decode[userBody](t, patch(a.user.ID, `{"role":"user"}`), http.StatusOK); u.Role != "user" {
		t.Errorf("demoted user = %+v", u)
	}
	patch(a.user.ID, `{"role":"root"}`).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	patch(a.user.ID, `{"is_active":"no"}`).problem(t, http.StatusBadRequest, "malformed_request")
	patch(a.user.ID, `{"email":"x@example.com"}`).problem(t, http.StatusBadRequest, "malformed_request")
	patch(99999, `{"role":"admin"}`).problem(t, http.StatusNotFound, "not_found")

	// Deactivation ends every session of the user at once.
	if u := decode[userBody](t, patch(a.user.ID, `{"is_active":false}`), http.StatusOK); u.IsActive {
		t.Errorf("deactivated user = %+v", u)
	}
	for _, tok := range []tokenBody{a.tokens, second} {
		f.refresh(t, tok.RefreshToken).problem(t, http.StatusForbidden, "account_disabled")
	}
	f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
	f.do(t, "POST", "/v1/auth/login", credentials(a.email, strongPassword), "").problem(t, http.StatusForbidden, "account_disabled")
	decode[userBody](t, patch(a.user.ID, `{"is_active":true}`), http.StatusOK)
	// The sessions stay ended after reactivation; a new login works.
	for _, tok := range []tokenBody{a.tokens, second} {
		f.refresh(t, tok.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	}
	f.login(t, a.email, strongPassword)
}

func TestAdminLastAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := f.newAdmin(t, "root@example.com")
	for _, body := range []string{`{"role":"user"}`, `{"is_active":false}`, `{"role":"user","is_active":false}`} {
		f.do(t, "PATCH", userPath(root.user.ID), body, root.tokens.AccessToken).problem(t, http.StatusConflict, "last_admin")
	}
	// Nothing changed.
	if u := decode[userBody](t, f.do(t, "GET", userPath(root.user.ID), "", root.tokens.AccessToken), http.StatusOK); u.Role != "admin" || !u.IsActive {
		t.Errorf("the last admin was changed: %+v", u)
	}

	// With a second admin, one may go; the survivor is then the last.
	deputy := f.newAdmin(t, "deputy@example.com")
	decode[userBody](t, f.do(t, "PATCH", userPath(deputy.user.ID), `{"is_active":false}`, root.tokens.AccessToken), http.StatusOK)
	// The deactivated admin's access token is still unexpired, yet refused
	// at once: deactivation ended its session.
	f.do(t, "GET", "/v1/admin/users", "", deputy.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
	f.do(t, "PATCH", userPath(root.user.ID), `{"role":"user"}`, deputy.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
	f.do(t, "PATCH", userPath(root.user.ID), `{"role":"user"}`, root.tokens.AccessToken).problem(t, http.StatusConflict, "last_admin")

	// A demoted admin's token, still claiming role admin, is refused too.
	decode[userBody](t, f.do(t, "PATCH", userPath(deputy.user.ID), `{"is_active":true}`, root.tokens.AccessToken), http.StatusOK)
	again := f.login(t, deputy.email, strongPassword)
	decode[userBody](t, f.do(t, "PATCH", userPath(deputy.user.ID), `{"role":"user"}`, root.tokens.AccessToken), http.StatusOK)
	f.do(t, "GET", "/v1/admin/users", "", again.AccessToken).problem(t, http.StatusForbidden, "forbidden")
}

func TestAdminRevokeSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "admin@example.com")
	a := f.newAccount(t, "target@example.com")
	b := f.login(t, a.email, strongPassword)
	revoke := func(id int64) response {
		t.Helper()
		return f.do(t, "POST", userPath(id)+"/sessions/revoke", "", admin.tokens.AccessToken)
	}
	if got := decode[map[string]int](t, revoke(a.user.ID), http.StatusOK); got["revoked"] != 2 {
		t.Errorf("revoked = %v, want 2", got)
	}
	for _, tok := range []tokenBody{a.tokens, b} {
		f.refresh(t, tok.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	}
	if got := decode[map[string]int](t, revoke(a.user.ID), http.StatusOK); got["revoked"] != 0 {
		t.Errorf("second revoke = %v, want 0", got)
	}
	revoke(99999).problem(t, http.StatusNotFound, "not_found")
	// The admin's own session is untouched.
	decode[tokenBody](t, f.refresh(t, admin.tokens.RefreshToken), http.StatusOK)
}

func TestAdminAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "admin@example.com")
	a := f.newAccount(t, "audited@example.com")
	f.do(t, "POST", "/v1/auth/login", credentials(a.email, otherPassword), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
	decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "refresh_token_reused")
	decode[userBody](t, f.do(t, "PATCH", userPath(a.user.ID), `{"is_active":false}`, admin.tokens.AccessToken), http.StatusOK)

	type page struct {
		Events    []eventBody `json:"events"`
		NextAfter *int64      `json:"next_after"`
	}
	list := func(query string) page {
		t.Helper()
		return decode[page](t, f.do(t, "GET", "/v1/admin/audit"+query, "", admin.tokens.AccessToken), http.StatusOK)
	}
	mine := list("?user_id=" + strconv.FormatInt(a.user.ID, 10))
	var types []string
	for _, e := range mine.Events {
		if e.UserID == nil || *e.UserID != a.user.ID {
			t.Errorf("user filter let through %+v", e)
		}
		types = append(types, e.Type)
	}
	for _, want := range []string{
		string(domain.EventUserRegistered), string(domain.EventLoginSucceeded), string(domain.EventLoginFailed),
		string(domain.EventRefreshReused), string(domain.EventUserDeactivated),
	} {
		if !slices.Contains(types, want) {
			t.Errorf("audit of the user lacks %s; has %v", want, types)
		}
	}
	for i := 1; i < len(mine.Events); i++ {
		if mine.Events[i].ID <= mine.Events[i-1].ID {
			t.Error("events are not oldest first")
		}
	}

	all := list("")
	if len(all.Events) <= len(mine.Events) {
		t.Errorf("unfiltered audit has %d events, the user's alone %d", len(all.Events), len(mine.Events))
	}
	first := list("?limit=2")
	if len(first.Events) != 2 || first.NextAfter == nil {
		t.Fatalf("limit=2 = %+v", first)
	}
	rest := list("?after=" + strconv.FormatInt(*first.NextAfter, 10))
	if len(rest.Events)+2 != len(all.Events) || rest.Events[0].ID <= first.Events[1].ID {
		t.Errorf("paging lost or repeated events: %d + 2 vs %d", len(rest.Events), len(all.Events))
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "user_id=x", "after=-1"} {
		f.do(t, "GET", "/v1/admin/audit?"+q, "", admin.tokens.AccessToken).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	}
}
