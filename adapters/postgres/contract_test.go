package postgres_test

import (
	"context"
	"testing"

	"github.com/uptrace/bun"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/ports/porttest"
)

func newRepos(t *testing.T) porttest.Repos {
	return reposOn(pgtest.NewDB(t))
}

// reposOn returns the PostgreSQL repositories on db.
func reposOn(db *bun.DB) porttest.Repos {
	return porttest.Repos{
		Users:    postgres.NewUserRepository(db),
		Families: postgres.NewFamilyRepository(db),
		Audit:    postgres.NewAuditLog(db),
		// A trigger makes every statement that ends a session fail, as a
		// lost connection or a full disk would.
		BreakSessionEnds: func(t *testing.T) {
			t.Helper()
			for _, q := range []string{
				`CREATE FUNCTION refuse_session_end() RETURNS trigger LANGUAGE plpgsql AS $$
				 BEGIN RAISE EXCEPTION 'ending sessions is broken (injected)'; END $$`,
				`CREATE TRIGGER refuse_session_end BEFORE UPDATE OF revoked_at ON token_families
				 FOR EACH STATEMENT EXECUTE FUNCTION refuse_session_end()`,
			} {
				if _, err := db.ExecContext(context.Background(), q); err != nil {
					t.Fatalf("break session ends: %v", err)
				}
			}
		},
	}
}

func TestUserRepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.UserRepository(t, newRepos)
}

func TestFamilyRepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.FamilyRepository(t, newRepos)
}

func TestAuditLogContract(t *testing.T) {
	t.Parallel()
	porttest.AuditLog(t, newRepos)
}
