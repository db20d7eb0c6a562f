package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"authd/adapters/postgres/pgtest"
)

// TestParallelRefreshAcrossProcesses presents one refresh token many times
// at once to two authd processes sharing a database: exactly one request
// may win, and the reuse ends the session for the winner too.
func TestParallelRefreshAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	key := genKeyFile(t)
	servers := []*server{
		startServer(t, serverOptions{DSN: dsn, KeyFile: key}),
		startServer(t, serverOptions{DSN: dsn, KeyFile: key}),
	}
	email, password := newEmail(t, "dave"), newPassword(t)
	servers[0].API.register(email, password)

	const rounds, n = 3, 20
	for round := range rounds {
		login := servers[round%2].API.login(email, password)
		winners, reused := parallelRefreshes(t, n, login.RefreshToken,
			func(i int) *apiClient { return servers[i%2].API },
			func(i int) string { return fmt.Sprintf("round %d, request %d (server %d)", round, i, i%2) })
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d parallel refreshes succeeded, want exactly 1", round, len(winners), n)
		}
		if reused == 0 {
			t.Errorf("round %d: no request was answered refresh_token_reused", round)
		}
		// The reuse revoked the family, so the winner's successor is dead too.
		for _, s := range servers {
			s.API.refresh(winners[0].RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
		}
	}
}

// parallelRefreshes presents token in n refreshes at once, the i-th
// through api(i), and returns the tokens of those that succeeded and how
// many were answered refresh_token_reused. Any answer but those and 401
// invalid_refresh_token fails t, the request named by label(i).
func parallelRefreshes(t *testing.T, n int, token string, api func(i int) *apiClient, label func(i int) string) (winners []tokenResponse, reused int) {
	t.Helper()
	type result struct {
		status int
		code   string
		tokens tokenResponse
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := api(i)
			<-start
			r, err := a.try(t.Context(), "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": token})
			if err != nil {
				t.Errorf("refresh %d: %v", i, err)
				return
			}
			results[i] = result{status: r.Status, code: r.code(t)}
			if r.Status == http.StatusOK {
				if err := json.Unmarshal(r.Body, &results[i].tokens); err != nil {
					t.Errorf("refresh %d: %v", i, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, r := range results {
		switch {
		case r.status == http.StatusOK:
			winners = append(winners, r.tokens)
		case r.status == http.StatusUnauthorized && r.code == "refresh_token_reused":
			reused++
		case r.status == http.StatusUnauthorized && r.code == "invalid_refresh_token":
		default:
			t.Errorf("%s: %d %q", label(i), r.status, r.code)
		}
	}
	return winners, reused
}

// startFailing runs `authd serve` expecting it to fail start-up quickly, and
// returns its output.
func startFailing(t *testing.T, env ...string) string {
	t.Helper()
	start := time.Now()
	// A port of its own for metrics, so that no other process's holds it.
	base := append([]string{"AUTHD_METRICS_ADDR=127.0.0.1:0"}, cheapEnv...)
	stdout, stderr, code := runAuthd(t, append(base, env...), "", "serve")
	if code == 0 {
		t.Fatalf("authd serve exited 0, want a failure\nstdout: %s\nstderr: %s", stdout, stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("authd took %s to fail start-up", d)
	}
	return stdout + stderr
}

func TestStartupFailures(t *testing.T) {
	t.Parallel()
	key := genKeyFile(t)
	unreachable := "postgres://postgres@127.0.0.1:1/authd?sslmode=disable"

	t.Run("busy port", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out := startFailing(t,
			"DATABASE_URL="+pgtest.DSN(t),
			"AUTHD_JWT_PRIVATE_KEY_FILE="+key,
			"HTTP_ADDR="+ln.Addr().String(),
		)
		if !strings.Contains(out, "HTTP_ADDR") || !strings.Contains(out, "address already in use") {
			t.Errorf("the failure does not name HTTP_ADDR and the cause:\n%s", out)
		}
	})

	t.Run("busy metrics port", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out := startFailing(t,
			"DATABASE_URL="+pgtest.DSN(t),
			"AUTHD_JWT_PRIVATE_KEY_FILE="+key,
			"HTTP_ADDR="+freeAddr(t),
			"AUTHD_METRICS_ADDR="+ln.Addr().String(),
		)
		if !strings.Contains(out, "AUTHD_METRICS_ADDR") || !strings.Contains(out, "address already in use") {
			t.Errorf("the failure does not name AUTHD_METRICS_ADDR and the cause:\n%s", out)
		}
	})

	t.Run("invalid port", func(t *testing.T) {
		t.Parallel()
		out := startFailing(t,
			"DATABASE_URL="+pgtest.DSN(t),
			"AUTHD_JWT_PRIVATE_KEY_FILE="+key,
			"HTTP_ADDR=127.0.0.1:99999",
		)
		if !strings.Contains(out, "HTTP_ADDR") {
			t.Errorf("the failure does not name HTTP_ADDR:\n%s", out)
		}
	})

	tests := []struct {
		name  string
		env   []string
		names string // what the message must contain
	}{
		{"bad duration", []string{"AUTHD_ACCESS_TOKEN_TTL=banana"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{"bad switch", []string{"AUTHD_RATE_LIMITS=maybe"}, "AUTHD_RATE_LIMITS"},
		{"bad address", []string{"HTTP_ADDR=nope"}, "HTTP_ADDR"},
		{"bad limit", []string{"AUTHD_FAILED_LOGINS_PER_IP=10/banana"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{"no database", []string{"DATABASE_URL="}, "DATABASE_URL"},
		{"no key", []string{"AUTHD_JWT_PRIVATE_KEY_FILE="}, "AUTHD_JWT_PRIVATE_KEY_FILE"},
		{"missing key file", []string{"AUTHD_JWT_PRIVATE_KEY_FILE=/nonexistent/key.pem"}, "AUTHD_JWT_PRIVATE_KEY_FILE"},
		{"bad key file", []string{"AUTHD_JWT_PRIVATE_KEY_FILE=" + writeFile(t, "not a key")}, "AUTHD_JWT_PRIVATE_KEY_FILE"},
		{"bad extra key", []string{"AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES=/nonexistent/pub.pem"}, "AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES"},
		{"malformed database URL", []string{"DATABASE_URL=::not a url::"}, "DATABASE_URL"},
		{"unreachable database", []string{"AUTHD_DB_DIAL_TIMEOUT=1s"}, "database"},
		{"unreachable database with a password", []string{"DATABASE_URL=postgres://u:Pg-Secret-42@127.0.0.1:1/x?sslmode=disable"}, "database"},
		{"malformed database URL with a password", []string{"DATABASE_URL=postgres://u:Pg-Secret-42@[::1/x"}, "DATABASE_URL"},
		{"bad trusted proxy", []string{"AUTHD_TRUSTED_PROXIES=10.0.0.0/8,10.0.0.0/33"}, "AUTHD_TRUSTED_PROXIES"},
		{"trusting everyone", []string{"AUTHD_TRUSTED_PROXIES=0.0.0.0/0"}, "AUTHD_TRUSTED_PROXIES"},
		{"CORS wildcard", []string{"AUTHD_CORS_ORIGINS=*"}, "AUTHD_CORS_ORIGINS"},
		{"CORS origin with a path", []string{"AUTHD_CORS_ORIGINS=https://app.example.com/app"}, "AUTHD_CORS_ORIGINS"},
		{"bad metrics address", []string{"AUTHD_METRICS_ADDR=nope"}, "AUTHD_METRICS_ADDR"},
		{"http issuer in prod", []string{"AUTHD_ISSUER=http://auth.example.com"}, "AUTHD_ISSUER"},
		{"public address without issuer in prod", []string{"HTTP_ADDR=0.0.0.0:0"}, "AUTHD_ISSUER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := []string{"DATABASE_URL=" + unreachable, "AUTHD_JWT_PRIVATE_KEY_FILE=" + key, "HTTP_ADDR=" + freeAddr(t)}
			out := startFailing(t, append(env, tc.env...)...)
			if !strings.Contains(out, tc.names) {
				t.Errorf("the failure does not name %s:\n%s", tc.names, out)
			}
			if strings.Contains(out, "Pg-Secret-42") {
				t.Errorf("the failure message shows the database password:\n%s", out)
			}
		})
	}
}

// writeFile writes content to a new file and returns its path.
func writeFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGracefulShutdown sends SIGTERM while a login is hashing its password:
// the login still completes and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	// Hashing heavy enough to take a noticeable while.
	s := startServer(t, serverOptions{DSN: migratedDatabase(t), Env: []string{
		"AUTHD_ARGON2_MEMORY_KIB=65536", "AUTHD_ARGON2_TIME=8",
	}})
	email, password := newEmail(t, "erin"), newPassword(t)
	s.API.register(email, password)

	type outcome struct {
		r   *apiResponse
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := s.API.try(context.Background(), "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
		done <- outcome{r, err}
	}()
	waitForHashInFlight(t, s)
	s.terminate(t)
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatalf("the login in flight at shutdown failed: %v\nlogs:\n%s", o.err, s.Logs())
		}
		o.r.want(t, http.StatusOK).tokens(t)
	case <-time.After(30 * time.Second):
		t.Fatal("the login in flight at shutdown did not finish")
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("authd exited %d after the signal; logs:\n%s", code, s.Logs())
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), time.Second); err == nil {
		t.Error("the port still accepts connections after exit")
	}
}

// waitForHashInFlight polls /metrics until a password hash is running.
func waitForHashInFlight(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		body := scrapeMetrics(t, s)
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "authd_password_hash_in_flight "); ok {
				if n, _ := strconv.ParseFloat(v, 64); n >= 1 {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no password hash was seen in flight")
}

// scrapeMetrics reads GET /metrics from the server's metrics listener.
func scrapeMetrics(t testing.TB, s *server) string {
	t.Helper()
	resp, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s/metrics: %d %s", s.MetricsURL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

// TestDatabaseOutage stops a private PostgreSQL cluster under a running
// authd: requests must answer 503 quickly, and the service must recover by
// itself when the database returns.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := pgtest.StartCluster(t, "authd")
	dsn := pg.DSN()
	migrate(t, dsn)

	s := startServer(t, serverOptions{DSN: dsn})
	api := s.API
	email, password := newEmail(t, "frank"), newPassword(t)
	api.register(email, password)
	before := api.login(email, password)
	// Rotate a few times first, so pooled connections hold the rotation's
	// prepared statements when the database goes away.
	for range 3 {
		before = api.refresh(before.RefreshToken).want(t, http.StatusOK).tokens(t)
	}
	api.do("GET", "/readyz", "", nil).want(t, http.StatusOK)

	pg.Stop(t)

	// Each request must answer 503 database_unavailable within a few seconds.
	quick := func(method, path string, body any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		r, err := api.try(ctx, method, path, "", body)
		took := time.Since(start)
		if err != nil {
			t.Errorf("%s %s during the outage: %v after %s", method, path, err, took)
			return
		}
		if r.Status != http.StatusServiceUnavailable || r.code(t) != "database_unavailable" {
			t.Errorf("%s %s during the outage: %d %s, want 503 database_unavailable", method, path, r.Status, r.Body)
		}
		if took > 5*time.Second {
			t.Errorf("%s %s during the outage took %s", method, path, took)
		}
	}
	quick("GET", "/readyz", nil)
	quick("POST", "/v1/auth/login", map[string]string{"email": email, "password": password})
	quick("POST", "/v1/auth/register", map[string]string{"email": newEmail(t, "gina"), "password": newPassword(t)})
	quick("POST", "/v1/auth/refresh", map[string]string{"refresh_token": before.RefreshToken})
	quick("GET", "/readyz", nil)
	// Liveness does not depend on the database.
	api.do("GET", "/healthz", "", nil).want(t, http.StatusOK)

	pg.Start(t)

	deadline := time.Now().Add(20 * time.Second)
	for {
		r := api.do("GET", "/readyz", "", nil)
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answers %d %s 20s after the database returned", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Pooled connections broken by the restart must not surface as errors.
	for range 3 {
		api.login(email, password)
	}
	for range 3 {
		before = api.refresh(before.RefreshToken).want(t, http.StatusOK).tokens(t)
	}
	api.register(newEmail(t, "hank"), newPassword(t))
	if strings.Contains(s.Logs(), `"level":"ERROR"`) {
		t.Errorf("the outage was logged as an internal error:\n%s", s.Logs())
	}
}
