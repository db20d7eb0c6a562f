package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// ListPasskeys lists the caller's passkeys.
type ListPasskeys struct{ m *mfaDeps }

// Do returns the caller's passkeys, oldest first.
func (uc *ListPasskeys) Do(ctx context.Context, p domain.Principal) ([]domain.Passkey, error) {
	m, err := uc.m.mfa.ByUser(ctx, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return m.Passkeys(), nil
}

// RenamePasskey renames one of the caller's passkeys.
type RenamePasskey struct{ m *mfaDeps }

// Do renames the passkey with id. It returns domain.ErrPasskeyNotFound or a
// *domain.ValidationError for the name.
func (uc *RenamePasskey) Do(ctx context.Context, p domain.Principal, id uuid.UUID, name string) (domain.Passkey, error) {
	var out domain.Passkey
	err := uc.m.mfa.Update(ctx, p.UserID, func(m *domain.MFA) error {
		pk, err := m.RenamePasskey(id, name)
		out = pk
		return err
	})
	if err != nil {
		return domain.Passkey{}, fmt.Errorf("rename passkey: %w", err)
	}
	return out, nil
}

// RemovePasskey deletes one of the caller's passkeys.
type RemovePasskey struct{ m *mfaDeps }

// Do deletes the passkey with id, auditing passkey_removed, mailing the
// user and ending the user's other sessions. The current password, when
// given, is checked (see stepUp); it is required to remove the account's
// last second factor (a *domain.ValidationError without it), so that a
// stolen session cannot turn multi-factor authentication off. It returns domain.ErrPasskeyNotFound,
// ErrWrongCurrentPassword, or a *domain.RateLimitError.
func (uc *RemovePasskey) Do(ctx context.Context, p domain.Principal, id uuid.UUID, currentPassword *string, client domain.ClientInfo) error {
	now := uc.m.env.now()
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return err
	}
	m, err := uc.m.mfa.ByUser(ctx, u.ID())
	if err != nil {
		return fmt.Errorf("remove passkey: %w", err)
	}
	if _, err := m.Passkey(id); err != nil {
		return err
	}
	if currentPassword == nil && m.IsLastFactor(id) {
		return lastFactorNeedsPassword()
	}
	if currentPassword != nil {
		if err := uc.m.stepUp.check(ctx, p, u, *currentPassword, client, "passkey_remove", now); err != nil {
			return err
		}
	}
	err = uc.m.mfa.Update(ctx, u.ID(), func(m *domain.MFA) error {
		// Decided again under the lock: two removals racing must not both
		// see another factor left.
		if currentPassword == nil && m.IsLastFactor(id) {
			return lastFactorNeedsPassword()
		}
		pk, err := m.RemovePasskey(id, now, p.SessionID)
		if err != nil {
			return err
		}
		uc.m.audit(m, domain.EventPasskeyRemoved, u.ID(), p.SessionID, client, now, map[string]string{"passkey": pk.ID().String(), "name": pk.Name()})
		uc.m.env.notify(ctx, m, domain.MailToUser(0), domain.MailMFARemoved, ports.MailData{Client: client, At: now, Method: methodPasskey + " “" + pk.Name() + "”"})
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove passkey: %w", err)
	}
	return nil
}

func lastFactorNeedsPassword() error {
	return domain.NewValidationError("current_password", "is required to remove the last second factor of the account")
}
