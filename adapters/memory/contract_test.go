package memory_test

import (
	"testing"

	"authd/adapters/memory"
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
