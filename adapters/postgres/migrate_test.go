package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/migrations"
)

// column is one column as the catalog describes it.
type column struct {
	Table, Name, Type string
	NotNull           bool
	Default           string
	Identity          bool
}

func columns(t *testing.T, db *bun.DB) []column {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `
		SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
		       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity <> ''
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		  AND c.relname NOT LIKE 'bun_%'
		ORDER BY c.relname, a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Table, &c.Name, &c.Type, &c.NotNull, &c.Default, &c.Identity); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

// allMigrations is how many migrations there are.
var allMigrations = len(migrations.Migrations.Sorted())

func strs(t *testing.T, db *bun.DB, query string, args ...any) []string {
	t.Helper()
	var out []string
	if err := db.NewRaw(query, args...).Scan(context.Background(), &out); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return out
}

func indexes(t *testing.T, db *bun.DB) []string {
	t.Helper()
	return strs(t, db, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'bun_%' ORDER BY indexname`)
}

func constraints(t *testing.T, db *bun.DB) []string {
	t.Helper()
	return strs(t, db, `SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'bun_%' ORDER BY 1`)
}

func enumLabels(t *testing.T, db *bun.DB) []string {
	t.Helper()
	return strs(t, db, `SELECT t.typname || '.' || e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid ORDER BY t.typname, e.enumsortorder`)
}

// wantForeignKeys are the schema's foreign keys, which CheckSchema does not
// compare.
var wantForeignKeys = []string{
	"auth_events auth_events_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES users(id) ON DELETE SET NULL",
	"auth_events auth_events_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL",
	"mail_outbox mail_outbox_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL",
	"mfa_enrolments mfa_enrolments_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"mfa_recovery_codes mfa_recovery_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"one_time_tokens one_time_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"pending_logins pending_logins_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"refresh_tokens refresh_tokens_token_family_fkey FOREIGN KEY (token_family) REFERENCES token_families(id) ON DELETE CASCADE",
	"refresh_tokens refresh_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"token_families token_families_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"webauthn_challenges webauthn_challenges_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
	"webauthn_credentials webauthn_credentials_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
}

// assertFullSchema checks that every migration is applied: the schema is
// the one the models declare, with the foreign keys and comments of the
// migrations.
func assertFullSchema(t *testing.T, db *bun.DB) {
	t.Helper()
	if _, err := postgres.CheckSchema(context.Background(), db); err != nil {
		t.Errorf("schema after every migration: %v", err)
	}
	fks := strs(t, db, `SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1`)
	if diff := cmp.Diff(wantForeignKeys, fks); diff != "" {
		t.Errorf("foreign keys (-want +got):\n%s", diff)
	}
	// Losing the counters in a crash is acceptable, and so is losing the
	// WebAuthn ceremonies under way (they start again); losing anything else
	// is not.
	if diff := cmp.Diff([]string{"limit_counters", "webauthn_challenges"}, strs(t, db, `SELECT relname FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relpersistence = 'u' ORDER BY 1`)); diff != "" {
		t.Errorf("unlogged tables (-want +got):\n%s", diff)
	}
	comment := strs(t, db, `SELECT col_description('refresh_tokens'::regclass, 2)`)
	if len(comment) != 1 || !strings.Contains(comment[0], "SHA-256") || !strings.Contains(comment[0], "never stored") {
		t.Errorf("refresh_tokens.token comment = %q, want it to say the column holds the SHA-256 digest", comment)
	}
}

// snapshot is everything of the public schema a migration can change.
type snapshot struct {
	Columns     []column
	Indexes     []string
	Constraints []string
	EnumLabels  []string
}

func takeSnapshot(t *testing.T, db *bun.DB) snapshot {
	t.Helper()
	return snapshot{columns(t, db), indexes(t, db), constraints(t, db), enumLabels(t, db)}
}

func assertEmptySchema(t *testing.T, db *bun.DB) {
	t.Helper()
	if got := columns(t, db); len(got) != 0 {
		t.Errorf("after down, columns remain: %v", got)
	}
	if got := indexes(t, db); len(got) != 0 {
		t.Errorf("after down, indexes remain: %v", got)
	}
	if got := strs(t, db, `SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'c', 'd') AND typname NOT LIKE 'bun_%'`); len(got) != 0 {
		t.Errorf("after down, types remain: %v", got)
	}
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgtest.NewDatabase(t))

	g, err := postgres.Up(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Migrations) != allMigrations {
		t.Fatalf("first Up applied %d migrations, want %d", len(g.Migrations), allMigrations)
	}
	assertFullSchema(t, db)

	// Down rolls back the whole last group, which is all of them here.
	g, err = postgres.Down(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Migrations) != allMigrations {
		t.Fatalf("Down rolled back %d migrations, want %d", len(g.Migrations), allMigrations)
	}
	assertEmptySchema(t, db)

	if _, err := postgres.Up(ctx, db); err != nil {
		t.Fatalf("Up after Down: %v", err)
	}
	assertFullSchema(t, db)

	g, err = postgres.Up(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !g.IsZero() {
		t.Fatalf("Up with nothing pending applied %v", g)
	}
}

// migrateFirst applies, as one group, the first n embedded migrations that
// are still pending.
func migrateFirst(t *testing.T, db *bun.DB, n int) {
	t.Helper()
	sub := migrate.NewMigrations()
	for _, m := range migrations.Migrations.Sorted()[:n] {
		sub.Add(m)
	}
	m := migrate.NewMigrator(db, sub, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func tables(t *testing.T, db *bun.DB) []string {
	t.Helper()
	return strs(t, db, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'bun_%' ORDER BY 1`)
}

// TestMigrateDownOneAtATime rolls the migrations back one by one: after
// each, the schema is exactly the one the migrations before it make.
func TestMigrateDownOneAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgtest.NewDatabase(t))
	for n := 1; n <= allMigrations; n++ {
		migrateFirst(t, db, n)
		if n == 1 {
			// Migration 1 creates exactly the seed's two tables.
			if diff := cmp.Diff([]string{"refresh_tokens", "users"}, tables(t, db)); diff != "" {
				t.Errorf("tables of migration 1 (-want +got):\n%s", diff)
			}
		}
	}
	assertFullSchema(t, db)

	for n := allMigrations - 1; n >= 0; n-- {
		g, err := postgres.Down(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Migrations) != 1 {
			t.Fatalf("down to %d rolled back %d migrations, want 1", n, len(g.Migrations))
		}
		ref := pgtest.Open(t, pgtest.NewDatabase(t))
		if n > 0 {
			migrateFirst(t, ref, n)
		}
		if diff := cmp.Diff(takeSnapshot(t, ref), takeSnapshot(t, db)); diff != "" {
			t.Errorf("schema after rolling back to %d migrations differs from %d applied (-want +got):\n%s", n, n, diff)
		}
	}
	assertEmptySchema(t, db)
}

// TestMigrationBackfillsFamilies checks that tokens written under the seed's
// schema get a family when token_families arrives, so the new foreign key holds.
func TestMigrationBackfillsFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Open(t, pgtest.NewDatabase(t))
	migrateFirst(t, db, 1)
	if _, err := db.ExecContext(ctx, `
		INSERT INTO users (id, email, hashed_password) VALUES (1, 'a@example.com', 'x');
		INSERT INTO refresh_tokens (token, token_family, user_id, expires_at, revoked_at, created_at) VALUES
		  ('t1', '11111111-1111-1111-1111-111111111111', 1, '2026-01-10Z', '2026-01-02Z', '2026-01-01Z'),
		  ('t2', '11111111-1111-1111-1111-111111111111', 1, '2026-01-20Z', NULL, '2026-01-02Z'),
		  ('t3', '22222222-2222-2222-2222-222222222222', 1, '2026-01-10Z', '2026-01-03Z', '2026-01-01Z')`); err != nil {
		t.Fatal(err)
	}
	migrateFirst(t, db, 3)
	got := strs(t, db, `SELECT id || ' ' || user_id || ' ' || to_char(created_at AT TIME ZONE 'UTC', 'MM-DD') || ' ' ||
		to_char(last_used_at AT TIME ZONE 'UTC', 'MM-DD') || ' ' || to_char(expires_at AT TIME ZONE 'UTC', 'MM-DD') || ' ' ||
		coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'MM-DD'), 'live') FROM token_families ORDER BY id`)
	want := []string{
		"11111111-1111-1111-1111-111111111111 1 01-01 01-02 01-20 live",
		"22222222-2222-2222-2222-222222222222 1 01-01 01-01 01-10 01-03",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backfilled families (-want +got):\n%s", diff)
	}
}

func TestConcurrentUpAppliesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	const n = 4
	applied := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		// Separate handles, as separate deploys would have.
		db := pgtest.Open(t, dsn)
		wg.Go(func() {
			g, err := postgres.Up(ctx, db)
			errs[i] = err
			if g != nil {
				applied[i] = len(g.Migrations)
			}
		})
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Up %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != allMigrations {
		t.Errorf("concurrent Up calls applied %v migrations in all, want each of the %d once", applied, allMigrations)
	}
	db := pgtest.Open(t, dsn)
	var rows int
	if err := db.NewRaw("SELECT count(*) FROM bun_migrations").Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != allMigrations {
		t.Errorf("bun_migrations has %d rows, want %d", rows, allMigrations)
	}
	assertFullSchema(t, db)
}

func TestMigrationLockIsReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	called := false
	if err := postgres.WithMigrationLock(ctx, db, func(context.Context) error {
		called = true
		var held int
		err := db.NewRaw("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(ctx, &held)
		if err != nil {
			return err
		}
		if held != 1 {
			t.Errorf("advisory locks held inside: %d, want 1", held)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Fatal("fn not called")
	}
	var held int
	if err := db.NewRaw("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(ctx, &held); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Errorf("advisory locks held after: %d, want 0", held)
	}
}
