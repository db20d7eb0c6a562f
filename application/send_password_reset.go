package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// SendPasswordReset mails a user a password reset link at an admin's
// request.
type SendPasswordReset struct {
	users ports.UserRepository
	env   Env
}

// NewSendPasswordReset returns the SendPasswordReset use case.
func NewSendPasswordReset(users ports.UserRepository, env Env) *SendPasswordReset {
	return &SendPasswordReset{users: users, env: env}
}

// Do issues a reset token to the user with id (revoking its earlier ones)
// and queues the mail with its link, audited as password_reset_requested
// with admin as the actor, in one transaction. The password and sessions
// stay as they are until the link is used. It returns
// domain.ErrUserNotFound.
func (uc *SendPasswordReset) Do(ctx context.Context, admin domain.Principal, id domain.UserID, client domain.ClientInfo) error {
	now := uc.env.now()
	if _, err := uc.users.Update(ctx, id, func(u *domain.User) error {
		if err := uc.env.mailLink(u, domain.PurposePasswordReset, client, now); err != nil {
			return err
		}
		ev := eventFor(domain.EventPasswordResetRequested, id, uuid.Nil, client, now)
		ev.ActorID = admin.UserID
		u.Audit(ev)
		return nil
	}); err != nil {
		return fmt.Errorf("send password reset: %w", err)
	}
	return nil
}
