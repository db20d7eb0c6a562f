package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/adapters/postgres"
	"authd/domain"
)

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

func TestRotationStatementsNameEveryParameter(t *testing.T) {
	t.Parallel()
	load, rotate := postgres.RotationStatements()
	for name, st := range map[string]postgres.Statement{"load": load, "rotate": rotate} {
		used := map[int]bool{}
		for _, m := range placeholder.FindAllStringSubmatch(st.SQL, -1) {
			n, _ := strconv.Atoi(m[1])
			used[n] = true
		}
		if len(used) != len(st.Params) {
			t.Errorf("%s: the SQL uses %d distinct parameters, Params names %d", name, len(used), len(st.Params))
		}
		for n := range used {
			if n < 1 || n > len(st.Params) {
				t.Errorf("%s: $%d has no name in Params %q", name, n, st.Params)
			}
		}
	}
}

// TestRotationStatementsAreWhatARotationSends holds RotationStatements to
// what UpdateByToken sends when a family rotates: the same two statements,
// their arguments in the order Params names them, and each parameter of
// rotate named like a column of load's row given that column's value.
func TestRotationStatementsAreWhatARotationSends(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
	u := r.createUser(t, "grace@example.com", domain.RoleUser)
	_, s1 := r.login(t, u, t0)
	load, rotate := postgres.RotationStatements()
	loaded := loadRow(t, r, load.SQL, domain.HashRefreshToken(s1).String())

	type statement struct {
		query string
		args  []any
	}
	var sent []statement
	postgres.ObserveStatements(r.families, func(query string, args []any) { sent = append(sent, statement{query, args}) })
	now := t0.Add(time.Hour)
	s2, err := r.rotate(s1, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("a rotation sent %d prepared statements, want 2 (load, rotate)", len(sent))
	}
	for i, st := range []postgres.Statement{load, rotate} {
		if sent[i].query != st.SQL {
			t.Errorf("statement %d sent:\n%s\nRotationStatements describes:\n%s", i+1, sent[i].query, st.SQL)
		}
		if len(sent[i].args) != len(st.Params) {
			t.Fatalf("statement %d: %d arguments sent, Params names %d", i+1, len(sent[i].args), len(st.Params))
		}
	}

	var expires time.Time
	if err := r.db.NewRaw("SELECT expires_at FROM refresh_tokens WHERE token = ?", domain.HashRefreshToken(s2).String()).
		Scan(context.Background(), &expires); err != nil {
		t.Fatalf("successor: %v", err)
	}
	want := map[string]string{
		"token":                domain.HashRefreshToken(s1).String(),
		"now":                  text(now),
		"successor_token":      domain.HashRefreshToken(s2).String(),
		"successor_expires_at": text(expires),
	}
	for _, name := range rotate.Params {
		if v, ok := loaded[name]; ok {
			want[name] = v
		}
	}
	got := map[string]string{}
	for i, st := range []postgres.Statement{load, rotate} {
		for j, name := range st.Params {
			got[name] = text(sent[i].args[j])
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("arguments by parameter name (-want +got):\n%s", diff)
	}
	for _, name := range []string{"family_id", "version", "token_id"} {
		if _, ok := loaded[name]; !ok {
			t.Errorf("load answers no column %q; its columns: %v", name, loaded)
		}
	}
}

// loadRow runs query with args directly on the driver, as the repository
// does, and returns its one row by column name, each value as text.
func loadRow(t *testing.T, r repos, query string, args ...any) map[string]string {
	t.Helper()
	rows, err := r.db.DB.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no row (err %v)", rows.Err())
	}
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	row := map[string]string{}
	for i, c := range cols {
		if _, dup := row[c]; dup {
			t.Errorf("load answers two columns named %q", c)
		}
		row[c] = text(values[i])
	}
	return row
}

// text renders a value sent to or read from PostgreSQL comparably.
func text(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}
