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

// TestCheckDetectsDrift alters a freshly migrated schema in one way per case
// and expects check to fail naming that difference.
func TestCheckDetectsDrift(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sql, want string
	}{
		{"column type", "ALTER TABLE users ALTER COLUMN hashed_password TYPE text",
			"column users.hashed_password: type is text in the database, the model says character varying(255)"},
		{"varchar length", "ALTER TABLE users ALTER COLUMN email TYPE varchar(100)",
			"column users.email: type is character varying(100) in the database, the model says character varying(255)"},
		{"drop not null", "ALTER TABLE refresh_tokens ALTER COLUMN expires_at DROP NOT NULL",
			"column refresh_tokens.expires_at: nullable in the database, the model says NOT NULL"},
		{"set not null", "ALTER TABLE token_families ALTER COLUMN revoked_at SET NOT NULL",
			"column token_families.revoked_at: NOT NULL in the database, the model says nullable"},
		{"change default", "ALTER TABLE users ALTER COLUMN role SET DEFAULT 'admin'",
			"column users.role: default is 'admin' in the database, the model says 'user'"},
		{"drop default", "ALTER TABLE users ALTER COLUMN is_active DROP DEFAULT",
			"column users.is_active: default is (none) in the database, the model says true"},
		{"drop index", "DROP INDEX ix_refresh_tokens_user_id",
			"table refresh_tokens: missing index ix_refresh_tokens_user_id on (user_id)"},
		{"change index", "DROP INDEX ix_token_families_user_id_created_at; CREATE INDEX ix_token_families_user_id_created_at ON token_families (user_id)",
			"index ix_token_families_user_id_created_at: is non-unique on token_families (user_id) in the database"},
		{"extra index", "CREATE INDEX ix_users_is_active ON users (is_active)",
			"extra non-unique index ix_users_is_active on users (is_active)"},
		{"drop unique", "ALTER TABLE users DROP CONSTRAINT users_email_key",
			"table users: missing unique constraint on (email)"},
		{"add enum label", "ALTER TYPE userrole ADD VALUE 'superadmin'",
			`enum userrole: extra label "superadmin"`},
		{"missing enum label", `ALTER TABLE users ALTER COLUMN role DROP DEFAULT;
			ALTER TYPE userrole RENAME TO userrole_old;
			CREATE TYPE userrole AS ENUM ('user');
			ALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole;
			ALTER TABLE users ALTER COLUMN role SET DEFAULT 'user';
			DROP TYPE userrole_old`,
			`enum userrole: missing label "admin"`},
		{"extra enum type", "CREATE TYPE mood AS ENUM ('ok')", "extra enum type mood"},
		{"add column", "ALTER TABLE users ADD COLUMN nickname text",
			"extra column users.nickname (text) is not in the model"},
		{"drop column", "ALTER TABLE auth_events DROP COLUMN user_agent",
			"missing column auth_events.user_agent (character varying(512))"},
		{"drop identity", "ALTER TABLE users ALTER COLUMN id DROP IDENTITY",
			"column users.id: not an identity column in the database, the model says an identity column"},
		{"drop primary key", "ALTER TABLE auth_events DROP CONSTRAINT auth_events_pkey",
			"table auth_events: missing primary key (id)"},
		{"extra table", "CREATE TABLE notes (id int)", "extra table notes has no model"},
		{"missing table", "DROP TABLE auth_events", "missing table auth_events"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.NewDB(t)
			if _, err := db.ExecContext(context.Background(), tc.sql); err != nil {
				t.Fatal(err)
			}
			dsn := dsnOf(t, db)
			r := runCmd(t, dsn, "check")
			if r.code != exitError {
				t.Fatalf("check exit code %d, want %d\n%s%s", r.code, exitError, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("check output does not name the drift %q:\n%s", tc.want, r.stderr)
			}
			if n := strings.Count(r.stderr, "\n  - "); n != 1 {
				t.Errorf("check reported %d differences, want exactly 1:\n%s", n, r.stderr)
			}
		})
	}
}

func TestCanonicalForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"varchar(255)":  "character varying(255)",
		"VARCHAR (64)":  "character varying(64)",
		"timestamptz":   "timestamp with time zone",
		"bool":          "boolean",
		"numeric(10,2)": "numeric(10,2)",
		"userrole":      "userrole",
	} {
		if got := canonicalType(in); got != want {
			t.Errorf("canonicalType(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"'user'::userrole":               "'user'",
		"''::character varying":          "''",
		"'x'::character varying(10)":     "'x'",
		"CURRENT_TIMESTAMP":              "now()",
		"now()":                          "now()",
		"0":                              "0",
		"'{}'::text[]":                   "'{}'",
		"('a'::text)::character varying": "('a'::text)",
	} {
		if got := canonicalDefault(in); got != want {
			t.Errorf("canonicalDefault(%q) = %q, want %q", in, got, want)
		}
	}
}
