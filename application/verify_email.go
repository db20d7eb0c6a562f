package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// VerifyEmail verifies an address through its verification link.
type VerifyEmail struct {
	tokens ports.OneTimeTokenRepository
	env    Env
}

// NewVerifyEmail returns the VerifyEmail use case.
func NewVerifyEmail(tokens ports.OneTimeTokenRepository, env Env) *VerifyEmail {
	return &VerifyEmail{tokens: tokens, env: env}
}

// Do uses the verification token and, in the same transaction, counts the
// user's address as verified, revokes the user's other verification
// tokens and audits email_verified. It returns domain.ErrInvalidOneTimeToken
// for a token that is malformed, unknown, used, expired, of another
// purpose, mailed to an address the user no longer has, or of a disabled
// user.
func (uc *VerifyEmail) Do(ctx context.Context, token string, client domain.ClientInfo) error {
	now := uc.env.now()
	if !domain.LooksLikeOneTimeToken(token) {
		return domain.ErrInvalidOneTimeToken
	}
	if _, err := uc.tokens.Redeem(ctx, domain.HashOneTimeToken(token), domain.PurposeEmailVerification, now,
		func(t domain.OneTimeToken, u *domain.User) error {
			if err := u.VerifyEmail(t, now); err != nil {
				return err
			}
			u.Audit(eventFor(domain.EventEmailVerified, u.ID(), uuid.Nil, client, now))
			return nil
		}); err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	return nil
}
