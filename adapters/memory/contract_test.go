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
		BreakSessionEnds: func(*testing.T) { s.BreakSessionEnds() },
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
