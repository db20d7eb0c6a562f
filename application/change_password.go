package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// ChangePasswordInput is a password change request as received.
type ChangePasswordInput struct {
	CurrentPassword string
	NewPassword     string
	Client          domain.ClientInfo
}

// ChangePassword replaces the caller's password.
type ChangePassword struct {
	users  ports.UserRepository
	hasher ports.PasswordHasher
	common domain.CommonPasswordChecker
	env    Env
}

// NewChangePassword returns the ChangePassword use case.
func NewChangePassword(users ports.UserRepository, hasher ports.PasswordHasher, common domain.CommonPasswordChecker, env Env) *ChangePassword {
	return &ChangePassword{users: users, hasher: hasher, common: common, env: env}
}

// Do checks the current password, applies the password policy to the new
// one, and in one transaction stores its hash and ends every other session
// of the user; the caller's own session stays usable.
//
// It returns ErrWrongCurrentPassword when the current password is wrong (or
// stopped being the user's password while this change was made), a
// *domain.ValidationError for a new password the policy refuses, and
// domain.ErrInvalidAccessToken when the account is gone or inactive.
func (uc *ChangePassword) Do(ctx context.Context, p domain.Principal, in ChangePasswordInput) error {
	now := uc.env.now()
	if domain.TooLongToBePassword(in.CurrentPassword) {
		return ErrWrongCurrentPassword
	}
	if err := domain.ValidatePassword("new_password", in.NewPassword, uc.common); err != nil {
		return err
	}
	u, err := NewGetCurrentUser(uc.users, uc.env).Do(ctx, p)
	if err != nil {
		return err
	}
	ok, _, err := uc.hasher.Verify(ctx, in.CurrentPassword, u.PasswordHash())
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return ErrWrongCurrentPassword
	}
	hash, err := uc.hasher.Hash(ctx, in.NewPassword)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	verified := u.SessionEpoch()
	if _, err := uc.users.Update(ctx, p.UserID, func(u *domain.User) error {
		if u.SessionEpoch() != verified {
			return ErrWrongCurrentPassword
		}
		u.ChangePassword(hash, p.SessionID, now)
		return nil
	}); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	uc.env.record(ctx, eventFor(domain.EventPasswordChanged, p.UserID, p.SessionID, in.Client, now))
	return nil
}
