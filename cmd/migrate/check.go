package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/uptrace/bun"

	"authd/adapters/postgres"
)

// driftError lists every difference between the models and the schema.
type driftError []string

func (d driftError) Error() string {
	return fmt.Sprintf("schema differs from the models: %s", strings.Join(d, "; "))
}

// check compares the bun models, with the indexes and enums declared next to
// them, against the live schema, the way "alembic check" does.
func check(ctx context.Context, db *bun.DB, w io.Writer) error {
	want := expectedSchema(db)
	got, err := liveSchema(ctx, db)
	if err != nil {
		return err
	}
	if diffs := compareSchemas(want, got); len(diffs) > 0 {
		return driftError(diffs)
	}
	fmt.Fprintf(w, "schema matches the models: %d tables, %d indexes, %d enum types\n",
		len(want.tables), len(want.indexes), len(want.enums))
	return nil
}

// ignoredTables are bun's own bookkeeping tables.
var ignoredTables = map[string]bool{"bun_migrations": true, "bun_migration_locks": true}

type schemaColumn struct {
	typ      string // canonical PostgreSQL spelling, as format_type prints it
	notNull  bool
	def      string // canonical default expression, "" when none
	identity bool
}

type schemaIndex struct {
	table   string
	key     string // "col1, col2 DESC"
	unique  bool
	primary bool
}

type schema struct {
	tables  map[string]map[string]schemaColumn // table → column → definition
	order   map[string][]string                // table → columns in model order
	pks     map[string]string                  // table → primary key columns
	uniques map[string][]string                // table → unique keys
	indexes map[string]schemaIndex             // index name → index (named ones)
	enums   map[string][]string                // enum type → labels in order
}

func newSchema() schema {
	return schema{
		tables:  map[string]map[string]schemaColumn{},
		order:   map[string][]string{},
		pks:     map[string]string{},
		uniques: map[string][]string{},
		indexes: map[string]schemaIndex{},
		enums:   map[string][]string{},
	}
}

// expectedSchema derives the schema from the bun model tags plus the
// explicit index and enum lists of the postgres package.
func expectedSchema(db *bun.DB) schema {
	s := newSchema()
	for _, model := range postgres.Models() {
		t := db.Dialect().Tables().Get(reflect.TypeOf(model).Elem())
		cols := map[string]schemaColumn{}
		for _, f := range t.Fields {
			typ := f.UserSQLType
			if typ == "" {
				typ = f.CreateTableSQLType
			}
			cols[f.Name] = schemaColumn{
				typ:      canonicalType(typ),
				notNull:  f.NotNull || f.IsPK,
				def:      canonicalDefault(f.SQLDefault),
				identity: f.Identity,
			}
			s.order[t.Name] = append(s.order[t.Name], f.Name)
		}
		s.tables[t.Name] = cols
		pk := make([]string, len(t.PKs))
		for i, f := range t.PKs {
			pk[i] = f.Name
		}
		s.pks[t.Name] = strings.Join(pk, ", ")
		for name, fields := range t.Unique {
			if name == "" {
				// An unnamed "unique" tag makes each column unique on its own.
				for _, f := range fields {
					s.uniques[t.Name] = append(s.uniques[t.Name], f.Name)
				}
				continue
			}
			key := make([]string, len(fields))
			for i, f := range fields {
				key[i] = f.Name
			}
			s.uniques[t.Name] = append(s.uniques[t.Name], strings.Join(key, ", "))
		}
		sort.Strings(s.uniques[t.Name])
	}
	for _, ix := range postgres.Indexes() {
		s.indexes[ix.Name] = schemaIndex{table: ix.Table, key: ix.Columns, unique: ix.Unique}
	}
	for _, e := range postgres.Enums() {
		s.enums[e.Name] = e.Labels
	}
	return s
}

// liveSchema reads the public schema from the catalog.
func liveSchema(ctx context.Context, db *bun.DB) (schema, error) {
	s := newSchema()

	var tables []string
	if err := db.NewRaw(`SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')`).Scan(ctx, &tables); err != nil && !isNoRows(err) {
		return s, fmt.Errorf("read tables: %w", err)
	}
	for _, t := range tables {
		if !ignoredTables[t] {
			s.tables[t] = map[string]schemaColumn{}
		}
	}

	var cols []struct {
		Table, Column, Type, Default string
		NotNull, Identity            bool
	}
	if err := db.NewRaw(`SELECT c.relname AS table, a.attname AS column,
			format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
			coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default, a.attidentity <> '' AS identity
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
		  AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY c.relname, a.attnum`).Scan(ctx, &cols); err != nil && !isNoRows(err) {
		return s, fmt.Errorf("read columns: %w", err)
	}
	for _, c := range cols {
		if ignoredTables[c.Table] {
			continue
		}
		s.tables[c.Table][c.Column] = schemaColumn{
			typ:      canonicalType(c.Type),
			notNull:  c.NotNull,
			def:      canonicalDefault(c.Default),
			identity: c.Identity,
		}
		s.order[c.Table] = append(s.order[c.Table], c.Column)
	}

	var idx []struct {
		Table, Name, Def string
		Unique, Primary  bool
	}
	if err := db.NewRaw(`SELECT t.relname AS table, i.relname AS name, pg_get_indexdef(x.indexrelid) AS def,
			x.indisunique AS unique, x.indisprimary AS primary
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		WHERE t.relnamespace = 'public'::regnamespace`).Scan(ctx, &idx); err != nil && !isNoRows(err) {
		return s, fmt.Errorf("read indexes: %w", err)
	}
	for _, ix := range idx {
		if ignoredTables[ix.Table] {
			continue
		}
		s.indexes[ix.Name] = schemaIndex{table: ix.Table, key: indexKey(ix.Def), unique: ix.Unique, primary: ix.Primary}
	}

	var labels []struct{ Type, Label string }
	if err := db.NewRaw(`SELECT t.typname AS type, coalesce(e.enumlabel, '') AS label
		FROM pg_type t LEFT JOIN pg_enum e ON e.enumtypid = t.oid
		WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'e'
		ORDER BY t.typname, e.enumsortorder`).Scan(ctx, &labels); err != nil && !isNoRows(err) {
		return s, fmt.Errorf("read enum types: %w", err)
	}
	for _, l := range labels {
		if _, ok := s.enums[l.Type]; !ok {
			s.enums[l.Type] = []string{}
		}
		if l.Label != "" {
			s.enums[l.Type] = append(s.enums[l.Type], l.Label)
		}
	}
	return s, nil
}

// compareSchemas lists every difference between want (the models) and got
// (the database), in a stable order.
func compareSchemas(want, got schema) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }

	for _, table := range sortedKeys(want.tables) {
		wcols := want.tables[table]
		gcols, ok := got.tables[table]
		if !ok {
			add("missing table %s", table)
			continue
		}
		for _, col := range want.order[table] {
			w := wcols[col]
			g, ok := gcols[col]
			if !ok {
				add("missing column %s.%s (%s)", table, col, w.typ)
				continue
			}
			name := table + "." + col
			if g.typ != w.typ {
				add("column %s: type is %s in the database, the model says %s", name, g.typ, w.typ)
			}
			if g.notNull != w.notNull {
				add("column %s: %s in the database, the model says %s", name, nullability(g.notNull), nullability(w.notNull))
			}
			if g.identity != w.identity {
				add("column %s: %s in the database, the model says %s", name, identity(g.identity), identity(w.identity))
			}
			if !w.identity && g.def != w.def {
				add("column %s: default is %s in the database, the model says %s", name, orNone(g.def), orNone(w.def))
			}
		}
		for _, col := range got.order[table] {
			if _, ok := wcols[col]; !ok {
				add("extra column %s.%s (%s) is not in the model", table, col, gcols[col].typ)
			}
		}
	}
	for _, table := range sortedKeys(got.tables) {
		if _, ok := want.tables[table]; !ok {
			add("extra table %s has no model", table)
		}
	}

	// Indexes: primary keys and unique keys come from the model tags, the
	// other indexes from the explicit list; whatever is left is extra.
	accounted := map[string]bool{}
	for _, table := range sortedKeys(want.tables) {
		if _, ok := got.tables[table]; !ok {
			continue
		}
		if pk := want.pks[table]; pk != "" {
			if name, ok := findIndex(got, table, pk, func(ix schemaIndex) bool { return ix.primary }); ok {
				accounted[name] = true
			} else {
				add("table %s: missing primary key (%s)", table, pk)
			}
		}
		for _, key := range want.uniques[table] {
			if name, ok := findIndex(got, table, key, func(ix schemaIndex) bool { return ix.unique && !ix.primary }); ok {
				accounted[name] = true
			} else {
				add("table %s: missing unique constraint on (%s)", table, key)
			}
		}
	}
	for _, name := range sortedKeys(want.indexes) {
		w := want.indexes[name]
		accounted[name] = true
		if _, ok := got.tables[w.table]; !ok {
			continue // reported as a missing table
		}
		g, ok := got.indexes[name]
		switch {
		case !ok:
			add("table %s: missing index %s on (%s)", w.table, name, w.key)
		case g.table != w.table || g.key != w.key || g.unique != w.unique:
			add("index %s: is %s on %s (%s) in the database, the model says %s on %s (%s)",
				name, uniqueness(g.unique), g.table, g.key, uniqueness(w.unique), w.table, w.key)
		}
	}
	for _, name := range sortedKeys(got.indexes) {
		g := got.indexes[name]
		if _, ok := want.tables[g.table]; !ok || accounted[name] {
			continue // indexes of extra tables are covered by "extra table"
		}
		add("extra %s index %s on %s (%s) is not declared with the models", uniqueness(g.unique), name, g.table, g.key)
	}

	for _, name := range sortedKeys(want.enums) {
		w := want.enums[name]
		g, ok := got.enums[name]
		if !ok {
			add("missing enum type %s (%s)", name, strings.Join(w, ", "))
			continue
		}
		for _, l := range w {
			if !slices.Contains(g, l) {
				add("enum %s: missing label %q", name, l)
			}
		}
		for _, l := range g {
			if !slices.Contains(w, l) {
				add("enum %s: extra label %q is not in the model", name, l)
			}
		}
		if len(g) == len(w) && !slices.Equal(g, w) && sameSet(g, w) {
			add("enum %s: labels are ordered %s in the database, the model says %s", name, strings.Join(g, ", "), strings.Join(w, ", "))
		}
	}
	for _, name := range sortedKeys(got.enums) {
		if _, ok := want.enums[name]; !ok {
			add("extra enum type %s is not used by the models", name)
		}
	}
	return diffs
}

func findIndex(s schema, table, key string, match func(schemaIndex) bool) (string, bool) {
	for _, name := range sortedKeys(s.indexes) {
		ix := s.indexes[name]
		if ix.table == table && ix.key == key && match(ix) {
			return name, true
		}
	}
	return "", false
}

var indexKeyRE = regexp.MustCompile(`USING \w+ \((.*)\)`)

// indexKey extracts "a, b DESC" from pg_get_indexdef's output.
func indexKey(def string) string {
	if m := indexKeyRE.FindStringSubmatch(def); m != nil {
		return m[1]
	}
	return def
}

var (
	lengthRE = regexp.MustCompile(`^([a-z ]+?)\s*(\(\s*\d+(\s*,\s*\d+)?\s*\))?$`)
	aliases  = map[string]string{
		"varchar":     "character varying",
		"char":        "character",
		"bpchar":      "character",
		"timestamptz": "timestamp with time zone",
		"timestamp":   "timestamp without time zone",
		"timetz":      "time with time zone",
		"time":        "time without time zone",
		"int8":        "bigint",
		"bigserial":   "bigint",
		"int":         "integer",
		"int4":        "integer",
		"serial":      "integer",
		"int2":        "smallint",
		"bool":        "boolean",
		"float8":      "double precision",
		"float4":      "real",
		"decimal":     "numeric",
	}
)

// canonicalType spells a SQL type the way format_type does.
func canonicalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	m := lengthRE.FindStringSubmatch(t)
	if m == nil {
		return t
	}
	base, length := m[1], strings.ReplaceAll(m[2], " ", "")
	if a, ok := aliases[base]; ok {
		base = a
	}
	return base + length
}

var castRE = regexp.MustCompile(`::[a-z_ ]+(\(\d+(,\d+)?\))?(\[\])?$`)

// canonicalDefault strips the casts PostgreSQL adds to stored defaults
// ('user'::userrole → 'user') and spells the current time one way.
func canonicalDefault(d string) string {
	d = strings.TrimSpace(d)
	for {
		stripped := castRE.ReplaceAllString(d, "")
		if stripped == d {
			break
		}
		d = strings.TrimSpace(stripped)
	}
	switch strings.ToLower(d) {
	case "current_timestamp", "now()", "transaction_timestamp()":
		return "now()"
	case "true", "false", "null":
		return strings.ToLower(d)
	}
	return d
}

func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func nullability(notNull bool) string {
	if notNull {
		return "NOT NULL"
	}
	return "nullable"
}

func identity(id bool) string {
	if id {
		return "an identity column"
	}
	return "not an identity column"
}

func uniqueness(u bool) string {
	if u {
		return "unique"
	}
	return "non-unique"
}

func orNone(d string) string {
	if d == "" {
		return "(none)"
	}
	return d
}

func isNoRows(err error) bool { return err != nil && strings.Contains(err.Error(), "no rows") }
