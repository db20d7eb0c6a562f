package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/ports/porttest"
)

// poolSize is the server connections a test PgBouncer holds per database:
// fewer than pgtest's pools open, so that clients really share them.
const poolSize = 4

// TestRepositoryContractsThroughPgBouncer runs every repository contract
// suite through PgBouncer in transaction mode with prepared statements
// off, and the family suite, the one with prepared statements, again with
// the default, named statements; the migrations run against PostgreSQL
// directly.
func TestRepositoryContractsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, poolSize)
	newRepos := func(mode postgres.PreparedMode) func(t *testing.T) porttest.Repos {
		return func(t *testing.T) porttest.Repos {
			dsn := pooler.DSN(t, pgtest.NewMigratedDatabase(t))
			db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 8, Prepared: mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return reposOn(db)
		}
	}
	off, auto := newRepos(postgres.PreparedOff), newRepos(postgres.PreparedAuto)
	t.Run("users", func(t *testing.T) { porttest.UserRepository(t, off) })
	t.Run("families", func(t *testing.T) { porttest.FamilyRepository(t, off) })
	t.Run("audit", func(t *testing.T) { porttest.AuditLog(t, off) })
	t.Run("families, named statements", func(t *testing.T) { porttest.FamilyRepository(t, auto) })
}

// TestRotationRoundTripsThroughPgBouncer: through the pooler, the default
// mode finds that the server does not see the connection and sends named
// statements: the first rotation on a server connection prepares them
// there (a failed EXECUTE, PREPARE, EXECUTE each), later ones cost two
// round trips, and a server session that lost them gets them again. With
// prepared statements off, every rotation costs two round trips. The
// pooler has one server connection, so that each step lands on the same.
func TestRotationRoundTripsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, 1)
	dsn := pooler.DSN(t, pgtest.NewMigratedDatabase(t))
	t.Run("auto", func(t *testing.T) {
		w := newWiredRotations(t, dsn, postgres.PreparedAuto)
		w.check(t, []string{"QQQQQQ", "QQ", "QQ"})
		w.checkStatements(t, postgres.StatementsNamed)
		other := pgtest.Open(t, dsn)
		if _, err := other.ExecContext(context.Background(), "DEALLOCATE ALL"); err != nil {
			t.Fatal(err)
		}
		w.check(t, []string{"QQQQQQ", "QQ"})
	})
	t.Run("off", func(t *testing.T) {
		w := newWiredRotations(t, dsn, postgres.PreparedOff)
		w.check(t, []string{"QQ", "QQ", "QQ"})
		w.checkStatements(t, postgres.StatementsUnprepared)
	})
}

// TestPgBouncerLosesPreparedStatements shows why: with one server
// connection behind two client connections, the second client's statement
// takes the name the first one's already holds on that server connection.
// It also proves that the test PgBouncer pools transactions, not sessions
// (which would make the second client wait for the first one's session).
func TestPgBouncerLosesPreparedStatements(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, 1)
	dsn := pooler.DSN(t, pgtest.NewDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prepare := func(mode postgres.PreparedMode) error {
		db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 2, Prepared: mode})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for i := range 2 {
			// Each *sql.Conn is a client connection of its own.
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := c.PrepareContext(ctx, "SELECT 1")
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.QueryRowContext(ctx).Scan(new(int)); err != nil {
				t.Fatalf("connection %d: %v", i+1, err)
			}
		}
		return nil
	}
	if err := prepare(postgres.PreparedOn); err == nil || !strings.Contains(err.Error(), "42P05") {
		t.Errorf("prepared statements through PgBouncer: %v, want SQLSTATE 42P05 (prepared statement already exists)", err)
	}
	for _, mode := range []postgres.PreparedMode{postgres.PreparedAuto, postgres.PreparedOff} {
		if err := prepare(mode); err != nil {
			t.Errorf("%s through PgBouncer: %v", mode, err)
		}
	}
}

// TestNamedStatementsStayOutOfTransactions: inside a transaction, where a
// missing named statement would abort it, statements go unprepared; outside
// one they are named, and prepared on the server connection.
func TestNamedStatementsStayOutOfTransactions(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, 1)
	dsn := pooler.DSN(t, pgtest.NewDatabase(t))
	bdb, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	db := bdb.DB
	ctx := context.Background()
	named := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'authd\\_%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const query = "SELECT $1::int + 1"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := tx.QueryRowContext(ctx, "SELECT 1").Scan(&got); err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	if err := stmt.QueryRowContext(ctx, 41).Scan(&got); err != nil || got != 42 {
		t.Fatalf("in a transaction: %d, %v", got, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := named(); n != 0 {
		t.Errorf("%d named statements prepared by a transaction, want 0", n)
	}
	stmt, err = db.PrepareContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for range 2 {
		if err := stmt.QueryRowContext(ctx, 41).Scan(&got); err != nil || got != 42 {
			t.Fatalf("outside a transaction: %d, %v", got, err)
		}
	}
	if n := named(); n != 1 {
		t.Errorf("%d named statements outside a transaction, want 1", n)
	}
}
