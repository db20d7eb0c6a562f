package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// ConfirmPasswordResetInput is the use of a password reset link.
type ConfirmPasswordResetInput struct {
	Token       string
	NewPassword string
	Client      domain.ClientInfo
}

// ConfirmPasswordReset sets a new password through a reset link.
type ConfirmPasswordReset struct {
	tokens ports.OneTimeTokenRepository
	hasher ports.PasswordHasher
	common domain.CommonPasswordChecker
	env    Env
}

// NewConfirmPasswordReset returns the ConfirmPasswordReset use case.
func NewConfirmPasswordReset(tokens ports.OneTimeTokenRepository, hasher ports.PasswordHasher, common domain.CommonPasswordChecker, env Env) *ConfirmPasswordReset {
	return &ConfirmPasswordReset{tokens: tokens, hasher: hasher, common: common, env: env}
}

// Do uses the reset token in.Token to replace the password with
// in.NewPassword. In one transaction it consumes the token, stores the new
// hash, ends every session of the user, counts the address as verified,
// revokes the user's other reset tokens, audits password_reset and queues
// a password-changed notice. The token is checked before the new password
// is hashed, so that made-up tokens cost no hash.
//
// It returns domain.ErrInvalidOneTimeToken for a token that is malformed,
// unknown, used, expired, of another purpose, mailed to an address the
// user no longer has, or of a disabled user; and a *domain.ValidationError
// for a new password the policy refuses.
func (uc *ConfirmPasswordReset) Do(ctx context.Context, in ConfirmPasswordResetInput) error {
	now := uc.env.now()
	if !domain.LooksLikeOneTimeToken(in.Token) {
		return domain.ErrInvalidOneTimeToken
	}
	if err := domain.ValidatePassword("new_password", in.NewPassword, uc.common); err != nil {
		return err
	}
	hash := domain.HashOneTimeToken(in.Token)
	if _, err := uc.tokens.Find(ctx, hash, domain.PurposePasswordReset, now); err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	pw, err := uc.hasher.Hash(ctx, in.NewPassword)
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	if _, err := uc.tokens.Redeem(ctx, hash, domain.PurposePasswordReset, now, func(t domain.OneTimeToken, u *domain.User) error {
		if err := u.ResetPassword(t, pw, now); err != nil {
			return err
		}
		u.Audit(eventFor(domain.EventPasswordReset, u.ID(), uuid.Nil, in.Client, now))
		uc.env.notify(ctx, u, domain.MailToUser(0), domain.MailPasswordChanged, ports.MailData{Client: in.Client, At: now})
		return nil
	}); err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	return nil
}
