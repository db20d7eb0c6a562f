package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
)

func TestCheckSchemaMatchesMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	s, err := postgres.CheckSchema(ctx, db)
	if err != nil {
		t.Fatalf("CheckSchema on the migrated schema: %v", err)
	}
	if s.Tables == 0 || s.Indexes < s.Tables || s.Enums == 0 {
		t.Errorf("summary %+v: want every table, its indexes and the enum types counted", s)
	}
	var left int // scratch schemas
	if err := db.NewRaw("SELECT count(*) FROM pg_namespace WHERE nspname = 'authd_schema_check'").Scan(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Error("the scratch schema was left behind")
	}
}

// TestCheckSchemaConcurrently runs checks of one database at once: they
// share the scratch schema's name, so each waits for the previous one.
func TestCheckSchemaConcurrently(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	errs := make(chan error, 3)
	for range cap(errs) {
		go func() {
			_, err := postgres.CheckSchema(context.Background(), db)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCheckSchemaBeforeMigrating(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t, pgtest.NewDatabase(t))
	_, err := postgres.CheckSchema(context.Background(), db)
	var drift postgres.SchemaDrift
	if !errors.As(err, &drift) || !strings.Contains(err.Error(), "missing table users") ||
		!strings.Contains(err.Error(), "missing enum type userrole (user, admin)") {
		t.Fatalf("CheckSchema on an empty database: %v", err)
	}
}

// TestCheckSchemaDetectsDrift alters a freshly migrated schema in one way
// per case and expects CheckSchema to report exactly that difference.
func TestCheckSchemaDetectsDrift(t *testing.T) {
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
		{"change varchar default", "ALTER TABLE token_families ALTER COLUMN ip SET DEFAULT 'unknown'",
			"column token_families.ip: default is 'unknown' in the database, the model says ''"},
		{"drop default", "ALTER TABLE users ALTER COLUMN is_active DROP DEFAULT",
			"column users.is_active: default is (none) in the database, the model says true"},
		{"drop index", "DROP INDEX ix_refresh_tokens_user_id",
			"table refresh_tokens: missing index ix_refresh_tokens_user_id on (user_id)"},
		{"change index", "DROP INDEX ix_token_families_user_id_created_at; CREATE INDEX ix_token_families_user_id_created_at ON token_families (user_id)",
			"index ix_token_families_user_id_created_at: is non-unique on token_families (user_id) in the database"},
		{"index made unique", "DROP INDEX ix_refresh_tokens_user_id; CREATE UNIQUE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id)",
			"index ix_refresh_tokens_user_id: is unique on refresh_tokens (user_id) in the database, the model says non-unique on refresh_tokens (user_id)"},
		{"partial index", "DROP INDEX ix_refresh_tokens_expires_at; CREATE INDEX ix_refresh_tokens_expires_at ON refresh_tokens (expires_at) WHERE revoked_at IS NULL",
			"index ix_refresh_tokens_expires_at: is non-unique on refresh_tokens (expires_at) WHERE (revoked_at IS NULL) in the database"},
		{"extra index", "CREATE INDEX ix_users_is_active ON users (is_active)",
			"extra non-unique index ix_users_is_active on users (is_active)"},
		{"drop unique", "ALTER TABLE users DROP CONSTRAINT users_email_key",
			"table users: missing unique constraint on (email)"},
		{"extra unique", "ALTER TABLE users ADD UNIQUE (hashed_password)",
			"table users: extra unique constraint on (hashed_password) is not in the model"},
		{"add enum label", "ALTER TYPE userrole ADD VALUE 'superadmin'",
			`enum userrole: extra label "superadmin"`},
		{"missing enum label", replaceUserrole("'user'"),
			`enum userrole: missing label "admin"`},
		{"enum label order", replaceUserrole("'admin', 'user'"),
			"enum userrole: labels are ordered admin, user in the database, the model says user, admin"},
		{"extra enum type", "CREATE TYPE mood AS ENUM ('ok')", "extra enum type mood"},
		{"add column", "ALTER TABLE users ADD COLUMN nickname text",
			"extra column users.nickname (text) is not in the model"},
		{"drop column", "ALTER TABLE auth_events DROP COLUMN user_agent",
			"missing column auth_events.user_agent (character varying(512))"},
		{"drop identity", "ALTER TABLE users ALTER COLUMN id DROP IDENTITY",
			"column users.id: not an identity column in the database, the model says an identity column"},
		{"identity always", "ALTER TABLE users ALTER COLUMN id SET GENERATED ALWAYS",
			"column users.id: an identity column generated always in the database, the model says an identity column generated by default"},
		{"drop primary key", "ALTER TABLE auth_events DROP CONSTRAINT auth_events_pkey",
			"table auth_events: missing primary key (id)"},
		{"change primary key", "ALTER TABLE auth_events DROP CONSTRAINT auth_events_pkey, ADD PRIMARY KEY (id, created_at)",
			"table auth_events: primary key is (id, created_at) in the database, the model says (id)"},
		{"extra table", "CREATE TABLE notes (id int)", "extra table notes has no model"},
		{"missing table", "DROP TABLE auth_events", "missing table auth_events"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := pgtest.NewDB(t)
			if _, err := db.ExecContext(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err := postgres.CheckSchema(ctx, db)
			var drift postgres.SchemaDrift
			if !errors.As(err, &drift) {
				t.Fatalf("CheckSchema: %v, want SchemaDrift", err)
			}
			if len(drift) != 1 || !strings.Contains(drift[0], tc.want) {
				t.Errorf("CheckSchema reported %q, want exactly one difference naming %q", []string(drift), tc.want)
			}
		})
	}
}

// replaceUserrole recreates the userrole enum type with other labels.
func replaceUserrole(labels string) string {
	return `ALTER TABLE users ALTER COLUMN role DROP DEFAULT;
		ALTER TYPE userrole RENAME TO userrole_old;
		CREATE TYPE userrole AS ENUM (` + labels + `);
		ALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole;
		ALTER TABLE users ALTER COLUMN role SET DEFAULT 'user';
		DROP TYPE userrole_old`
}
