package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// SchemaDrift is the error of CheckSchema when the database and the models
// disagree: one readable sentence per difference, in a stable order.
type SchemaDrift []string

// Error lists the differences on one line.
func (d SchemaDrift) Error() string {
	return "postgres: the schema differs from the models: " + strings.Join(d, "; ")
}

// SchemaSummary counts what CheckSchema found matching.
type SchemaSummary struct {
	Tables  int
	Indexes int // primary keys and unique constraints included
	Enums   int
}

// migrationTables are bun's own bookkeeping tables, which no model describes.
var migrationTables = []string{"bun_migrations", "bun_migration_locks"}

// CheckSchema compares the schema the models declare (see schemaModels)
// with the database's current schema, the first schema of its search_path,
// the way "alembic check" does: columns (type, nullability, default,
// identity), primary keys, unique constraints, indexes and enum types.
//
// It creates the declared schema in a scratch schema inside a transaction
// that it rolls back, then reads both schemas from the catalog, so that
// PostgreSQL spells types, defaults and index definitions the same way on
// both sides. The role needs the CREATE privilege on the database. The
// error is SchemaDrift when the schemas differ.
func CheckSchema(ctx context.Context, db *bun.DB) (SchemaSummary, error) {
	want, got, err := readSchemas(ctx, db)
	if err != nil {
		return SchemaSummary{}, err
	}
	if diffs := compareSchemas(want, got); len(diffs) > 0 {
		return SchemaSummary{}, SchemaDrift(diffs)
	}
	return want.summary(), nil
}

// readSchemas returns the declared schema and the current one.
func readSchemas(ctx context.Context, db *bun.DB) (want, got catalog, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return want, got, fmt.Errorf("postgres: schema check: %w", err)
	}
	// The rollback drops the scratch schema: the check never changes the database.
	defer func() { _ = tx.Rollback() }()

	var current sql.NullString
	if err := tx.QueryRowContext(ctx, "SELECT current_schema()").Scan(&current); err != nil {
		return want, got, fmt.Errorf("postgres: schema check: %w", err)
	}
	if !current.Valid {
		return want, got, errors.New("postgres: schema check: no schema of the search_path exists")
	}
	if got, err = readCatalog(ctx, tx, current.String); err != nil {
		return want, got, err
	}
	scratch, err := createDeclaredSchema(ctx, tx)
	if err != nil {
		return want, got, err
	}
	want, err = readCatalog(ctx, tx, scratch)
	return want, got, err
}

// createDeclaredSchema creates the schema the models declare in a new
// schema, which is left as the transaction's search_path, and returns its
// name. Its enum types come first, since the tables use them; its indexes
// last.
func createDeclaredSchema(ctx context.Context, tx bun.Tx) (string, error) {
	// The schema is never committed, so one name serves every check: a
	// concurrent check waits at CREATE SCHEMA until this one rolls back.
	const name = "authd_schema_check"
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA ?", bun.Ident(name)); err != nil {
		return "", fmt.Errorf("postgres: schema check: create scratch schema: %w", err)
	}
	if err := setSearchPath(ctx, tx, name); err != nil {
		return "", err
	}
	for _, e := range schemaEnums {
		if _, err := tx.ExecContext(ctx, "CREATE TYPE ? AS ENUM (?)", bun.Ident(e.name), bun.List(e.labels)); err != nil {
			return "", fmt.Errorf("postgres: schema check: enum type %s: %w", e.name, err)
		}
	}
	for _, m := range schemaModels {
		if _, err := tx.NewCreateTable().Model(m).Exec(ctx); err != nil {
			return "", fmt.Errorf("postgres: schema check: table of %T: %w", m, err)
		}
	}
	for _, ix := range schemaIndexes {
		if _, err := createIndexQuery(tx, ix).Exec(ctx); err != nil {
			return "", fmt.Errorf("postgres: schema check: index %s: %w", ix.name, err)
		}
	}
	return name, nil
}

func createIndexQuery(tx bun.Tx, ix schemaIndex) *bun.CreateIndexQuery {
	q := tx.NewCreateIndex().Model(ix.model).Index(ix.name)
	if ix.unique {
		q = q.Unique()
	}
	for _, col := range ix.columns {
		q = q.ColumnExpr(col)
	}
	if ix.where != "" {
		q = q.Where(ix.where)
	}
	return q
}

// setSearchPath makes schema the only schema of the transaction's search
// path (pg_catalog aside). Unqualified names then resolve in it, and the
// catalog functions print its types and tables without the schema name.
func setSearchPath(ctx context.Context, tx bun.Tx, schema string) error {
	if _, err := tx.ExecContext(ctx, "SELECT set_config('search_path', quote_ident(?), true)", schema); err != nil {
		return fmt.Errorf("postgres: schema check: set search_path: %w", err)
	}
	return nil
}

// readCatalog describes schema from PostgreSQL's catalog, leaving out bun's
// migration tables.
func readCatalog(ctx context.Context, tx bun.Tx, schema string) (catalog, error) {
	c := catalog{tables: map[string]catalogTable{}, indexes: map[string]catalogIndex{}, enums: map[string][]string{}}
	if err := setSearchPath(ctx, tx, schema); err != nil {
		return c, err
	}
	for _, read := range []func(context.Context, bun.Tx, string, *catalog) error{
		readTables, readColumns, readIndexes, readEnums,
	} {
		if err := read(ctx, tx, schema, &c); err != nil {
			return c, fmt.Errorf("postgres: schema check: read %s: %w", schema, err)
		}
	}
	return c, nil
}

// scanAll runs a query returning rows into dest; no rows is not an error.
func scanAll(ctx context.Context, tx bun.Tx, dest any, query string, args ...any) error {
	if err := tx.NewRaw(query, args...).Scan(ctx, dest); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}

func readTables(ctx context.Context, tx bun.Tx, schema string, c *catalog) error {
	var names []string
	if err := scanAll(ctx, tx, &names, `SELECT c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ? AND c.relkind IN ('r', 'p') AND c.relname NOT IN (?)`,
		schema, bun.List(migrationTables)); err != nil {
		return err
	}
	for _, name := range names {
		c.tables[name] = catalogTable{}
	}
	return nil
}

func readColumns(ctx context.Context, tx bun.Tx, schema string, c *catalog) error {
	var rows []struct {
		Table, Name, Type, Default, Identity string
		NotNull                              bool
	}
	if err := scanAll(ctx, tx, &rows, `SELECT c.relname AS table, a.attname AS name,
			format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
			coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default, a.attidentity::text AS identity
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE n.nspname = ? AND c.relkind IN ('r', 'p') AND c.relname NOT IN (?)
		  AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY c.relname, a.attnum`,
		schema, bun.List(migrationTables)); err != nil {
		return err
	}
	for _, r := range rows {
		t := c.tables[r.Table]
		t.columns = append(t.columns, catalogColumn{
			name: r.Name, typ: r.Type, notNull: r.NotNull, def: r.Default, identity: r.Identity,
		})
		c.tables[r.Table] = t
	}
	return nil
}

// readIndexes files the indexes of primary keys and unique constraints
// under their table, keyed by their columns, and every other index by name.
func readIndexes(ctx context.Context, tx bun.Tx, schema string, c *catalog) error {
	var rows []struct {
		Table, Name, Def, Constraint string
		Unique                       bool
	}
	if err := scanAll(ctx, tx, &rows, `SELECT t.relname AS table, i.relname AS name,
			pg_get_indexdef(x.indexrelid) AS def, x.indisunique AS unique,
			coalesce(k.contype::text, '') AS constraint
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid
		  AND k.contype IN ('p', 'u')
		WHERE n.nspname = ? AND t.relkind IN ('r', 'p') AND t.relname NOT IN (?)
		ORDER BY t.relname, i.relname`,
		schema, bun.List(migrationTables)); err != nil {
		return err
	}
	for _, r := range rows {
		key := indexKey(r.Def)
		t := c.tables[r.Table]
		switch r.Constraint {
		case "p":
			t.primaryKey = key
		case "u":
			t.uniques = append(t.uniques, key)
		default:
			c.indexes[r.Name] = catalogIndex{table: r.Table, key: key, unique: r.Unique}
		}
		c.tables[r.Table] = t
	}
	return nil
}

func readEnums(ctx context.Context, tx bun.Tx, schema string, c *catalog) error {
	var rows []struct {
		Name   string
		Labels []string `bun:",array"`
	}
	if err := scanAll(ctx, tx, &rows, `SELECT t.typname AS name,
			array_remove(array_agg(e.enumlabel ORDER BY e.enumsortorder), NULL) AS labels
		FROM pg_type t
		JOIN pg_namespace n ON n.oid = t.typnamespace
		LEFT JOIN pg_enum e ON e.enumtypid = t.oid
		WHERE n.nspname = ? AND t.typtype = 'e'
		GROUP BY t.typname`,
		schema); err != nil {
		return err
	}
	for _, r := range rows {
		c.enums[r.Name] = r.Labels
	}
	return nil
}
