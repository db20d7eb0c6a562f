package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// RemoveTOTP removes the caller's TOTP secret.
type RemoveTOTP struct{ m *mfaDeps }

// Do checks the current password (see stepUp) and removes the TOTP secret,
// confirmed or pending, auditing mfa_removed, mailing the user and ending
// the user's other sessions when it was confirmed; the recovery codes go
// too when no second factor is left. It returns domain.ErrMFANotEnrolled
// without one, ErrWrongCurrentPassword, or a *domain.RateLimitError.
func (uc *RemoveTOTP) Do(ctx context.Context, p domain.Principal, currentPassword string, client domain.ClientInfo) error {
	now := uc.m.env.now()
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return err
	}
	if err := uc.m.stepUp.check(ctx, p, u, currentPassword, client, "totp_remove", now); err != nil {
		return err
	}
	err = uc.m.mfa.Update(ctx, u.ID(), func(m *domain.MFA) error {
		confirmed := m.TOTPConfirmed()
		if err := m.RemoveTOTP(now, p.SessionID); err != nil {
			return err
		}
		if confirmed {
			uc.m.audit(m, domain.EventMFARemoved, u.ID(), p.SessionID, client, now, map[string]string{"method": string(domain.FactorTOTP)})
			uc.m.env.notify(ctx, m, domain.MailToUser(0), domain.MailMFARemoved, ports.MailData{Client: client, At: now, Method: methodTOTP})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove totp: %w", err)
	}
	return nil
}
