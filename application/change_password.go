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
	Users    ports.UserRepository
	Families ports.FamilyRepository
	Hasher   ports.PasswordHasher
	Common   domain.CommonPasswordChecker
	Env      Env
}

// Do checks the current password, applies the password policy to the new
// one, stores its hash and ends every other session of the user; the
// caller's own session stays usable.
//
// It returns ErrWrongCurrentPassword when the current password is
// wrong, a *domain.ValidationError for a new password the policy refuses,
// and domain.ErrInvalidAccessToken when the account is gone or inactive.
func (uc *ChangePassword) Do(ctx context.Context, p domain.Principal, in ChangePasswordInput) error {
	now := uc.Env.Clock.Now()
	if domain.TooLongToBePassword(in.CurrentPassword) {
		return ErrWrongCurrentPassword
	}
	if err := domain.ValidatePassword("new_password", in.NewPassword, uc.Common); err != nil {
		return err
	}
	u, err := (&GetCurrentUser{Users: uc.Users}).Do(ctx, p)
	if err != nil {
		return err
	}
	ok, _, err := uc.Hasher.Verify(ctx, in.CurrentPassword, u.PasswordHash())
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return ErrWrongCurrentPassword
	}
	hash, err := uc.Hasher.Hash(ctx, in.NewPassword)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if _, err := uc.Users.Update(ctx, p.UserID, now, func(u *domain.User, _ int) error {
		u.ChangePasswordHash(hash)
		return nil
	}); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if _, err := uc.Families.EndAllForUser(ctx, p.UserID, now, p.SessionID); err != nil {
		return fmt.Errorf("change password: end other sessions: %w", err)
	}
	uc.Env.record(ctx, eventFor(domain.EventPasswordChanged, p.UserID, p.SessionID, in.Client, now))
	return nil
}

// ErrWrongCurrentPassword is returned by ChangePassword when the current
// password does not match. It also matches domain.ErrInvalidCredentials.
var ErrWrongCurrentPassword = fmt.Errorf("%w: current password does not match", domain.ErrInvalidCredentials)
