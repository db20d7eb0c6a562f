package main

import (
	"context"
	"net/url"
	"testing"

	"github.com/uptrace/bun"

	"authd/adapters/postgres/pgtest"
)

// dsnOf returns a DSN for the database db is connected to.
func dsnOf(t *testing.T, db *bun.DB) string {
	t.Helper()
	var name string
	if err := db.NewRaw("SELECT current_database()").Scan(context.Background(), &name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
