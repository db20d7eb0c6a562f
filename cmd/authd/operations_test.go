package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"authd/adapters/postgres/pgtest"
)

// TestDrainBeforeStopping sends SIGTERM to a server with a drain: /readyz
// answers 503 shutting_down at once while every other route is still
// served, and only then does the listener close and the process exit 0.
func TestDrainBeforeStopping(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{DSN: migratedDatabase(t), Env: []string{"AUTHD_SHUTDOWN_DRAIN=3s"}})
	s.API.do("GET", "/readyz", "", nil).want(t, http.StatusOK)
	email, password := newEmail(t, "dora"), newPassword(t)
	s.forbid(password)
	s.API.register(email, password)

	start := time.Now()
	s.terminate(t)
	deadline := time.Now().Add(2 * time.Second)
	for {
		r := s.API.do("GET", "/readyz", "", nil)
		if r.Status == http.StatusServiceUnavailable {
			r.want(t, http.StatusServiceUnavailable, "shutting_down")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answered %d after SIGTERM", r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Still serving: health, a login and a refresh.
	s.API.do("GET", "/healthz", "", nil).want(t, http.StatusOK)
	tr := s.API.login(email, password)
	s.forbid(tr.RefreshToken, tr.AccessToken)
	s.API.refresh(tr.RefreshToken).want(t, http.StatusOK)

	if code := s.stop(t); code != 0 {
		t.Fatalf("authd exited %d after draining", code)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("authd stopped %s after SIGTERM, before its 3s drain", d)
	}
	if resp, err := http.Get(s.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the listener still answers after the process exited")
	}
	if !strings.Contains(s.Logs(), `"msg":"draining"`) {
		t.Errorf("no draining line in the logs:\n%s", s.Logs())
	}
}

// TestJanitorRunsInTheServer ages an audit event past its retention: the
// server's janitor deletes it within a pass and counts it in
// authd_pruned_rows_total.
func TestJanitorRunsInTheServer(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	db := pgtest.Open(t, dsn)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "INSERT INTO auth_events (type, created_at) VALUES ('login_failed', now() - interval '500 days'), ('login_failed', now())"); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOptions{DSN: dsn, Env: []string{"AUTHD_PRUNE_INTERVAL=1s"}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := db.NewRaw("SELECT count(*) FROM auth_events").Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit events after 20s, want the old one pruned", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The pass counts what it deleted once it has gone over every table.
	for {
		body := scrape(t, s.MetricsURL)
		if strings.Contains(body, `authd_pruned_rows_total{table="auth_events"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics do not count the pruned event:\n%s", grepLines(body, "authd_pruned"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrape returns the metrics page at base.
func scrape(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestPruneCommand runs `authd prune` once against a database holding an
// ended session from long ago and a recent one.
func TestPruneCommand(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	db := pgtest.Open(t, dsn)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `
		INSERT INTO users (id, email, hashed_password) VALUES (1, 'ed@example.com', 'x');
		INSERT INTO token_families (id, user_id, expires_at, revoked_at) VALUES
			('11111111-1111-1111-1111-111111111111', 1, now() + interval '30 days', now() - interval '8 days'),
			('22222222-2222-2222-2222-222222222222', 1, now() + interval '30 days', now() - interval '6 days');
		INSERT INTO refresh_tokens (token, token_family, user_id, expires_at, revoked_at) VALUES
			('a', '11111111-1111-1111-1111-111111111111', 1, now() + interval '1 day', now() - interval '8 days'),
			('b', '22222222-2222-2222-2222-222222222222', 1, now() + interval '1 day', now() - interval '6 days')`); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runAuthd(t, []string{"DATABASE_URL=" + dsn}, "", "prune")
	if code != 0 {
		t.Fatalf("authd prune exited %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "token_families: 1 rows") {
		t.Errorf("prune printed:\n%s", stdout)
	}
	var left []string
	if err := db.NewRaw("SELECT token FROM refresh_tokens ORDER BY token").Scan(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, ",") != "b" {
		t.Errorf("tokens left = %v, want only the recent session's", left)
	}
	if _, stderr, code := runAuthd(t, []string{"DATABASE_URL=" + dsn}, "", "prune", "extra"); code == 0 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("prune with an argument: exit %d, %s", code, stderr)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
