package postgres

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// catalog is one schema as PostgreSQL's catalog spells it.
type catalog struct {
	tables map[string]catalogTable
	// indexes are the indexes that back no primary key or unique constraint, by name.
	indexes map[string]catalogIndex
	enums   map[string][]string // enum type → labels in order
}

type catalogTable struct {
	columns    []catalogColumn // in column order
	primaryKey string          // key of the primary key, "(id)"; "" when none
	uniques    []string        // keys of the unique constraints
}

type catalogColumn struct {
	name     string
	typ      string // as format_type prints it
	notNull  bool
	def      string // as pg_get_expr prints it; "" when none
	identity string // pg_attribute.attidentity: "", "d" (by default) or "a" (always)
}

type catalogIndex struct {
	table  string
	key    string // see indexKey
	unique bool
}

func (c catalog) summary() SchemaSummary {
	s := SchemaSummary{Tables: len(c.tables), Indexes: len(c.indexes), Enums: len(c.enums)}
	for _, t := range c.tables {
		s.Indexes += len(t.uniques)
		if t.primaryKey != "" {
			s.Indexes++
		}
	}
	return s
}

// indexKey is what pg_get_indexdef prints after the table's name, the
// access method left out when it is btree: "(user_id, created_at DESC)",
// "USING gin (tags)", "(email) WHERE (is_active)". The index and table
// names, and so the schema, are not part of it.
func indexKey(def string) string {
	_, key, ok := strings.Cut(def, " USING ")
	if !ok {
		return def
	}
	if k, ok := strings.CutPrefix(key, "btree "); ok {
		return k
	}
	return "USING " + key
}

// diffs collects differences as sentences.
type diffs []string

func (d *diffs) add(format string, args ...any) { *d = append(*d, fmt.Sprintf(format, args...)) }

// compareSchemas lists every difference between want (the models) and got
// (the database), in a stable order.
func compareSchemas(want, got catalog) []string {
	var d diffs
	compareTables(&d, want.tables, got.tables)
	compareIndexes(&d, want, got)
	compareEnums(&d, want.enums, got.enums)
	return d
}

func compareTables(d *diffs, want, got map[string]catalogTable) {
	for _, name := range sortedKeys(want) {
		g, ok := got[name]
		if !ok {
			d.add("missing table %s", name)
			continue
		}
		compareColumns(d, name, want[name].columns, g.columns)
		compareKeys(d, name, want[name], g)
	}
	for _, name := range sortedKeys(got) {
		if _, ok := want[name]; !ok {
			d.add("extra table %s has no model", name)
		}
	}
}

func compareColumns(d *diffs, table string, want, got []catalogColumn) {
	for _, w := range want {
		g, ok := findColumn(got, w.name)
		if !ok {
			d.add("missing column %s.%s (%s)", table, w.name, w.typ)
			continue
		}
		compareColumn(d, table+"."+w.name, w, g)
	}
	for _, g := range got {
		if _, ok := findColumn(want, g.name); !ok {
			d.add("extra column %s.%s (%s) is not in the model", table, g.name, g.typ)
		}
	}
}

func findColumn(cols []catalogColumn, name string) (catalogColumn, bool) {
	i := slices.IndexFunc(cols, func(c catalogColumn) bool { return c.name == name })
	if i < 0 {
		return catalogColumn{}, false
	}
	return cols[i], true
}

// compareColumn compares two columns of the same name; the order of
// columns is not compared, since a migration can only add columns last.
func compareColumn(d *diffs, name string, want, got catalogColumn) {
	if got.typ != want.typ {
		d.add("column %s: type is %s in the database, the model says %s", name, got.typ, want.typ)
	}
	if got.notNull != want.notNull {
		d.add("column %s: %s in the database, the model says %s", name, nullability(got.notNull), nullability(want.notNull))
	}
	if got.identity != want.identity {
		d.add("column %s: %s in the database, the model says %s", name, identity(got.identity), identity(want.identity))
	}
	if got.def != want.def {
		g, w := shownDefaults(got, want)
		d.add("column %s: default is %s in the database, the model says %s", name, g, w)
	}
}

// shownDefaults spells two different defaults for a message, without the
// cast to the column's own type that PostgreSQL adds to a literal
// ('user'::userrole reads 'user') unless that would make them look equal.
func shownDefaults(got, want catalogColumn) (string, string) {
	g, w := withoutOwnCast(got.def, got.typ), withoutOwnCast(want.def, want.typ)
	if g == w {
		g, w = got.def, want.def
	}
	return orNone(g), orNone(w)
}

func withoutOwnCast(def, typ string) string {
	base, _, _ := strings.Cut(typ, "(")
	for _, t := range []string{typ, base} {
		if s, ok := strings.CutSuffix(def, "::"+t); ok {
			return s
		}
	}
	return def
}

// compareKeys compares the primary key and unique constraints of a table.
func compareKeys(d *diffs, table string, want, got catalogTable) {
	switch {
	case want.primaryKey == got.primaryKey:
	case got.primaryKey == "":
		d.add("table %s: missing primary key %s", table, want.primaryKey)
	case want.primaryKey == "":
		d.add("table %s: extra primary key %s is not in the model", table, got.primaryKey)
	default:
		d.add("table %s: primary key is %s in the database, the model says %s", table, got.primaryKey, want.primaryKey)
	}
	for _, key := range want.uniques {
		if !slices.Contains(got.uniques, key) {
			d.add("table %s: missing unique constraint on %s", table, key)
		}
	}
	for _, key := range got.uniques {
		if !slices.Contains(want.uniques, key) {
			d.add("table %s: extra unique constraint on %s is not in the model", table, key)
		}
	}
}

// compareIndexes compares the indexes by name. Those of a missing or an
// extra table are left out: that table is reported already.
func compareIndexes(d *diffs, want, got catalog) {
	for _, name := range sortedKeys(want.indexes) {
		w := want.indexes[name]
		if _, ok := got.tables[w.table]; !ok {
			continue
		}
		g, ok := got.indexes[name]
		switch {
		case !ok:
			d.add("table %s: missing index %s on %s", w.table, name, w.key)
		case g != w:
			d.add("index %s: is %s on %s %s in the database, the model says %s on %s %s",
				name, uniqueness(g.unique), g.table, g.key, uniqueness(w.unique), w.table, w.key)
		}
	}
	for _, name := range sortedKeys(got.indexes) {
		g := got.indexes[name]
		if _, ok := want.indexes[name]; ok {
			continue
		}
		if _, ok := want.tables[g.table]; ok {
			d.add("extra %s index %s on %s %s is not declared with the models", uniqueness(g.unique), name, g.table, g.key)
		}
	}
}

func compareEnums(d *diffs, want, got map[string][]string) {
	for _, name := range sortedKeys(want) {
		g, ok := got[name]
		if !ok {
			d.add("missing enum type %s (%s)", name, strings.Join(want[name], ", "))
			continue
		}
		compareEnumLabels(d, name, want[name], g)
	}
	for _, name := range sortedKeys(got) {
		if _, ok := want[name]; !ok {
			d.add("extra enum type %s is not declared with the models", name)
		}
	}
}

// compareEnumLabels reports missing and extra labels or, when the labels
// are the same, a different order (which ORDER BY on the column follows).
func compareEnumLabels(d *diffs, name string, want, got []string) {
	for _, l := range want {
		if !slices.Contains(got, l) {
			d.add("enum %s: missing label %q", name, l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			d.add("enum %s: extra label %q is not in the model", name, l)
		}
	}
	if !slices.Equal(got, want) && sameLabels(got, want) {
		d.add("enum %s: labels are ordered %s in the database, the model says %s",
			name, strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

// sameLabels reports whether a and b hold the same labels in any order.
func sameLabels(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(l string) bool { return !slices.Contains(b, l) })
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

func identity(attidentity string) string {
	switch attidentity {
	case "":
		return "not an identity column"
	case "a":
		return "an identity column generated always"
	default:
		return "an identity column generated by default"
	}
}

func uniqueness(unique bool) string {
	if unique {
		return "unique"
	}
	return "non-unique"
}

func orNone(def string) string {
	if def == "" {
		return "(none)"
	}
	return def
}
