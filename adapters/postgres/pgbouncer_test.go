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
// off; the migrations run against PostgreSQL directly.
func TestRepositoryContractsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, poolSize)
	newRepos := func(t *testing.T) porttest.Repos {
		dsn := pooler.DSN(t, pgtest.NewMigratedDatabase(t))
		db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 8, Prepared: postgres.PreparedOff})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return reposOn(db)
	}
	t.Run("users", func(t *testing.T) { porttest.UserRepository(t, newRepos) })
	t.Run("families", func(t *testing.T) { porttest.FamilyRepository(t, newRepos) })
	t.Run("audit", func(t *testing.T) { porttest.AuditLog(t, newRepos) })
}

// TestRotationRoundTripsThroughPgBouncer: through the pooler, the default
// mode finds that the server does not see the connection and sends the
// rotation unprepared, two round trips.
func TestRotationRoundTripsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	pooler := pgtest.StartPgBouncer(t, poolSize)
	dsn := pooler.DSN(t, pgtest.NewMigratedDatabase(t))
	for _, mode := range []postgres.PreparedMode{postgres.PreparedAuto, postgres.PreparedOff} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			checkRotationRoundTrips(t, dsn, mode, []string{"QQ", "QQ", "QQ"}, false)
		})
	}
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
