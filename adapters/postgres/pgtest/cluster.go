package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Cluster is a PostgreSQL cluster of the test's own, run by .ci/pg.sh, for
// tests that stop and start the server under a running authd; the shared
// test server is never stopped.
type Cluster struct {
	script string
	dir    string
	port   string
	dbname string
	dsn    string
}

// StartCluster initialises a cluster in a temporary folder, starts it on a
// free 127.0.0.1 port with the database dbname, and stops it when the test
// ends. It is gated like DSN (the machine's PostgreSQL is the test
// server's), and .ci/pg.sh installs Debian's postgresql package as root
// when the machine has none.
func StartCluster(t testing.TB, dbname string) *Cluster {
	t.Helper()
	DSN(t)
	c := &Cluster{script: findScript(t, filepath.Join(".ci", "pg.sh")), dir: t.TempDir(), dbname: dbname}
	// The script runs the server as the postgres OS user when run as root.
	if err := os.Chmod(c.dir, 0o755); err != nil { //nolint:gosec // the postgres user must enter the folder
		t.Fatal(err)
	}
	// Another process may take the port between freePort and the bind.
	for attempt := 1; ; attempt++ {
		c.port = freePort(t)
		dsn, err := c.run("start", c.dir, c.port, dbname)
		if err == nil {
			c.dsn = dsn
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("pgtest: start a private cluster: %v", err)
		}
	}
	t.Cleanup(func() {
		if _, err := c.run("stop", c.dir); err != nil {
			t.Errorf("pgtest: stop the private cluster: %v", err)
		}
	})
	return c
}

// DSN returns the admin DSN of the cluster's database.
func (c *Cluster) DSN() string { return c.dsn }

// Stop stops the server with a fast shutdown: sessions are ended at once,
// their open transactions rolled back.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if _, err := c.run("stop", c.dir); err != nil {
		t.Fatalf("pgtest: stop the private cluster: %v", err)
	}
}

// Start starts the stopped server again on the same port.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if _, err := c.run("start", c.dir, c.port, c.dbname); err != nil {
		t.Fatalf("pgtest: start the private cluster again: %v", err)
	}
}

// run runs .ci/pg.sh with args and returns what it printed.
func (c *Cluster) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.script, args...).Output() //nolint:gosec // the repository's own script
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return strings.TrimSpace(string(out)), err
}
