package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"authd/adapters/postgres"
	"authd/domain"
)

// Session sets seeded into bench_families, one per phase that needs them.
const (
	kindPgbench = "pgbench" // rotated by the pgbench reference
	kindHTTP    = "http"    // rotated through authd over HTTP
	kindInProc  = "inproc"  // rotated in-process through application.Refresh
	kindLogin   = "login"   // users the login phase logs in
	kindBurst   = "burst"   // users of the memory burst
	kindMe      = "me"      // the user whose token GET /v1/users/me presents
	kindFlood   = "flood"   // sessions refreshed during the login flood
	// The reset phase asks for reset links for active and for disabled
	// accounts (and for addresses that have none).
	kindResetKnown = "resetknown"
	kindResetOff   = "resetoff"
)

// benchPassword is the password of every seeded user.
const benchPassword = "bench correct horse battery staple"

// benchDB is the fresh database of one run.
type benchDB struct {
	name  string
	dsn   string
	admin *bun.DB
	db    *bun.DB
}

// createDatabase creates a database with a unique name through the admin
// DSN, migrates it with postgres.Up and adds the bench_families table that
// maps small integers to seeded sessions, so pgbench can pick them.
func createDatabase(ctx context.Context, adminDSN string) (*benchDB, error) {
	u, err := url.Parse(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("AUTHBENCH_ADMIN_DSN: %w", err)
	}
	admin, err := postgres.Open(adminDSN, postgres.PoolOptions{MaxOpenConns: 2})
	if err != nil {
		return nil, fmt.Errorf("AUTHBENCH_ADMIN_DSN: %w", err)
	}
	b := &benchDB{name: fmt.Sprintf("authbench_%d", time.Now().UnixNano()), admin: admin}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+b.name); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + b.name
	b.dsn = u.String()
	if b.db, err = postgres.Open(b.dsn, postgres.PoolOptions{}); err != nil {
		return b, err
	}
	if _, err := postgres.Up(ctx, b.db); err != nil {
		return b, err
	}
	_, err = b.db.ExecContext(ctx, "CREATE TABLE bench_families ("+
		"kind text NOT NULL, n int NOT NULL, family_id uuid NOT NULL, user_id bigint NOT NULL, PRIMARY KEY (kind, n))")
	return b, err
}

// drop closes the handles and, unless keep is set, drops the database.
func (b *benchDB) drop(keep bool) error {
	if b.db != nil {
		_ = b.db.Close()
	}
	defer b.admin.Close()
	if keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+b.name+" WITH (FORCE)")
	return err
}

// seedUsers inserts n active users named kind-1@bench.example … with the
// PHC hash hash.
func (b *benchDB) seedUsers(ctx context.Context, kind string, n int, hash string) error {
	_, err := b.db.NewRaw(
		"INSERT INTO users (email, hashed_password) "+
			"SELECT format('%s-%s@bench.example', ?, i), ? FROM generate_series(1, ?) AS i",
		kind, hash, n,
	).Exec(ctx)
	return err
}

// disableUsers switches the users of kind off, as an admin would.
func (b *benchDB) disableUsers(ctx context.Context, kind string) error {
	_, err := b.db.NewRaw("UPDATE users SET is_active = false WHERE email LIKE ?", kind+"-%").Exec(ctx)
	return err
}

// seedSessions gives each user of kind one live session with one unrevoked
// refresh token, numbered 1… in bench_families. When secrets is not nil,
// session i+1 holds the digest of secrets[i]; otherwise tokens get random
// digests nobody can present (the pgbench set).
func (b *benchDB) seedSessions(ctx context.Context, kind string, secrets []string) error {
	hashes := make([]string, len(secrets))
	for i, s := range secrets {
		hashes[i] = domain.HashRefreshToken(s).String()
	}
	return b.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stmts := []struct {
			q    string
			args []any
		}{
			{"INSERT INTO token_families (id, user_id, expires_at, user_agent, ip) " +
				"SELECT gen_random_uuid(), id, now() + interval '90 days', 'authbench', '127.0.0.1' " +
				"FROM users WHERE email LIKE ?", []any{kind + "-%"}},
			{"INSERT INTO bench_families (kind, n, family_id, user_id) " +
				"SELECT ?, row_number() OVER (ORDER BY u.id), f.id, u.id " +
				"FROM token_families AS f JOIN users AS u ON u.id = f.user_id WHERE u.email LIKE ?", []any{kind, kind + "-%"}},
			{"INSERT INTO refresh_tokens (token, token_family, user_id, expires_at) " +
				"SELECT coalesce(h.hash, encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex')), " +
				"b.family_id, b.user_id, now() + interval '14 days' " +
				"FROM bench_families AS b LEFT JOIN unnest(?::text[]) WITH ORDINALITY AS h (hash, n) ON h.n = b.n " +
				"WHERE b.kind = ?", []any{pgdialect.Array(hashes), kind}},
		}
		for _, s := range stmts {
			if _, err := tx.NewRaw(s.q, s.args...).Exec(ctx); err != nil {
				return fmt.Errorf("seed %s sessions: %w", kind, err)
			}
		}
		return nil
	})
}

// seedChains creates n users of kind, each with one session, and returns
// the sessions' current refresh tokens.
func (b *benchDB) seedChains(ctx context.Context, kind string, n int, hash string) ([]string, error) {
	secrets := make([]string, n)
	for i := range secrets {
		s, _, err := domain.NewRefreshSecret(rand.Reader)
		if err != nil {
			return nil, err
		}
		secrets[i] = s
	}
	if err := b.seedUsers(ctx, kind, n, hash); err != nil {
		return nil, fmt.Errorf("seed %s users: %w", kind, err)
	}
	return secrets, b.seedSessions(ctx, kind, secrets)
}

// analyze refreshes the planner statistics after seeding.
func (b *benchDB) analyze(ctx context.Context) error {
	_, err := b.db.ExecContext(ctx, "VACUUM ANALYZE")
	return err
}

// postmaster returns the PID of the cluster's postmaster when it runs on
// this machine (the parent of this session's backend), zero otherwise.
func (b *benchDB) postmaster(ctx context.Context) int {
	var backend int
	if err := b.db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	return parentPID(backend)
}

// userEmail is the email of the i-th (1-based) seeded user of kind.
func userEmail(kind string, i int) string {
	return fmt.Sprintf("%s-%d@bench.example", kind, i)
}
