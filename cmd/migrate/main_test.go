package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"authd/adapters/postgres/pgtest"
	"authd/migrations"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, dsn string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		return ""
	}
	code := run(context.Background(), args, env, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"frobnicate"}, {"up", "extra"}, {"create"}, {"create", "Bad Name"}} {
		r := runCmd(t, "postgres://unused@127.0.0.1:1/x", args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "usage: migrate") && !strings.Contains(r.stderr, "must use only") {
			t.Errorf("%q: code %d, stderr %q; want usage and exit 2", args, r.code, r.stderr)
		}
	}
	if r := runCmd(t, "", "up"); r.code != exitError || !strings.Contains(r.stderr, "DATABASE_URL is not set") {
		t.Errorf("without DATABASE_URL: code %d, stderr %q", r.code, r.stderr)
	}
	if r := runCmd(t, "", "help"); r.code != exitOK || !strings.Contains(r.stdout, "mark-applied") {
		t.Errorf("help: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestCreateWritesPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCmd(t, "", "create", "-dir", dir, "add_user_names")
	if r.code != exitOK {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("files %v, want an up/down pair", files)
	}
	re := regexp.MustCompile(`^\d{14}_add_user_names\.tx\.(down|up)\.sql$`)
	for _, f := range files {
		if !re.MatchString(filepath.Base(f)) {
			t.Errorf("file name %s does not follow bun's naming", filepath.Base(f))
		}
		if !strings.Contains(r.stdout, f) {
			t.Errorf("stdout %q does not name %s", r.stdout, f)
		}
	}
	if r := runCmd(t, "", "create", "-dir", filepath.Join(dir, "nope"), "x"); r.code != exitError {
		t.Errorf("create into a missing directory: code %d", r.code)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	all := len(migrations.Migrations.Sorted())

	r := runCmd(t, dsn, "status")
	if r.code != exitOK || strings.Count(r.stdout, "  pending  ") != all || !strings.Contains(r.stdout, fmt.Sprintf("0 applied, %d pending", all)) {
		t.Fatalf("status before up: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, dsn, "check"); r.code != exitError || !strings.Contains(r.stderr, "missing table users") {
		t.Errorf("check before up: code %d\n%s", r.code, r.stderr)
	}

	r = runCmd(t, dsn, "up")
	if r.code != exitOK || !strings.Contains(r.stdout, "applied group 1") || !strings.Contains(r.stdout, "create_auth_events") {
		t.Fatalf("up: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, dsn, "up"); r.code != exitOK || !strings.Contains(r.stdout, "nothing to migrate") {
		t.Errorf("second up: %+v", r)
	}
	r = runCmd(t, dsn, "status")
	if r.code != exitOK || !regexp.MustCompile(`20260101000002\s+create_token_families\s+applied\s+1\s`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, fmt.Sprintf("%d applied, 0 pending, last group 1", all)) {
		t.Errorf("status after up:\n%s", r.stdout)
	}
	if r := runCmd(t, dsn, "check"); r.code != exitOK || !strings.Contains(r.stdout, "schema matches") {
		t.Errorf("check after up: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = runCmd(t, dsn, "down")
	if r.code != exitOK || !strings.Contains(r.stdout, "rolled back group 1") {
		t.Fatalf("down: %+v", r)
	}
	if r := runCmd(t, dsn, "down"); r.code != exitOK || !strings.Contains(r.stdout, "nothing to roll back") {
		t.Errorf("second down: %+v", r)
	}

	// mark-applied records without running: the tables stay absent.
	if r := runCmd(t, dsn, "mark-applied"); r.code != exitOK || !strings.Contains(r.stdout, "marked as applied") {
		t.Fatalf("mark-applied: %+v", r)
	}
	if r := runCmd(t, dsn, "status"); !strings.Contains(r.stdout, fmt.Sprintf("%d applied, 0 pending", all)) {
		t.Errorf("status after mark-applied:\n%s", r.stdout)
	}
	if r := runCmd(t, dsn, "check"); r.code != exitError || !strings.Contains(r.stderr, "missing table users") {
		t.Errorf("check after mark-applied: %+v", r)
	}

	if r := runCmd(t, dsn, "lock"); r.code != exitOK {
		t.Fatalf("lock: %+v", r)
	}
	if r := runCmd(t, dsn, "lock"); r.code != exitError || !strings.Contains(r.stderr, "already locked") {
		t.Errorf("second lock: %+v", r)
	}
	if r := runCmd(t, dsn, "unlock"); r.code != exitOK {
		t.Errorf("unlock: %+v", r)
	}
	if r := runCmd(t, dsn, "lock"); r.code != exitOK {
		t.Errorf("lock after unlock: %+v", r)
	}
	if r := runCmd(t, dsn, "init"); r.code != exitOK {
		t.Errorf("init: %+v", r)
	}
}

// TestCheckReportsDrift checks how the command reports drift; the kinds of
// drift are tested with postgres.CheckSchema.
func TestCheckReportsDrift(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	if _, err := db.ExecContext(context.Background(), `ALTER TABLE users ALTER COLUMN is_active DROP DEFAULT;
		CREATE INDEX ix_users_is_active ON users (is_active)`); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, dsnOf(t, db), "check")
	want := "migrate check: the schema differs from the models in 2 place(s):\n" +
		"  - column users.is_active: default is (none) in the database, the model says true\n" +
		"  - extra non-unique index ix_users_is_active on users (is_active) is not declared with the models\n"
	if r.code != exitError || r.stderr != want {
		t.Errorf("check exit code %d, stderr:\n%s\nwant exit code %d, stderr:\n%s", r.code, r.stderr, exitError, want)
	}
}

func TestCheckAndNormalizeEmails(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	dsn := dsnOf(t, db)
	if r := runCmd(t, dsn, "check-emails"); r.code != exitOK || !strings.Contains(r.stdout, "every stored email is in the current normal form") {
		t.Fatalf("check-emails on a clean table: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := db.ExecContext(context.Background(),
		`INSERT INTO users (email, hashed_password) VALUES ('a@bücher.example', 'x'), (E'root\u200b@example.org', 'x')`); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, dsn, "check-emails")
	if r.code != exitError || !strings.Contains(r.stdout, `"a@xn--bcher-kva.example"`) || !strings.Contains(r.stdout, "would be rewritten") ||
		!strings.Contains(r.stdout, "refused by the current rules") {
		t.Errorf("check-emails with legacy rows: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, dsn, "normalize-emails")
	if r.code != exitError || !strings.Contains(r.stdout, "rewritten") || !strings.Contains(r.stdout, "left as is") {
		t.Errorf("normalize-emails: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := db.ExecContext(context.Background(), `DELETE FROM users WHERE email LIKE E'root\u200b%'`); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, dsn, "normalize-emails"); r.code != exitOK {
		t.Errorf("normalize-emails once every row is normal: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
