package main

import (
	"context"
	"fmt"
	"io"

	"github.com/uptrace/bun"

	"authd/adapters/postgres"
)

// check compares the bun models with the live schema, the way "alembic
// check" does. On drift the error is a postgres.SchemaDrift, which run
// prints one difference a line.
func check(ctx context.Context, db *bun.DB, w io.Writer) error {
	s, err := postgres.CheckSchema(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "schema matches the models: %d tables, %d indexes, %d enum type(s)\n", s.Tables, s.Indexes, s.Enums)
	return nil
}
