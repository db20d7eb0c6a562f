package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"authd/migrations"
)

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// across processes (the bytes of "authdmig").
const migrationLockKey int64 = 0x617574686d6d6967

// NewMigrator returns bun's migrator over authd's embedded migrations. A
// migration is recorded as applied only once it has succeeded.
func NewMigrator(db *bun.DB) *migrate.Migrator {
	return migrate.NewMigrator(db, migrations.Migrations, migrate.WithMarkAppliedOnSuccess(true))
}

// Up creates bun's bookkeeping tables if needed and applies every pending
// migration as one group. It returns the group, empty when nothing was
// pending.
//
// Up holds a PostgreSQL session advisory lock while it works, so concurrent
// deploys apply each migration once: the later caller waits, then finds
// nothing pending. Unlike bun's lock table, the lock is released by the
// server when a process dies. db needs at least two pool connections.
func Up(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	var group *migrate.MigrationGroup
	err := WithMigrationLock(ctx, db, func(ctx context.Context) error {
		m := NewMigrator(db)
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("postgres: init migrations: %w", err)
		}
		g, err := m.Migrate(ctx)
		group = g
		if err != nil {
			return fmt.Errorf("postgres: migrate up: %w", err)
		}
		return nil
	})
	return group, err
}

// Down rolls back the last group of applied migrations under the same lock
// as Up. It returns the group, empty when nothing was applied.
func Down(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	var group *migrate.MigrationGroup
	err := WithMigrationLock(ctx, db, func(ctx context.Context) error {
		m := NewMigrator(db)
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("postgres: init migrations: %w", err)
		}
		g, err := m.Rollback(ctx)
		group = g
		if err != nil {
			return fmt.Errorf("postgres: migrate down: %w", err)
		}
		return nil
	})
	return group, err
}

// WithMigrationLock runs fn while holding the migration advisory lock on a
// dedicated connection of db. It waits for the lock until ctx ends.
func WithMigrationLock(ctx context.Context, db *bun.DB, fn func(ctx context.Context) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()

	if err := acquireAdvisoryLock(ctx, conn, migrationLockKey); err != nil {
		return err
	}
	defer func() {
		// Unlock on a fresh context: fn may have failed because ctx ended,
		// and the lock must not outlive this call on a pooled connection.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var released bool
		uerr := conn.QueryRowContext(uctx, "SELECT pg_advisory_unlock(?)", migrationLockKey).Scan(&released)
		if uerr == nil && !released {
			uerr = errors.New("lock was not held")
		}
		if uerr != nil {
			// Discard the connection so a held lock dies with its session.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("postgres: release migration lock: %w", uerr))
		}
	}()
	return fn(ctx)
}

// acquireAdvisoryLock polls pg_try_advisory_lock rather than blocking in
// pg_advisory_lock, so waiting for another deploy is bounded by ctx and not
// cut short by the driver's read timeout.
func acquireAdvisoryLock(ctx context.Context, conn bun.Conn, key int64) error {
	delay := 50 * time.Millisecond
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(?)", key).Scan(&ok); err != nil {
			return fmt.Errorf("postgres: migration lock: %w", err)
		}
		if ok {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: waiting for the migration lock: %w", ctx.Err())
		case <-t.C:
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}
