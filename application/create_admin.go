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
	users  ports.UserRepository
	hasher ports.PasswordHasher
	common domain.CommonPasswordChecker
	env    Env
}

// NewCreateAdmin returns the CreateAdmin use case.
func NewCreateAdmin(users ports.UserRepository, hasher ports.PasswordHasher, common domain.CommonPasswordChecker, env Env) *CreateAdmin {
	return &CreateAdmin{users: users, hasher: hasher, common: common, env: env}
}

// createAdminClient stands for the command line in the audit trail.
var createAdminClient = domain.NewClientInfo("authd create-admin", "")

// Do creates an active admin with email and password, or, when the email is
// taken, promotes and activates that user and sets its password, which ends
// its sessions and queues a notice to the user in the same transaction.
// created tells which. The password policy applies either way. The
// operator vouches for the address, which counts as verified.
func (uc *CreateAdmin) Do(ctx context.Context, email, password string) (u *domain.User, created bool, err error) {
	now := uc.env.now()
	var verr domain.ValidationError
	e, err := domain.ParseEmail(email)
	collect(&verr, err)
	collect(&verr, domain.ValidatePassword("password", password, uc.common))
	if err := verr.Err(); err != nil {
		return nil, false, err
	}
	hash, err := uc.hasher.Hash(ctx, password)
	if err != nil {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	nu, err := domain.NewUser(e, hash, now)
	if err != nil {
		return nil, false, err
	}
	admin, active := domain.RoleAdmin, true
	promote := domain.UserChange{Role: &admin, Active: &active}
	nu.Apply(promote, now)
	nu.MarkEmailVerified(now)
	nu.Audit(eventFor(domain.EventRoleChanged, 0, uuid.Nil, createAdminClient, now))
	u, err = uc.users.Create(ctx, nu)
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, domain.ErrEmailTaken) {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	existing, err := uc.users.ByEmail(ctx, e)
	if err != nil {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	u, err = uc.users.Update(ctx, existing.ID(), func(u *domain.User) error {
		wasAdmin, wasActive := u.Role() == domain.RoleAdmin, u.IsActive()
		// A new password ends the sessions opened with the old one.
		u.ChangePassword(hash, uuid.Nil, now)
		u.Apply(promote, now)
		u.MarkEmailVerified(now)
		u.Audit(eventFor(domain.EventPasswordChanged, u.ID(), uuid.Nil, createAdminClient, now))
		uc.env.notify(ctx, u, domain.MailToUser(0), domain.MailPasswordChanged, ports.MailData{At: now})
		if !wasAdmin {
			u.Audit(eventFor(domain.EventRoleChanged, u.ID(), uuid.Nil, createAdminClient, now))
		}
		if !wasActive {
			u.Audit(eventFor(domain.EventUserActivated, u.ID(), uuid.Nil, createAdminClient, now))
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("create admin: %w", err)
	}
	return u, false, nil
}
