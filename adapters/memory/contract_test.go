package memory_test

import (
	"testing"

	"authd/adapters/memory"
	"authd/domain"
	"authd/ports/porttest"
)

func newRepos(*testing.T) porttest.Repos {
	s := memory.NewStore()
	return porttest.Repos{
		Users:            s.Users(),
		Families:         s.Families(),
		Audit:            s.Audit(),
		Outbox:           s.Outbox(),
		MFA:              s.MFA(),
		Challenges:       s.Challenges(),
		Tokens:           s.OneTimeTokens(),
		BreakSessionEnds: func(*testing.T) { s.BreakSessionEnds() },
		InspectMail: func(t *testing.T, id int64) porttest.MailState {
			t.Helper()
			m, ok := s.MailState(id)
			if !ok {
				t.Fatalf("no mail %d", id)
			}
			return porttest.MailState{
				Status: m.Status, Attempts: m.Attempts, Recipient: m.Recipient, Template: m.Template,
				Content: m.Content, LastError: m.LastError, SentAt: m.SentAt, FailedAt: m.FailedAt,
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
		l, err := memory.NewLimiter(p)
		if err != nil {
			t.Fatal(err)
		}
		return porttest.Limits{Limiter: l, Prune: l.Prune, Entries: func(*testing.T) int { return l.Len() }}
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
