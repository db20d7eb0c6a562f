package postgres_test

import (
	"context"
	"testing"

	"github.com/uptrace/bun"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/domain"
	"authd/ports/porttest"
)

func newRepos(t *testing.T) porttest.Repos {
	return reposOn(pgtest.NewDB(t))
}

// reposOn returns the PostgreSQL repositories on db.
func reposOn(db *bun.DB) porttest.Repos {
	return porttest.Repos{
		Users:      postgres.NewUserRepository(db),
		Families:   postgres.NewFamilyRepository(db),
		Audit:      postgres.NewAuditLog(db),
		Outbox:     postgres.NewMailOutbox(db),
		MFA:        postgres.NewMFARepository(db),
		Challenges: postgres.NewWebAuthnChallenges(db),
		Tokens:     postgres.NewOneTimeTokenRepository(db),
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
		InspectMail: func(t *testing.T, id int64) porttest.MailState {
			t.Helper()
			row, err := postgres.ReadMail(context.Background(), db, id)
			if err != nil {
				t.Fatalf("read mail %d: %v", id, err)
			}
			return porttest.MailState{
				Status: row.Status, Attempts: row.Attempts, Recipient: row.Recipient,
				Template:  domain.MailTemplate(row.Template),
				Content:   domain.MailContent{Subject: row.Subject, Text: row.TextBody, HTML: row.HTMLBody},
				LastError: row.LastError, SentAt: row.SentAt, FailedAt: row.FailedAt,
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

func TestLimiterContract(t *testing.T) {
	t.Parallel()
	porttest.Limiter(t, func(t *testing.T, p domain.LimitPolicy) porttest.Limits {
		db := pgtest.NewDB(t)
		l, err := postgres.NewLimiter(db, p)
		if err != nil {
			t.Fatal(err)
		}
		return porttest.Limits{Limiter: l, Prune: l.Prune, Entries: func(t *testing.T) int {
			t.Helper()
			var n int
			if err := db.NewRaw("SELECT (SELECT count(*) FROM limit_counters) + (SELECT count(*) FROM known_ips)").Scan(t.Context(), &n); err != nil {
				t.Fatal(err)
			}
			return n
		}}
	})
}

func TestMailOutboxContract(t *testing.T) {
	t.Parallel()
	porttest.MailOutbox(t, newRepos)
}

func TestMFARepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.MFARepository(t, newRepos)
}

func TestOneTimeTokensContract(t *testing.T) {
	t.Parallel()
	porttest.OneTimeTokens(t, newRepos)
}
