//go:build cluster

// The proofs of DESIGN.md's scale-out and reliability: real authd
// processes behind a real nginx, through a real PgBouncer, with an
// instance killed, and PostgreSQL, PgBouncer and PostgreSQL behind
// PgBouncer restarted, under load. make test-cluster runs them (go test -tags cluster -run
// '^TestCluster'); make test does not compile them. They run one at a
// time, not in parallel: each puts the machine under load and bounds the
// time of every answer.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authd/adapters/postgres/pgtest"
)

// clusterTimeout is the request deadline of the servers under load
// (AUTHD_REQUEST_TIMEOUT), shorter than the default so that a request
// stuck until it passes shows within the test's time.
const clusterTimeout = 5 * time.Second

// clusterEnv is the configuration of the servers under load.
var clusterEnv = []string{"AUTHD_REQUEST_TIMEOUT=" + clusterTimeout.String()}

// hostPort returns the address a server listens on.
func hostPort(s *server) string { return strings.TrimPrefix(s.URL, "http://") }

// metricSum adds up the samples of the metric name in a /metrics body
// whose labels contain each of match, such as `status="503"`.
func metricSum(t testing.TB, body, name string, match ...string) float64 {
	t.Helper()
	var sum float64
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		labels := rest[:i]
		matched := true
		for _, m := range match {
			matched = matched && strings.Contains(labels, m)
		}
		if !matched {
			continue
		}
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// refreshesServed is how many refresh requests s has answered.
func refreshesServed(t *testing.T, s *server) float64 {
	t.Helper()
	return metricSum(t, scrapeMetrics(t, s), "authd_http_requests_total", `route="/v1/auth/refresh"`)
}

// TestClusterBehindNginxThroughPgBouncer runs two authd instances behind
// nginx (round robin) on a PgBouncer in transaction mode that holds fewer
// server connections than one instance's pool: registration, logins,
// refresh chains whose consecutive requests land on different instances,
// logout, theft detection, the account and admin routes (the admin made by
// `authd create-admin` through the pooler), all without a single 5xx; then
// 50 parallel refreshes of one token spread over both instances: exactly
// one succeeds, and the reuse ends the winner's session too.
func TestClusterBehindNginxThroughPgBouncer(t *testing.T) {
	bin := nginxBinary(t)
	pooler := pgtest.StartPgBouncer(t, 4)
	direct := migratedDatabase(t)
	dsn := pooler.DSN(t, direct)
	// Both instances name the proxy as issuer and sign with one key: a
	// token from either is good at the other.
	listen := freeAddr(t)
	issuer := "http://" + listen
	opts := serverOptions{DSN: dsn, KeyFile: genKeyFile(t), Env: append([]string{
		"AUTHD_ISSUER=" + issuer, "AUTHD_TRUSTED_PROXIES=127.0.0.1/32",
	}, clusterEnv...)}
	instances := []*server{startServer(t, opts), startServer(t, opts)}
	proxy := startNginx(t, bin, listen, hostPort(instances[0]), hostPort(instances[1]))
	var total, failures atomic.Int64
	api := newAPIClient(t, proxy)
	api.hc.Transport = statusCounter{base: api.hc.Transport, total: &total, failures: &failures}
	password := newPassword(t)
	for _, s := range instances {
		s.forbid(password)
	}

	// Refresh chains: each rotation and each /me goes to the next instance.
	const workers, rotations = 6, 15
	users := make([]userJSON, workers)
	emails := make([]string, workers)
	for w := range workers {
		emails[w] = newEmail(t, "chain")
		users[w] = api.register(emails[w], password)
	}
	logins := make([]tokenResponse, workers)
	for w := range workers {
		logins[w] = api.login(emails[w], password)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			tokens := logins[w]
			for i := range rotations {
				r, err := api.try(t.Context(), "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": tokens.RefreshToken})
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("worker %d, rotation %d: %v %+v", w, i+1, err, r)
					return
				}
				if err := json.Unmarshal(r.Body, &tokens); err != nil {
					t.Error(err)
					return
				}
				var me userJSON
				r, err = api.try(t.Context(), "GET", "/v1/users/me", tokens.AccessToken, nil)
				if err != nil || r.Status != http.StatusOK || json.Unmarshal(r.Body, &me) != nil || me.ID != users[w].ID {
					t.Errorf("worker %d, /v1/users/me after rotation %d: %v %+v", w, i+1, err, r)
					return
				}
			}
			for _, req := range []struct {
				path   string
				status int
			}{{"/v1/auth/logout", http.StatusNoContent}, {"/v1/auth/logout", http.StatusNoContent}, {"/v1/auth/refresh", http.StatusUnauthorized}} {
				r, err := api.try(t.Context(), "POST", req.path, "", map[string]string{"refresh_token": tokens.RefreshToken})
				if err != nil || r.Status != req.status {
					t.Errorf("worker %d: %s after the chain: %v %+v, want %d", w, req.path, err, r, req.status)
				}
			}
		})
	}
	wg.Wait()
	for i, s := range instances {
		if n := refreshesServed(t, s); n < workers*rotations/4 {
			t.Errorf("instance %d answered %v of %d refreshes: nginx did not spread them", i, n, workers*rotations)
		}
	}

	// Theft detection, the token rotated on one instance and replayed on the other.
	email := emails[0]
	t1 := api.login(email, password)
	t2 := api.refresh(t1.RefreshToken).want(t, http.StatusOK).tokens(t)
	api.refresh(t1.RefreshToken).want(t, http.StatusUnauthorized, "refresh_token_reused")
	api.refresh(t2.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	jwks := fetchJWKS(t, api, proxy+"/.well-known/jwks.json")
	if got := verifyAccessToken(t, jwks, t2.AccessToken, issuer).Sub; got != strconv.FormatInt(users[0].ID, 10) {
		t.Errorf("sub = %s, want %d", got, users[0].ID)
	}

	// The admin, created by the CLI through the pooler.
	adminEmail, adminPassword := newEmail(t, "root"), newPassword(t)
	for _, s := range instances {
		s.forbid(adminPassword)
	}
	stdout, stderr, code := runAuthd(t, append([]string{"DATABASE_URL=" + dsn}, cheapEnv...), adminPassword+"\n", "create-admin", "--email", adminEmail)
	if code != 0 || !strings.Contains(stdout, "created admin") {
		t.Fatalf("create-admin exited %d: %s%s", code, stdout, stderr)
	}
	admin := api.login(adminEmail, adminPassword).AccessToken
	var list struct {
		Users []userJSON `json:"users"`
	}
	api.do("GET", "/v1/admin/users?limit=50", admin, nil).want(t, http.StatusOK).decode(t, &list)
	if len(list.Users) != workers+1 {
		t.Errorf("the admin's user list has %d users, want %d", len(list.Users), workers+1)
	}
	target := fmt.Sprintf("/v1/admin/users/%d", users[1].ID)
	api.do("GET", target, admin, nil).want(t, http.StatusOK)
	session := api.login(emails[1], password)
	api.do("PATCH", target, admin, map[string]any{"is_active": false}).want(t, http.StatusOK)
	// Every instance sees the deactivation at once: it lives in the database.
	for _, s := range instances {
		s.API.refresh(session.RefreshToken).want(t, http.StatusForbidden, "account_disabled")
		s.API.do("GET", "/v1/users/me", session.AccessToken, nil).want(t, http.StatusUnauthorized, "invalid_token")
	}
	api.do("PATCH", target, admin, map[string]any{"is_active": true}).want(t, http.StatusOK)
	// A promotion counts on every instance at once, and so does the demotion.
	promoted := api.login(emails[1], password).AccessToken
	api.do("PATCH", target, admin, map[string]any{"role": "admin"}).want(t, http.StatusOK)
	for _, s := range instances {
		s.API.do("GET", "/v1/admin/users?limit=1", promoted, nil).want(t, http.StatusOK)
	}
	api.do("PATCH", target, admin, map[string]any{"role": "user"}).want(t, http.StatusOK)
	for _, s := range instances {
		s.API.do("GET", "/v1/admin/users?limit=1", promoted, nil).want(t, http.StatusForbidden, "forbidden")
	}
	everywhere := api.login(emails[2], password)
	api.do("POST", "/v1/auth/logout-all", everywhere.AccessToken, nil).want(t, http.StatusNoContent)
	api.refresh(everywhere.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	api.do("GET", "/readyz", "", nil).want(t, http.StatusOK)

	// 50 parallel refreshes of one token through the proxy.
	const n = 50
	before := []float64{refreshesServed(t, instances[0]), refreshesServed(t, instances[1])}
	login := api.login(emails[3], password)
	winners, reused := parallelRefreshes(t, n, login.RefreshToken,
		func(int) *apiClient { return api },
		func(i int) string { return fmt.Sprintf("parallel refresh %d", i) })
	for i, s := range instances {
		if got := refreshesServed(t, s) - before[i]; got == 0 {
			t.Errorf("instance %d answered none of the %d parallel refreshes", i, n)
		} else {
			t.Logf("instance %d answered %v of the %d parallel refreshes", i, got, n)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d parallel refreshes succeeded, want exactly 1", len(winners), n)
	}
	if reused == 0 {
		t.Error("no parallel refresh was answered refresh_token_reused")
	}
	for _, s := range instances {
		s.API.refresh(winners[0].RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	}

	families, ended := checkFamilies(t, pgtest.Open(t, direct))
	t.Logf("database: %d families, %d ended", families, ended)
	for i, s := range instances {
		if n := metricSum(t, scrapeMetrics(t, s), "authd_http_requests_total", `status="5`); n != 0 {
			t.Errorf("instance %d answered %v requests with a 5xx", i, n)
		}
		if strings.Contains(s.Logs(), `"level":"ERROR"`) {
			t.Errorf("instance %d logged errors:\n%s", i, s.Logs())
		}
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d responses through nginx were 5xx", n, total.Load())
	}
	t.Logf("%d responses through nginx and PgBouncer, none 5xx", total.Load())
}

// TestClusterKillInstanceUnderRefreshLoad kills one of two authd
// instances with SIGKILL while clients rotate their refresh chains through
// both: a client whose request was lost with the instance presents the
// same token to the other one, which either rotates it (the lost request
// never reached the database) or, if the lost request had rotated it,
// answers refresh_token_reused and ends the session; the client then logs
// in again. Nothing else may fail, and afterwards the database holds every
// token answered and no family breaks the invariants.
func TestClusterKillInstanceUnderRefreshLoad(t *testing.T) {
	dsn := migratedDatabase(t)
	opts := serverOptions{DSN: dsn, KeyFile: genKeyFile(t), Env: clusterEnv}
	survivor, victim := startServer(t, opts), startServer(t, opts)
	l := startLoad(t, loadOptions{
		Targets:  []*apiClient{survivor.API, victim.API},
		Clients:  8,
		Deadline: clusterTimeout + time.Second,
		Limit:    time.Minute,
		// Only requests to the killed instance may fail, and only by
		// losing their connection (or finding none).
		Tolerated: func(target int, _ *apiResponse, err error) bool { return target == 1 && err != nil },
	})
	time.Sleep(2 * time.Second)
	inFlight := l.waitInFlight(1, 3, 2*time.Second)
	l.failing()
	victim.kill(t)
	t.Logf("killed instance 1 with %d requests in flight to it", inFlight)
	time.Sleep(2 * time.Second)
	l.finish()
	l.checkDatabase(t, pgtest.Open(t, dsn))
	l.refreshHeld(t, survivor.API)
}

// outageUnderLoad runs a load of refreshes and /v1/users/me on s, calls
// down, leaves the outage a moment, calls up, and waits for /readyz to
// answer 200 again, without restarting s. During the outage the only
// failure accepted is 503 database_unavailable, each answered within the
// request deadline; after it, everything must succeed again.
func outageUnderLoad(t *testing.T, s *server, direct string, down, up func()) {
	t.Helper()
	l := startLoad(t, loadOptions{
		Targets:  []*apiClient{s.API},
		Clients:  6,
		Me:       true,
		Deadline: clusterTimeout + time.Second,
		Limit:    2 * time.Minute,
		Tolerated: func(_ int, r *apiResponse, err error) bool {
			return err == nil && r.Status == http.StatusServiceUnavailable && r.code(t) == "database_unavailable"
		},
	})
	time.Sleep(1500 * time.Millisecond)
	l.failing()
	down()
	time.Sleep(time.Second)
	s.API.do("GET", "/readyz", "", nil).want(t, http.StatusServiceUnavailable, "database_unavailable")
	time.Sleep(time.Second)
	up()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		r, err := s.API.try(ctx, "GET", "/readyz", "", nil)
		cancel()
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%d %s", r.Status, r.Body)
			}
			t.Fatalf("/readyz 30s after the database returned: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.recovered()
	time.Sleep(2 * time.Second)
	l.finish()
	l.checkDatabase(t, pgtest.Open(t, direct))
	l.refreshHeld(t, s.API)
	if strings.Contains(s.Logs(), `"level":"ERROR"`) {
		t.Errorf("the outage was logged as an internal error:\n%s", s.Logs())
	}
}

// TestClusterPostgresRestartUnderLoad stops PostgreSQL (a fast shutdown,
// which ends every session) and starts it again while clients refresh and
// call /v1/users/me on authd.
func TestClusterPostgresRestartUnderLoad(t *testing.T) {
	pg := pgtest.StartCluster(t, "authd")
	migrate(t, pg.DSN())
	s := startServer(t, serverOptions{DSN: pg.DSN(), Env: clusterEnv})
	outageUnderLoad(t, s, pg.DSN(), func() { pg.Stop(t) }, func() { pg.Start(t) })
}

// TestClusterPgBouncerRestartUnderLoad is TestClusterPostgresRestartUnderLoad
// with authd on a PgBouncer in transaction mode, which is stopped (its
// clients' connections closed at once) and started again on its address.
func TestClusterPgBouncerRestartUnderLoad(t *testing.T) {
	pooler := pgtest.StartPgBouncer(t, 4)
	direct := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: pooler.DSN(t, direct), Env: clusterEnv})
	outageUnderLoad(t, s, direct, func() { pooler.Stop(t) }, func() { pooler.Start(t) })
}

// TestClusterPostgresRestartBehindPgBouncer is
// TestClusterPostgresRestartUnderLoad with authd on a PgBouncer in front
// of the cluster: the pooler stays up while its server goes away.
func TestClusterPostgresRestartBehindPgBouncer(t *testing.T) {
	pg := pgtest.StartCluster(t, "authd")
	migrate(t, pg.DSN())
	pooler := pgtest.StartPgBouncerFor(t, pg.DSN(), 4)
	s := startServer(t, serverOptions{DSN: pooler.DSN(t, pg.DSN()), Env: clusterEnv})
	outageUnderLoad(t, s, pg.DSN(), func() { pg.Stop(t) }, func() { pg.Start(t) })
}
