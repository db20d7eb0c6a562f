package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"authd/adapters/postgres"
	"authd/domain"
)

// successorBase offsets the digests that the script of authdScript issues:
// pgbench cannot compute a SHA-256 digest, so the successor of the token
// with id N gets the digest successorBase + N, a 19-digit number that no
// other token has (authd's digests are 64 hex digits).
const successorBase = 1_000_000_000_000_000_000

// authdScriptTemplate runs one rotation per transaction, each client
// rotating its own session (client i has session i+1), so that no two
// clients race. The first transaction of a client reads its session's
// current token, and fixes now and successor_expires_at for the run
// (pgbench has no clock); started is 0 until then (set with -D). The load
// statement's \gset sets one variable per column of its row, family_id,
// version and token_id among them; the rotate statement takes them, and
// the issued token is presented next.
const authdScriptTemplate = `\set n :client_id + 1
\if :started = 0
SELECT t.token, now() AS now, now() + make_interval(secs => %[2]d) AS successor_expires_at FROM refresh_tokens AS t WHERE t.token_family = (SELECT family_id FROM bench_families WHERE kind = '%[1]s' AND n = :n) AND t.revoked_at IS NULL \gset
\set started 1
\endif
%[3]s \gset
\set successor_token %[4]d + :token_id
%[5]s;
\set token :successor_token
`

// authdScript returns the pgbench script that rotates sessions of kind with
// authd's own two statements, postgres.RotationStatements, sent unchanged
// but for their parameters, which become the pgbench variables they are
// named after. Run with -M prepared, as FamilyRepository prepares them, it
// shows what authd's SQL costs PostgreSQL without authd.
func authdScript(kind string) (string, error) {
	load, rotate := postgres.RotationStatements()
	loadSQL, err := pgbenchSQL(load)
	if err != nil {
		return "", fmt.Errorf("load statement: %w", err)
	}
	rotateSQL, err := pgbenchSQL(rotate)
	if err != nil {
		return "", fmt.Errorf("rotate statement: %w", err)
	}
	ttl := int64(domain.DefaultSessionPolicy.TokenTTL.Seconds())
	return fmt.Sprintf(authdScriptTemplate, kind, ttl, loadSQL, successorBase, rotateSQL), nil
}

var (
	placeholderPattern = regexp.MustCompile(`\$[0-9]+`)
	// A colon before a name, other than in a :: cast, is a pgbench variable.
	pgbenchVarPattern = regexp.MustCompile(`(^|[^:]):[A-Za-z0-9_]`)
	pgbenchVarName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// pgbenchSQL rewrites st as one pgbench SQL command: $n becomes :name,
// where name is st.Params[n-1]. It refuses statements pgbench would read
// differently: a semicolon or a backslash would end the command early, and
// a colon before a name would be taken for a variable.
func pgbenchSQL(st postgres.Statement) (string, error) {
	switch {
	case strings.ContainsAny(st.SQL, `;\`):
		return "", fmt.Errorf("pgbench would end the command at its ; or \\: %s", st.SQL)
	case pgbenchVarPattern.MatchString(st.SQL):
		return "", fmt.Errorf("pgbench would take a :name in it for a variable: %s", st.SQL)
	}
	for _, name := range st.Params {
		if !pgbenchVarName.MatchString(name) {
			return "", fmt.Errorf("parameter name %q is not a pgbench variable name", name)
		}
	}
	var bad error
	sql := placeholderPattern.ReplaceAllStringFunc(st.SQL, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		if n < 1 || n > len(st.Params) {
			bad = fmt.Errorf("%s has no name in %q", p, st.Params)
			return p
		}
		return ":" + st.Params[n-1]
	})
	return sql, bad
}
