// Package pgtest gives tests a private, migrated PostgreSQL database on the
// server named by AUTHD_TEST_DATABASE_URL.
//
// Without that variable tests are skipped, except in CI (CI=true) where
// they fail: a test that needs PostgreSQL gets one in CI.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"authd/adapters/postgres"
)

// EnvVar names the environment variable holding an admin DSN of the test server.
const EnvVar = "AUTHD_TEST_DATABASE_URL"

// DSN returns the admin DSN of the test server. It skips the test when
// AUTHD_TEST_DATABASE_URL is unset, or fails it when CI is "true".
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvVar)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvVar + " not set")
		}
		t.Skip(EnvVar + " not set")
	}
	return dsn
}

// NewDatabase creates an empty database with a unique name on the test
// server, drops it when the test ends, and returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := DSN(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvVar, err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "authd_test_" + hex.EncodeToString(b[:])

	exec := func(query string) error {
		db, err := postgres.Open(admin, postgres.PoolOptions{MaxOpenConns: 1})
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err = db.ExecContext(ctx, query)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// NewDB returns a handle on a fresh database with every migration applied.
// The handle is closed and the database dropped when the test ends.
func NewDB(t testing.TB) *bun.DB {
	t.Helper()
	db := Open(t, NewDatabase(t))
	migrate(t, db)
	return db
}

// NewMigratedDatabase is NewDB for tests that open their own handles: it
// returns the DSN of a fresh database with every migration applied, which
// is dropped when the test ends.
func NewMigratedDatabase(t testing.TB) string {
	t.Helper()
	dsn := NewDatabase(t)
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer db.Close()
	migrate(t, db)
	return dsn
}

func migrate(t testing.TB, db *bun.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := postgres.Up(ctx, db); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
}

// Open opens dsn with small pool limits and closes the handle when the test
// ends (before the database is dropped, since cleanups run last in, first out).
func Open(t testing.TB, dsn string) *bun.DB {
	t.Helper()
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
