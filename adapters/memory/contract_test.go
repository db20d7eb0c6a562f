package memory_test

import (
	"testing"

	"authd/adapters/memory"
	"authd/ports"
	"authd/ports/porttest"
)

func TestUserRepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.UserRepository(t, func(*testing.T) ports.UserRepository {
		return memory.NewStore().Users()
	})
}

func TestFamilyRepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.FamilyRepository(t, func(*testing.T) (ports.UserRepository, ports.FamilyRepository) {
		s := memory.NewStore()
		return s.Users(), s.Families()
	})
}

func TestAuditLogContract(t *testing.T) {
	t.Parallel()
	porttest.AuditLog(t, func(*testing.T) (ports.UserRepository, ports.AuditLog) {
		s := memory.NewStore()
		return s.Users(), s.Audit()
	})
}
