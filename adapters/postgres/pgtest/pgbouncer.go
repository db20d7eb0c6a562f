package pgtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PgBouncer is a PgBouncer in transaction mode in front of the test server.
type PgBouncer struct {
	addr     string
	dir      string
	script   string
	poolSize int
	upstream []string
}

// StartPgBouncer starts a PgBouncer in transaction mode in front of the
// test server with .ci/pgbouncer.sh, holding at most poolSize server
// connections per database, and stops it when the test ends. Without a
// test server it skips or fails like DSN. When pgbouncer is not installed
// and cannot be (the script installs Debian's package as root only), it
// skips the test, except in CI, where it fails it.
func StartPgBouncer(t testing.TB, poolSize int) *PgBouncer {
	t.Helper()
	return StartPgBouncerFor(t, DSN(t), poolSize)
}

// StartPgBouncerFor is StartPgBouncer in front of the server of the admin
// DSN server, such as a Cluster's.
func StartPgBouncerFor(t testing.TB, server string, poolSize int) *PgBouncer {
	t.Helper()
	admin, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", server, err)
	}
	script := findScript(t, filepath.Join(".ci", "pgbouncer.sh"))
	if !installed() && os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgtest: pgbouncer is not installed and installing it needs root")
		}
		t.Skip("pgbouncer is not installed (as root, .ci/pgbouncer.sh install)")
	}
	dir := t.TempDir()
	// The script runs PgBouncer as the postgres OS user when run as root.
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the postgres user must enter the folder
		t.Fatal(err)
	}
	upstream := []string{"host=" + admin.Hostname(), "port=" + cmp.Or(admin.Port(), "5432"), "user=" + cmp.Or(admin.User.Username(), "postgres")}
	if pw, ok := admin.User.Password(); ok {
		upstream = append(upstream, "password="+pw)
	}
	p := &PgBouncer{dir: dir, script: script, poolSize: poolSize, upstream: upstream}
	// Another process may take the port between freePort and the bind.
	for attempt := 1; ; attempt++ {
		out, err := p.run(append([]string{"start", dir, freePort(t)}, upstream...)...)
		if err == nil {
			t.Cleanup(func() {
				if _, err := p.run("stop", dir); err != nil {
					t.Errorf("pgtest: stop PgBouncer: %v", err)
				}
				if t.Failed() {
					t.Logf("PgBouncer's log:\n%s", p.Log(t))
				}
			})
			u, err := url.Parse(out)
			if err != nil {
				t.Fatalf("pgtest: pgbouncer.sh printed %q: %v", out, err)
			}
			p.addr = u.Host
			return p
		}
		_, _ = p.run("stop", dir)
		if attempt == 3 || !strings.Contains(err.Error(), "did not start listening") {
			t.Fatalf("pgtest: start PgBouncer: %v", err)
		}
	}
}

// Stop stops PgBouncer (SIGTERM: the clients' connections are closed at
// once), as an outage; Start brings it back.
func (p *PgBouncer) Stop(t testing.TB) {
	t.Helper()
	if _, err := p.run("stop", p.dir); err != nil {
		t.Fatalf("pgtest: stop PgBouncer: %v", err)
	}
}

// Start starts a stopped PgBouncer again on the address it had, so that
// DSNs given out before still reach it.
func (p *PgBouncer) Start(t testing.TB) {
	t.Helper()
	_, port, err := net.SplitHostPort(p.addr)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if _, err := p.run(append([]string{"start", p.dir, port}, p.upstream...)...); err != nil {
		t.Fatalf("pgtest: start PgBouncer again: %v", err)
	}
}

// run runs .ci/pgbouncer.sh with args and returns what it printed.
func (p *PgBouncer) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.script, args...) //nolint:gosec // the repository's own script
	cmd.Env = append(os.Environ(), "PGBOUNCER_POOL_SIZE="+strconv.Itoa(p.poolSize))
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return strings.TrimSpace(string(out)), err
}

// DSN returns dsn, a DSN of the test server, with PgBouncer in between:
// the same user, database and parameters.
func (p *PgBouncer) DSN(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Host = p.addr
	return u.String()
}

// Log returns what PgBouncer has logged so far, but for its periodic
// statistics.
func (p *PgBouncer) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "pgbouncer.log"))
	if err != nil {
		t.Errorf("pgtest: %v", err)
	}
	var keep []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.Contains(line, " LOG stats: ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

func installed() bool {
	if _, err := exec.LookPath("pgbouncer"); err == nil {
		return true
	}
	_, err := os.Stat("/usr/sbin/pgbouncer")
	return err == nil
}

// findScript returns the absolute path of the repository file rel, looked
// for from the working directory (a package's folder) upwards.
func findScript(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("pgtest: no %s in the working directory or above", rel)
		}
		dir = parent
	}
}

// freePort returns a 127.0.0.1 port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
