package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// CreateAdmin makes sure an active admin with a known password exists; it
// backs the create-admin command.
type CreateAdmin struct {
	Users    ports.UserRepository
	Families ports.FamilyRepository
	Hasher   ports.PasswordHasher
	Common   domain.CommonPasswordChecker
	Env      Env
}

// Do creates an active admin with email and password, or, when the email is
// taken, promotes and activates that user, sets its password and ends its
// sessions. created tells which. The password policy applies either way.
func (uc *CreateAdmin) Do(ctx context.Context, email, password string) (u *domain.User, created bool, err error) {
	now := uc.Env.Clock.Now()
	var verr domain.ValidationError
	e, err := domain.ParseEmail(email)
	collect(&verr, err)
	collect(&verr, domain.ValidatePassword("password", password, uc.Common))
	if err := verr.Err(); err != nil {
		return nil, false, err
	}
	hash, err := uc.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	nu, err := domain.NewUser(e, hash, now)
	if err != nil {
		return nil, false, err
	}
	admin, active := domain.RoleAdmin, true
	if err := nu.Apply(domain.UserChange{Role: &admin, Active: &active}, 0); err != nil {
		return nil, false, err
	}
	u, err = uc.Users.Create(ctx, nu)
	if err == nil {
		uc.Env.record(ctx, eventFor(domain.EventRoleChanged, u.ID(), uuid.Nil, domain.ClientInfo{UserAgent: "authd create-admin"}, now))
		return u, true, nil
	}
	if !errors.Is(err, domain.ErrEmailTaken) {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	existing, err := uc.Users.ByEmail(ctx, e)
	if err != nil {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	u, err = uc.Users.Update(ctx, existing.ID(), now, func(u *domain.User, activeAdmins int) error {
		u.ChangePasswordHash(hash)
		return u.Apply(domain.UserChange{Role: &admin, Active: &active}, activeAdmins)
	})
	if err != nil {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	// A new password ends the sessions opened with the old one, as a
	// password change does.
	if _, err := uc.Families.EndAllForUser(ctx, u.ID(), now, uuid.Nil); err != nil {
		return nil, false, fmt.Errorf("create admin: end sessions: %w", err)
	}
	client := domain.ClientInfo{UserAgent: "authd create-admin"}
	uc.Env.record(ctx, eventFor(domain.EventPasswordChanged, u.ID(), uuid.Nil, client, now))
	if existing.Role() != domain.RoleAdmin {
		uc.Env.record(ctx, eventFor(domain.EventRoleChanged, u.ID(), uuid.Nil, client, now))
	}
	if !existing.IsActive() {
		uc.Env.record(ctx, eventFor(domain.EventUserActivated, u.ID(), uuid.Nil, client, now))
	}
	return u, false, nil
}
