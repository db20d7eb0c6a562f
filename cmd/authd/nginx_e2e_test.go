package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"authd/adapters/postgres/pgtest"
)

// TestBehindNginx runs a real nginx in front of authd, which trusts it
// (AUTHD_TRUSTED_PROXIES=127.0.0.1/32): clients connecting to nginx from
// distinct loopback addresses get a registration limit each and see their
// own address in their sessions and the audit trail, whatever they write in
// X-Forwarded-For; a client connecting to authd directly is keyed by its own
// address, whatever X-Forwarded-For it forges.
func TestBehindNginx(t *testing.T) {
	t.Parallel()
	bin := nginxBinary(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: []string{
		"AUTHD_RATE_LIMITS=on",
		"AUTHD_TRUSTED_PROXIES=127.0.0.1/32",
	}})
	proxy := startNginx(t, bin, "", strings.TrimPrefix(s.URL, "http://"))
	forged := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }

	// alice (127.0.0.2, through nginx) forges an entry left of her address.
	alice := newAPIClientFrom(t, proxy, "127.0.0.2", forged("127.0.0.9"))
	bob := newAPIClientFrom(t, proxy, "127.0.0.3", nil)
	// carol stands behind another trusted proxy (127.0.0.1) that names her.
	carol := newAPIClientFrom(t, proxy, "127.0.0.1", forged("203.0.113.7"))
	// dave sends garbage, which nginx puts left of his address.
	dave := newAPIClientFrom(t, proxy, "127.0.0.5", forged("garbage, , ;"))

	password := newPassword(t)
	s.forbid(password)
	// Registration allows 10 per minute per client address (DESIGN.md).
	var aliceEmails []string
	for range 10 {
		email := newEmail(t, "alice")
		alice.register(email, password)
		aliceEmails = append(aliceEmails, email)
	}
	alice.do("POST", "/v1/auth/register", "", map[string]string{"email": newEmail(t, "alice"), "password": password}).
		want(t, http.StatusTooManyRequests, "rate_limited")

	// Every other client still has its own budget.
	sessionIP := func(c *apiClient, email string) string {
		t.Helper()
		tokens := c.login(email, password)
		var list struct {
			Sessions []struct {
				IP string `json:"ip"`
			} `json:"sessions"`
		}
		c.do("GET", "/v1/users/me/sessions", tokens.AccessToken, nil).want(t, http.StatusOK).decode(t, &list)
		if len(list.Sessions) == 0 {
			t.Fatalf("%s has no session", email)
		}
		return list.Sessions[len(list.Sessions)-1].IP
	}
	want := map[string]string{}
	for name, c := range map[string]*apiClient{"bob": bob, "carol": carol, "dave": dave} {
		email := newEmail(t, name)
		c.register(email, password)
		want[email] = map[string]string{"bob": "127.0.0.3", "carol": "203.0.113.7", "dave": "127.0.0.5"}[name]
		if got := sessionIP(c, email); got != want[email] {
			t.Errorf("%s's session shows %q, want %s", name, got, want[email])
		}
	}
	if got := sessionIP(alice, aliceEmails[0]); got != "127.0.0.2" {
		t.Errorf("alice's session shows %q, want 127.0.0.2 (not the forged 127.0.0.9, not nginx's 127.0.0.1)", got)
	}

	// Straight to authd, X-Forwarded-For is not believed: from alice's
	// address the limit is spent whatever the header claims, and from a
	// fresh address a claim to be alice does not spend it.
	direct := newAPIClientFrom(t, s.URL, "127.0.0.2", forged("127.0.0.6"))
	direct.do("POST", "/v1/auth/register", "", map[string]string{"email": newEmail(t, "mallory"), "password": password}).
		want(t, http.StatusTooManyRequests, "rate_limited")
	eve := newAPIClientFrom(t, s.URL, "127.0.0.4", http.Header{"X-Forwarded-For": {"127.0.0.2"}, "Forwarded": {"for=127.0.0.2"}})
	eveEmail := newEmail(t, "eve")
	eve.register(eveEmail, password)
	if got := sessionIP(eve, eveEmail); got != "127.0.0.4" {
		t.Errorf("eve's session shows %q, want her own 127.0.0.4", got)
	}

	// The audit trail saw the same addresses.
	db := pgtest.Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ips []string
	if err := db.NewSelect().Table("auth_events").ColumnExpr("DISTINCT ip").Where("type = 'login_succeeded'").Scan(ctx, &ips); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ips)
	if wantIPs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "203.0.113.7"}; !slices.Equal(ips, wantIPs) {
		t.Errorf("login audit IPs = %v, want %v", ips, wantIPs)
	}

	// A request id too long to keep is replaced, through nginx too.
	r := newAPIClientFrom(t, proxy, "127.0.0.2", http.Header{"X-Request-Id": {strings.Repeat("r", 10<<10)}}).
		do("GET", "/healthz", "", nil).want(t, http.StatusOK)
	if id := r.Header.Get("X-Request-ID"); len(id) != 36 {
		t.Errorf("X-Request-ID = %.40q, want a generated id", id)
	}
}

// nginxBinary returns the nginx binary, skipping the test when there is
// none, except in CI, where .ci/deps.sh (run by make test) installs it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	const msg = "nginx is not installed (.ci/deps.sh nginx installs it; make test runs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// nginxConfig is a whole nginx configuration of its own: one process in
// the foreground, every file under the prefix, a reverse proxy to one or
// more authd instances (round robin, nginx's default) that appends the
// client's address to X-Forwarded-For.
const nginxConfig = `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events {
	# A proxied request holds two connections: room for a few hundred at once.
	worker_connections 1024;
}
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	# Room for the test's 10 KB X-Request-ID, which authd must replace.
	large_client_header_buffers 4 32k;
	upstream authd {
%[3]s	}
	server {
		listen %[2]s;
		location / {
			proxy_pass http://authd;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		}
	}
}
`

// startNginx runs nginx on listen (a free 127.0.0.1 port when empty) in
// front of the upstreams, host:port each, taken in turn, and returns its
// base URL. It stops when the test ends, and dies with the test process if
// that dies first.
func startNginx(t *testing.T, bin, listen string, upstreams ...string) string {
	t.Helper()
	dir := t.TempDir()
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "\t\tserver %s;\n", u)
	}
	for attempt := 1; ; attempt++ {
		addr := listen
		if addr == "" {
			addr = freeAddr(t)
		}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConfig, dir, addr, servers.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = logs, logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nginx: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		errorLog := func() string {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return logs.String() + string(b)
		}
		if err := waitTCP(addr, done, 20*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-done
			out := errorLog()
			if listen == "" && attempt < 3 && strings.Contains(out, "Address already in use") {
				continue
			}
			t.Fatalf("nginx did not start: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("nginx did not stop within 10s of SIGTERM; killing it\n%s", errorLog())
				_ = cmd.Process.Kill()
				<-done
			}
		})
		return "http://" + addr
	}
}

// waitTCP waits until addr accepts connections, the process behind done
// exits, or limit passes.
func waitTCP(addr string, done <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("nginx exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not accept connections in %s", addr, limit)
}
