package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// BeginPasskeyRegistration starts registering a passkey for the caller.
type BeginPasskeyRegistration struct{ m *mfaDeps }

// Do checks the current password (see stepUp), gives the caller a WebAuthn
// user handle if they have none, and returns the options of
// navigator.credentials.create; the ceremony's state is kept for
// FinishPasskeyRegistration. It returns ErrWrongCurrentPassword or a
// *domain.RateLimitError.
func (uc *BeginPasskeyRegistration) Do(ctx context.Context, p domain.Principal, currentPassword string, client domain.ClientInfo) ([]byte, error) {
	now := uc.m.env.now()
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := uc.m.stepUp.check(ctx, p, u, currentPassword, client, "passkey_register", now); err != nil {
		return nil, err
	}
	m, err := uc.m.mfa.ByUser(ctx, u.ID())
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if m.UserHandle() == nil {
		if err := uc.m.mfa.Update(ctx, u.ID(), func(fresh *domain.MFA) error {
			m = fresh
			return fresh.EnsureUserHandle(uc.m.env.random)
		}); err != nil {
			return nil, fmt.Errorf("begin passkey registration: %w", err)
		}
	}
	if len(m.Passkeys()) >= domain.MaxPasskeys {
		return nil, domain.ErrTooManyPasskeys
	}
	c, err := uc.m.webauthn.BeginRegistration(ports.PasskeyOwner{Handle: m.UserHandle(), Name: u.Email().String()}, m.Passkeys())
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := uc.m.challenges.Save(ctx, domain.NewWebAuthnChallenge(c.Challenge, domain.CeremonyRegistration, u.ID(), domain.TokenHash{}, c.State, now)); err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return c.Options, nil
}

// PasskeyRegistration is a registered passkey and, when it turned multi-
// factor authentication on, the account's first recovery codes (shown once).
type PasskeyRegistration struct {
	Passkey       domain.Passkey
	RecoveryCodes []string
}

// FinishPasskeyRegistrationInput is a registration's answer as received.
type FinishPasskeyRegistrationInput struct {
	// Name is the passkey's name; empty for a default one.
	Name string
	// Response is the PublicKeyCredential of navigator.credentials.create,
	// as JSON.
	Response []byte
	Client   domain.ClientInfo
}

// FinishPasskeyRegistration registers the passkey of a registration ceremony.
type FinishPasskeyRegistration struct{ m *mfaDeps }

// Do verifies the response against the ceremony it answers (its challenge
// is taken: it answers once) and registers the passkey, auditing
// passkey_added and mailing the user. The first second factor of an
// account also gets ten recovery codes. It returns a *domain.ValidationError
// for a bad name, an error matching domain.ErrInvalidWebAuthnResponse for a
// response that is malformed or does not verify (origin, relying party,
// signature), domain.ErrWebAuthnChallengeInvalid when it answers no live
// registration of the caller, domain.ErrPasskeyExists for a credential
// already registered, and domain.ErrTooManyPasskeys.
func (uc *FinishPasskeyRegistration) Do(ctx context.Context, p domain.Principal, in FinishPasskeyRegistrationInput) (PasskeyRegistration, error) {
	now := uc.m.env.now()
	if in.Name != "" {
		if _, err := domain.ParsePasskeyName(in.Name); err != nil {
			return PasskeyRegistration{}, err
		}
	}
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return PasskeyRegistration{}, err
	}
	challenge, err := uc.m.webauthn.RegistrationChallenge(in.Response)
	if err != nil {
		return PasskeyRegistration{}, err
	}
	c, err := uc.m.challenges.Take(ctx, challenge)
	if err != nil {
		return PasskeyRegistration{}, fmt.Errorf("finish passkey registration: %w", err)
	}
	if err := c.Answers(domain.CeremonyRegistration, u.ID(), domain.TokenHash{}, now); err != nil {
		return PasskeyRegistration{}, err
	}
	codes, digests, err := uc.m.newRecoveryCodes()
	if err != nil {
		return PasskeyRegistration{}, fmt.Errorf("finish passkey registration: %w", err)
	}
	id, err := uuid.NewRandomFromReader(uc.m.env.random)
	if err != nil {
		return PasskeyRegistration{}, fmt.Errorf("finish passkey registration: %w", err)
	}
	var out PasskeyRegistration
	err = uc.m.mfa.Update(ctx, u.ID(), func(m *domain.MFA) error {
		cred, err := uc.m.webauthn.FinishRegistration(c.State(), ports.PasskeyOwner{Handle: m.UserHandle(), Name: u.Email().String()}, in.Response)
		if err != nil {
			return err
		}
		firstFactor := !m.Enabled()
		pk, err := m.AddPasskey(id, cred, in.Name, now)
		if err != nil {
			return err
		}
		out.Passkey = pk
		if firstFactor || m.RecoveryCodesLeft() == 0 {
			if err := m.ReplaceRecoveryCodes(digests, now); err != nil {
				return err
			}
			out.RecoveryCodes = codes
		}
		uc.m.audit(m, domain.EventPasskeyAdded, u.ID(), p.SessionID, in.Client, now, map[string]string{"passkey": pk.ID().String(), "name": pk.Name()})
		uc.m.env.notify(ctx, m, domain.MailToUser(0), domain.MailMFAEnrolled, ports.MailData{Client: in.Client, At: now, Method: methodPasskey + " “" + pk.Name() + "”"})
		return nil
	})
	if err != nil {
		return PasskeyRegistration{}, fmt.Errorf("finish passkey registration: %w", err)
	}
	return out, nil
}
