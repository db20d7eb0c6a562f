package application

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	users   ports.UserRepository
	hasher  ports.PasswordHasher
	common  domain.CommonPasswordChecker
	limiter ports.Limiter
	env     Env
}

// NewChangePassword returns the ChangePassword use case; limiter enforces
// the abuse limits (NoLimits for none).
func NewChangePassword(users ports.UserRepository, hasher ports.PasswordHasher, common domain.CommonPasswordChecker, limiter ports.Limiter, env Env) *ChangePassword {
	return &ChangePassword{users: users, hasher: hasher, common: common, limiter: limiter, env: env}
}

// Do checks the current password, applies the password policy to the new
// one, and in one transaction stores its hash and ends every other session
// of the user; the caller's own session stays usable.
//
// The current password is a password attempt like a login's: the abuse
// limits admit it before it is hashed (a *domain.RateLimitError otherwise,
// the first of a block audited as rate_limited), a wrong one counts toward
// the same limits and is audited as password_change_failed, and a right
// one does not count.
//
// It returns ErrWrongCurrentPassword when the current password is wrong (or
// stopped being the user's password while this change was made), a
// *domain.ValidationError for a new password the policy refuses, and
// domain.ErrInvalidAccessToken when the account is gone or inactive.
func (uc *ChangePassword) Do(ctx context.Context, p domain.Principal, in ChangePasswordInput) error {
	now := uc.env.now()
	if err := domain.ValidatePassword("new_password", in.NewPassword, uc.common); err != nil {
		return err
	}
	u, err := NewGetCurrentUser(uc.users, uc.env).Do(ctx, p)
	if err != nil {
		return err
	}
	attempt := domain.NewPasswordAttempt(u.Email(), in.Client, now)
	if first, err := admission("change password", uc.limiter.AdmitPassword(ctx, attempt)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, p.UserID, p.SessionID, in.Client, now))
		}
		return err
	}
	err = uc.change(ctx, p, u, in, now)
	uc.env.settle(ctx, uc.limiter, attempt, err)
	if errors.Is(err, ErrWrongCurrentPassword) {
		uc.env.record(ctx, eventFor(domain.EventPasswordChangeFailed, p.UserID, p.SessionID, in.Client, now))
	}
	return err
}

// change checks the current password of an admitted attempt and stores the
// new one.
func (uc *ChangePassword) change(ctx context.Context, p domain.Principal, u *domain.User, in ChangePasswordInput, now time.Time) error {
	if domain.TooLongToBePassword(in.CurrentPassword) {
		return ErrWrongCurrentPassword
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
		u.Audit(eventFor(domain.EventPasswordChanged, p.UserID, p.SessionID, in.Client, now))
		uc.env.notify(ctx, u, domain.MailToUser(0), domain.MailPasswordChanged, ports.MailData{Client: in.Client, At: now})
		return nil
	}); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}
