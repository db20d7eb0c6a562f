package postgres_test

import (
	"testing"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/ports"
	"authd/ports/porttest"
)

func TestUserRepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.UserRepository(t, func(t *testing.T) ports.UserRepository {
		return postgres.NewUserRepository(pgtest.NewDB(t))
	})
}

func TestFamilyRepositoryContract(t *testing.T) {
	t.Parallel()
	porttest.FamilyRepository(t, func(t *testing.T) (ports.UserRepository, ports.FamilyRepository) {
		db := pgtest.NewDB(t)
		return postgres.NewUserRepository(db), postgres.NewFamilyRepository(db)
	})
}

func TestAuditLogContract(t *testing.T) {
	t.Parallel()
	porttest.AuditLog(t, func(t *testing.T) (ports.UserRepository, ports.AuditLog) {
		db := pgtest.NewDB(t)
		return postgres.NewUserRepository(db), postgres.NewAuditLog(db)
	})
}
