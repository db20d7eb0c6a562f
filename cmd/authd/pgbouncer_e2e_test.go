package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"authd/adapters/postgres/pgtest"
)

// statusCounter counts the responses of a client that answered 5xx.
type statusCounter struct {
	base     http.RoundTripper
	total    *atomic.Int64
	failures *atomic.Int64
}

func (c statusCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err == nil {
		c.total.Add(1)
		if resp.StatusCode >= 500 {
			c.failures.Add(1)
		}
	}
	return resp, err
}

// TestEndToEndThroughPgBouncer runs a real authd process, with its default
// configuration, on a PgBouncer in transaction mode that holds fewer server
// connections than authd's pool, so that transactions of different
// requests share them: registration, logins, concurrent refresh chains,
// theft detection, the account routes, the admin routes and the OAuth
// endpoints must all work, without a single 5xx. The migrations and
// create-admin's first run go to PostgreSQL directly, as a deployment
// runs its migrations; create-admin runs through the pooler again later.
func TestEndToEndThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, 3)
	direct := migratedDatabase(t)
	dsn := pooler.DSN(t, direct)
	s := startServer(t, serverOptions{DSN: dsn})
	var total, failures atomic.Int64
	s.API.hc.Transport = statusCounter{base: s.API.hc.Transport, total: &total, failures: &failures}
	api := s.API
	// The log is read from a pipe: it may trail the first answer.
	s.waitForLog(t, `"statements":"named"`)

	// Concurrent refresh chains, one session per worker.
	const workers, rotations = 6, 20
	email, password := newEmail(t, "pool"), newPassword(t)
	s.forbid(password)
	user := api.register(email, password)
	var wg sync.WaitGroup
	for w := range workers {
		tokens := api.login(email, password)
		wg.Go(func() {
			rt := tokens.RefreshToken
			for i := range rotations {
				r, err := api.try(t.Context(), "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": rt})
				var next tokenResponse
				if err == nil && r.Status == http.StatusOK {
					err = json.Unmarshal(r.Body, &next)
				}
				if err != nil || r.Status != http.StatusOK || next.RefreshToken == "" {
					t.Errorf("worker %d, rotation %d: %v %+v", w, i+1, err, r)
					return
				}
				s.forbid(next.RefreshToken, next.AccessToken)
				rt = next.RefreshToken
			}
			// Logging out ends the chain.
			for _, req := range []struct {
				path   string
				status int
			}{{"/v1/auth/logout", http.StatusNoContent}, {"/v1/auth/refresh", http.StatusUnauthorized}} {
				r, err := api.try(t.Context(), "POST", req.path, "", map[string]string{"refresh_token": rt})
				if err != nil || r.Status != req.status {
					t.Errorf("worker %d: %s: %v %+v, want %d", w, req.path, err, r, req.status)
				}
			}
		})
	}
	wg.Wait()

	// Theft detection.
	t1 := api.login(email, password)
	t2 := api.refresh(t1.RefreshToken).want(t, http.StatusOK).tokens(t)
	api.refresh(t1.RefreshToken).want(t, http.StatusUnauthorized, "refresh_token_reused")
	api.refresh(t2.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")

	// The account routes.
	phone, laptop := api.login(email, password), api.login(email, password)
	s.forbid(t1.AccessToken, t2.AccessToken, phone.AccessToken, phone.RefreshToken, laptop.AccessToken, laptop.RefreshToken)
	var me userJSON
	api.do("GET", "/v1/users/me", laptop.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if me.ID != user.ID {
		t.Errorf("/v1/users/me = %+v, want user %d", me, user.ID)
	}
	var list struct {
		Sessions []sessionJSON `json:"sessions"`
	}
	api.do("GET", "/v1/users/me/sessions", laptop.AccessToken, nil).want(t, http.StatusOK).decode(t, &list)
	if len(list.Sessions) != 2 {
		t.Fatalf("sessions = %+v, want the phone's and the laptop's", list.Sessions)
	}
	for _, x := range list.Sessions {
		if !x.Current {
			api.do("DELETE", "/v1/users/me/sessions/"+x.ID, laptop.AccessToken, nil).want(t, http.StatusNoContent)
		}
	}
	api.refresh(phone.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	newPass := newPassword(t)
	s.forbid(newPass)
	api.do("POST", "/v1/users/me/password", laptop.AccessToken,
		map[string]string{"current_password": password, "new_password": newPass}).want(t, http.StatusNoContent)
	laptop = api.refresh(laptop.RefreshToken).want(t, http.StatusOK).tokens(t)
	s.forbid(laptop.AccessToken, laptop.RefreshToken)
	api.do("POST", "/v1/auth/logout-all", laptop.AccessToken, nil).want(t, http.StatusNoContent)
	api.refresh(laptop.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")

	// The admin routes; the first admin is created directly on PostgreSQL,
	// the second through the pooler.
	admins := make([]tokenResponse, 2)
	for i, db := range []string{direct, dsn} {
		adminEmail, adminPassword := newEmail(t, "root"), newPassword(t)
		s.forbid(adminPassword)
		env := append([]string{"DATABASE_URL=" + db}, cheapEnv...)
		if _, stderr, code := runAuthd(t, env, adminPassword+"\n", "create-admin", "--email", adminEmail); code != 0 {
			t.Fatalf("create-admin exited %d: %s", code, stderr)
		}
		admins[i] = api.login(adminEmail, adminPassword)
		s.forbid(admins[i].AccessToken, admins[i].RefreshToken)
	}
	admin := admins[0].AccessToken
	var users struct {
		Users []userJSON `json:"users"`
	}
	api.do("GET", "/v1/admin/users?limit=10", admin, nil).want(t, http.StatusOK).decode(t, &users)
	if len(users.Users) != 3 {
		t.Errorf("admin user list = %+v, want the user and two admins", users.Users)
	}
	target := fmt.Sprintf("/v1/admin/users/%d", user.ID)
	api.do("GET", target, admin, nil).want(t, http.StatusOK)
	session := api.login(email, newPass)
	s.forbid(session.AccessToken, session.RefreshToken)
	api.do("PATCH", target, admin, map[string]any{"is_active": false}).want(t, http.StatusOK)
	api.refresh(session.RefreshToken).want(t, http.StatusForbidden, "account_disabled")
	api.do("PATCH", target, admin, map[string]any{"is_active": true}).want(t, http.StatusOK)
	// The two admins demote each other at once: the transaction-scoped
	// advisory lock that guards the last admin works through the pooler.
	jwks := fetchJWKS(t, api, s.URL+"/.well-known/jwks.json")
	paths := make([]string, 2)
	for i, a := range admins {
		paths[1-i] = "/v1/admin/users/" + verifyAccessToken(t, jwks, a.AccessToken, s.URL).Sub
	}
	var demoted sync.WaitGroup
	statuses := make([]int, 2)
	for i, a := range admins {
		demoted.Go(func() {
			r, err := api.try(t.Context(), "PATCH", paths[i], a.AccessToken, map[string]any{"role": "user"})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.Status
		})
	}
	demoted.Wait()
	// The other is refused: 409 when both were authorised before either
	// committed, 403 when the first demotion committed before the second
	// request was authorised. Two 200s would leave no admin.
	slices.Sort(statuses)
	if statuses[0] != http.StatusOK || (statuses[1] != http.StatusForbidden && statuses[1] != http.StatusConflict) {
		t.Errorf("two admins demoting each other answered %v, want one 200 and one 409 (or 403)", statuses)
	}

	// The OAuth endpoints.
	o := api.login(email, newPass)
	r := api.do("POST", "/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.RefreshToken}}).
		want(t, http.StatusOK).tokens(t)
	s.forbid(o.AccessToken, o.RefreshToken, r.AccessToken, r.RefreshToken)
	api.do("POST", "/oauth/revoke", "", url.Values{"token": {r.RefreshToken}}).want(t, http.StatusOK)
	api.refresh(r.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	api.do("GET", "/readyz", "", nil).want(t, http.StatusOK)

	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d responses were 5xx", n, total.Load())
	}
	if strings.Contains(s.Logs(), `"level":"ERROR"`) {
		t.Errorf("the server logged errors:\n%s", s.Logs())
	}
	t.Logf("%d responses through PgBouncer, none 5xx", total.Load())
}
