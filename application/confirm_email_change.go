package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// ConfirmEmailChange moves an account to a new address through the link
// mailed there.
type ConfirmEmailChange struct {
	tokens ports.OneTimeTokenRepository
	env    Env
}

// NewConfirmEmailChange returns the ConfirmEmailChange use case.
func NewConfirmEmailChange(tokens ports.OneTimeTokenRepository, env Env) *ConfirmEmailChange {
	return &ConfirmEmailChange{tokens: tokens, env: env}
}

// Do uses the email change token and, in the same transaction, moves the
// user to the address it was mailed to (which counts as verified), ends
// every session but the one that asked for the change, revokes the user's
// other one-time tokens, audits email_changed and mails the old address a
// notice. It returns domain.ErrInvalidOneTimeToken for a token that is
// malformed, unknown, used, expired, of another purpose or of a disabled
// user, and domain.ErrEmailTaken when another account has the new address
// by now (the token then stays usable).
func (uc *ConfirmEmailChange) Do(ctx context.Context, token string, client domain.ClientInfo) error {
	now := uc.env.now()
	if !domain.LooksLikeOneTimeToken(token) {
		return domain.ErrInvalidOneTimeToken
	}
	if _, err := uc.tokens.Redeem(ctx, domain.HashOneTimeToken(token), domain.PurposeEmailChange, now,
		func(t domain.OneTimeToken, u *domain.User) error {
			old := u.Email()
			if err := u.ChangeEmail(t, now); err != nil {
				return err
			}
			ev := eventFor(domain.EventEmailChanged, u.ID(), uuid.Nil, client, now)
			ev.Detail = map[string]string{"from": old.String(), "to": u.Email().String()}
			u.Audit(ev)
			uc.env.notify(ctx, u, domain.MailTo(old), domain.MailEmailChanged,
				ports.MailData{NewEmail: u.Email().String(), Client: client, At: now})
			return nil
		}); err != nil {
		return fmt.Errorf("confirm email change: %w", err)
	}
	return nil
}
