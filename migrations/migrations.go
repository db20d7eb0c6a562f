// Package migrations holds authd's numbered SQL migrations, embedded in the
// binary and registered with bun's migrate package.
//
// Files are named <14-digit id>_<name>.tx.up.sql / .tx.down.sql; the "tx"
// makes bun run each file in one transaction, so a failing migration leaves
// no half-applied schema. Applied migrations are never edited: a change to
// the schema is a new pair of files (cmd/migrate create NAME).
package migrations

import (
	"embed"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// Migrations is every migration of this directory, in id order.
var Migrations = migrate.NewMigrations()

func init() {
	if err := Migrations.Discover(files); err != nil {
		panic(err)
	}
}
