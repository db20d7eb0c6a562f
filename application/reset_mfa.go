package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// ResetMFA removes every second factor of a user, for admins (a user who
// lost their authenticator and their recovery codes).
type ResetMFA struct{ m *mfaDeps }

// Do removes the TOTP secret, the passkeys and the recovery codes of the
// user with id on behalf of admin and ends every session of the user,
// auditing mfa_reset_by_admin with the admin as actor and mailing the
// user, in one transaction. A user without factors is left as is. It
// returns domain.ErrUserNotFound.
func (uc *ResetMFA) Do(ctx context.Context, admin domain.Principal, id domain.UserID, client domain.ClientInfo) error {
	now := uc.m.env.now()
	err := uc.m.mfa.Update(ctx, id, func(m *domain.MFA) error {
		if !m.Reset(now) {
			return nil
		}
		ev := eventFor(domain.EventMFAResetByAdmin, id, uuid.Nil, client, now)
		ev.ActorID = admin.UserID
		m.Audit(ev)
		uc.m.env.notify(ctx, m, domain.MailToUser(0), domain.MailMFARemoved, ports.MailData{Client: client, At: now, Method: "every second factor, by an administrator"})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset mfa: %w", err)
	}
	return nil
}
