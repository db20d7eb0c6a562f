package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// ConfirmTOTP confirms the caller's pending TOTP enrolment with a first code.
type ConfirmTOTP struct{ m *mfaDeps }

// Do checks code against the pending secret (one step either side of now)
// and, in one transaction, confirms it, accepts that step (the same code
// cannot sign in afterwards), replaces the recovery codes, audits
// mfa_enrolled and mails the user. It returns the recovery codes, shown
// this once. It returns a *domain.ValidationError for a code that is
// malformed or does not match, domain.ErrMFANotEnrolled without a pending
// enrolment and domain.ErrMFAAlreadyEnrolled when TOTP is confirmed.
func (uc *ConfirmTOTP) Do(ctx context.Context, p domain.Principal, code string, client domain.ClientInfo) ([]string, error) {
	now := uc.m.env.now()
	code, err := domain.ParseTOTPCode("code", code)
	if err != nil {
		return nil, err
	}
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return nil, err
	}
	codes, digests, err := uc.m.newRecoveryCodes()
	if err != nil {
		return nil, fmt.Errorf("confirm totp: %w", err)
	}
	err = uc.m.mfa.Update(ctx, u.ID(), func(m *domain.MFA) error {
		sealed, ok := m.PendingTOTPSecret()
		if !ok {
			if m.TOTPConfirmed() {
				return domain.ErrMFAAlreadyEnrolled
			}
			return domain.ErrMFANotEnrolled
		}
		secret, err := uc.m.secrets.Open(sealed, totpContext(u.ID()))
		if err != nil {
			return fmt.Errorf("open the TOTP secret: %w", err)
		}
		for _, step := range m.TOTPCandidates(now) {
			if uc.m.totp.Matches(secret, code, step) {
				if err := m.ConfirmTOTP(step, digests, now); err != nil {
					return err
				}
				uc.m.audit(m, domain.EventMFAEnrolled, u.ID(), p.SessionID, client, now, map[string]string{"method": string(domain.FactorTOTP)})
				uc.m.env.notify(ctx, m, domain.MailToUser(0), domain.MailMFAEnrolled, ports.MailData{Client: client, At: now, Method: methodTOTP})
				return nil
			}
		}
		return domain.NewValidationError("code", "does not match the code the authenticator app shows now")
	})
	if err != nil {
		return nil, fmt.Errorf("confirm totp: %w", err)
	}
	return codes, nil
}
