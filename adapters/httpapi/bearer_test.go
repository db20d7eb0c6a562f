package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// TestAccessTokenDiesWithItsSession: every way of ending a session makes
// the same, unexpired access token answer 401 invalid_token at once on
// authd's Bearer routes, /v1/users/me and the admin routes alike.
func TestAccessTokenDiesWithItsSession(t *testing.T) {
	t.Parallel()
	passwordChange := func(current, next string) string {
		b, _ := json.Marshal(map[string]string{"current_password": current, "new_password": next})
		return string(b)
	}
	cases := []struct {
		name string
		// end ends the session of target.tokens, acting as target (from
		// another session, other) or as root, another admin.
		end func(t *testing.T, f *fixture, root, target account, other tokenBody)
	}{
		{"log out everywhere", func(t *testing.T, f *fixture, _, _ account, other tokenBody) {
			f.do(t, "POST", "/v1/auth/logout-all", "", other.AccessToken).wantStatus(t, http.StatusNoContent)
		}},
		{"password change from another session", func(t *testing.T, f *fixture, _, _ account, other tokenBody) {
			f.do(t, "POST", "/v1/users/me/password", passwordChange(strongPassword, "Nw5&tG1^cX8z%eU3"), other.AccessToken).
				wantStatus(t, http.StatusNoContent)
		}},
		{"admin revokes the user's sessions", func(t *testing.T, f *fixture, root, target account, _ tokenBody) {
			f.do(t, "POST", userPath(target.user.ID)+"/sessions/revoke", "", root.tokens.AccessToken).wantStatus(t, http.StatusOK)
		}},
		{"admin deactivates the user", func(t *testing.T, f *fixture, root, target account, _ tokenBody) {
			f.do(t, "PATCH", userPath(target.user.ID), `{"is_active":false}`, root.tokens.AccessToken).wantStatus(t, http.StatusOK)
		}},
		{"logout with the session's refresh token", func(t *testing.T, f *fixture, _, target account, _ tokenBody) {
			f.do(t, "POST", "/v1/auth/logout", refreshJSON(target.tokens.RefreshToken), "").wantStatus(t, http.StatusNoContent)
		}},
		{"the session deleted from another session", func(t *testing.T, f *fixture, _, target account, other tokenBody) {
			sid := jwtClaims(t, target.tokens.AccessToken)["sid"].(string)
			f.do(t, "DELETE", "/v1/users/me/sessions/"+sid, "", other.AccessToken).wantStatus(t, http.StatusNoContent)
		}},
		{"the access token revoked (RFC 7009)", func(t *testing.T, f *fixture, _, target account, _ tokenBody) {
			f.form(t, "/oauth/revoke", url.Values{"token": {target.tokens.AccessToken}, "token_type_hint": {"access_token"}}).
				wantStatus(t, http.StatusOK)
		}},
	}
	routes := []struct{ method, path string }{
		{"GET", "/v1/users/me"},
		{"GET", "/v1/users/me/sessions"},
		{"GET", "/v1/admin/users"},
		{"GET", "/v1/admin/audit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			root := f.newAdmin(t, "root@example.com")
			target := f.newAdmin(t, "target@example.com")
			other := f.login(t, target.email, strongPassword)
			for _, rt := range routes {
				f.do(t, rt.method, rt.path, "", target.tokens.AccessToken).wantStatus(t, http.StatusOK)
			}

			c.end(t, f, root, target, other)

			for _, rt := range routes {
				r := f.do(t, rt.method, rt.path, "", target.tokens.AccessToken)
				r.problem(t, http.StatusUnauthorized, "invalid_token")
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
					t.Errorf("%s %s: WWW-Authenticate = %q", rt.method, rt.path, got)
				}
			}
			f.do(t, "POST", "/v1/auth/logout-all", "", target.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
			if r := f.refresh(t, target.tokens.RefreshToken); r.status != http.StatusForbidden { // account_disabled after deactivation
				r.problem(t, http.StatusUnauthorized, "invalid_refresh_token")
			}
			// Another admin's session is untouched.
			f.do(t, "GET", "/v1/admin/users", "", root.tokens.AccessToken).wantStatus(t, http.StatusOK)
		})
	}
}

// TestRevokingAnAccessTokenEndsOnlyItsSession: /oauth/revoke with an access
// token ends that token's session, not the user's others, and answers 200
// for tokens it cannot use.
func TestRevokingAnAccessTokenEndsOnlyItsSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "revoke-at@example.com")
	keep := f.login(t, a.email, strongPassword)
	f.form(t, "/oauth/revoke", url.Values{"token": {a.tokens.AccessToken}}).wantStatus(t, http.StatusOK)
	f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", keep.AccessToken), http.StatusOK)
	decode[tokenBody](t, f.refresh(t, keep.RefreshToken), http.StatusOK)

	// Revoking it again, or an expired one, changes nothing and answers 200.
	f.form(t, "/oauth/revoke", url.Values{"token": {a.tokens.AccessToken}}).wantStatus(t, http.StatusOK)
	later := f.login(t, a.email, strongPassword)
	f.clock.Advance(2 * time.Hour)
	f.form(t, "/oauth/revoke", url.Values{"token": {later.AccessToken}}).wantStatus(t, http.StatusOK)
	decode[tokenBody](t, f.refresh(t, later.RefreshToken), http.StatusOK)
}

// TestBearerRoutesReadTheCallerOnce: authenticating a request costs one
// repository lookup, which also gives the handlers the caller's account.
func TestBearerRoutesReadTheCallerOnce(t *testing.T) {
	t.Parallel()
	users := &countingUserRepo{}
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: users.wrap})
	root := f.newAdmin(t, "root@example.com")
	for _, path := range []string{"/v1/users/me", userPath(root.user.ID)} {
		users.reset()
		f.do(t, "GET", path, "", root.tokens.AccessToken).wantStatus(t, http.StatusOK)
		want := int64(1)
		if path != "/v1/users/me" {
			want = 2 // the caller, then the user asked for
		}
		if got := users.calls.Load(); got != want {
			t.Errorf("GET %s: %d user lookups, want %d", path, got, want)
		}
	}
}

// countingUserRepo counts the reads made through the repository it wraps.
type countingUserRepo struct {
	ports.UserRepository
	calls atomic.Int64
}

func (r *countingUserRepo) wrap(inner ports.UserRepository) ports.UserRepository {
	r.UserRepository = inner
	return r
}

func (r *countingUserRepo) reset() { r.calls.Store(0) }

func (r *countingUserRepo) ByID(ctx context.Context, id domain.UserID) (*domain.User, error) {
	r.calls.Add(1)
	return r.UserRepository.ByID(ctx, id)
}

func (r *countingUserRepo) ByLiveSession(ctx context.Context, sid uuid.UUID, now time.Time) (*domain.User, error) {
	r.calls.Add(1)
	return r.UserRepository.ByLiveSession(ctx, sid, now)
}
