package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"authd/adapters/postgres"
)

func TestAuthdScriptSendsTheRepositoryStatements(t *testing.T) {
	t.Parallel()
	script, err := authdScript(kindPgbench)
	if err != nil {
		t.Fatal(err)
	}
	load, rotate := postgres.RotationStatements()
	for _, st := range []postgres.Statement{load, rotate} {
		want, err := pgbenchSQL(st)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(script, want) {
			t.Errorf("the script does not send\n%s\nscript:\n%s", want, script)
		}
		// Back from pgbench variables to $n, the statement is the repository's.
		back := want
		for i, name := range st.Params {
			back = regexp.MustCompile(`:`+name+`\b`).ReplaceAllLiteralString(back, "$"+strconv.Itoa(i+1))
		}
		if back != st.SQL {
			t.Errorf("the script's statement is not the repository's:\n%s\nwant:\n%s", back, st.SQL)
		}
	}
	if strings.Contains(script, "$") {
		t.Errorf("a $n parameter is left in the script:\n%s", script)
	}
}

func TestPgbenchSQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		st      postgres.Statement
		want    string
		wantErr bool
	}{
		{"parameters", postgres.Statement{SQL: "SELECT $2::text, $1::int, $1", Params: []string{"a", "b_2"}}, "SELECT :b_2::text, :a::int, :a", false},
		{"casts stay", postgres.Statement{SQL: "SELECT u.role::text"}, "SELECT u.role::text", false},
		{"unnamed parameter", postgres.Statement{SQL: "SELECT $2", Params: []string{"a"}}, "", true},
		{"bad name", postgres.Statement{SQL: "SELECT $1", Params: []string{"a-b"}}, "", true},
		{"semicolon", postgres.Statement{SQL: "SELECT 1; SELECT 2"}, "", true},
		{"backslash", postgres.Statement{SQL: `SELECT E'\n'`}, "", true},
		{"colon name", postgres.Statement{SQL: "SELECT ':x'"}, "", true},
	} {
		got, err := pgbenchSQL(tc.st)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("%s: pgbenchSQL(%q) = %q, %v; want %q, error %v", tc.name, tc.st.SQL, got, err, tc.want, tc.wantErr)
		}
	}
}
