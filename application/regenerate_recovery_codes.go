package application

import (
	"context"
	"fmt"

	"authd/domain"
)

// RegenerateRecoveryCodes replaces the caller's recovery codes.
type RegenerateRecoveryCodes struct{ m *mfaDeps }

// Do checks the current password (see stepUp) and replaces every recovery
// code with ten new ones, which it returns, shown this once. It returns
// domain.ErrMFANotEnrolled when the account has no second factor,
// ErrWrongCurrentPassword, or a *domain.RateLimitError.
func (uc *RegenerateRecoveryCodes) Do(ctx context.Context, p domain.Principal, currentPassword string, client domain.ClientInfo) ([]string, error) {
	now := uc.m.env.now()
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := uc.m.stepUp.check(ctx, p, u, currentPassword, client, "recovery_codes", now); err != nil {
		return nil, err
	}
	codes, digests, err := uc.m.newRecoveryCodes()
	if err != nil {
		return nil, fmt.Errorf("regenerate recovery codes: %w", err)
	}
	if err := uc.m.mfa.Update(ctx, u.ID(), func(m *domain.MFA) error {
		if err := m.ReplaceRecoveryCodes(digests, now); err != nil {
			return err
		}
		uc.m.audit(m, domain.EventRecoveryCodesRegenerated, u.ID(), p.SessionID, client, now, nil)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("regenerate recovery codes: %w", err)
	}
	return codes, nil
}
