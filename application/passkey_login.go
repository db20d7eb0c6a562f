package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// BeginPasskeyLogin starts a passwordless sign-in.
type BeginPasskeyLogin struct{ m *mfaDeps }

// Do returns the options of navigator.credentials.get for any discoverable
// passkey of this relying party, user verification required; the
// ceremony's state is kept for FinishPasskeyLogin. Nobody is known yet, so
// each call from client counts against its IP's limit of ceremonies: past
// it Do returns a *domain.RateLimitError, and the first refusal of a block
// is audited as rate_limited.
func (uc *BeginPasskeyLogin) Do(ctx context.Context, client domain.ClientInfo) ([]byte, error) {
	now := uc.m.env.now()
	if first, err := admission("begin passkey login", uc.m.limiter.AdmitPasskeyCeremony(ctx, client, now)); err != nil {
		if first {
			uc.m.env.record(ctx, eventFor(domain.EventRateLimited, 0, uuid.Nil, client, now))
		}
		return nil, err
	}
	c, err := uc.m.webauthn.BeginLogin(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	if err := uc.m.challenges.Save(ctx, domain.NewWebAuthnChallenge(c.Challenge, domain.CeremonyPasswordless, 0, domain.TokenHash{}, c.State, now)); err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	return c.Options, nil
}

// FinishPasskeyLogin signs in with a discoverable passkey.
type FinishPasskeyLogin struct{ m *mfaDeps }

// Do verifies the assertion against the ceremony it answers (taken: it
// answers once) and the passkey its user handle and credential name, and
// opens a session authenticated by that passkey, which verified its user
// (amr: hwk or swk, and mfa). A passkey whose signature counter does not go
// up is refused, audited and mailed as a possible clone.
//
// It returns an error matching domain.ErrInvalidWebAuthnResponse for a
// malformed assertion, domain.ErrWebAuthnChallengeInvalid when it answers
// no live passwordless ceremony, domain.ErrInvalidCredentials for an
// unknown passkey or an assertion that does not verify, and
// domain.ErrAccountDisabled for an inactive user.
func (uc *FinishPasskeyLogin) Do(ctx context.Context, response []byte, client domain.ClientInfo) (TokenPair, error) {
	now := uc.m.env.now()
	a, err := uc.m.webauthn.ParseAssertion(response)
	if err != nil {
		return TokenPair{}, err
	}
	c, err := uc.m.challenges.Take(ctx, a.Challenge)
	if err != nil {
		return TokenPair{}, fmt.Errorf("passkey login: %w", err)
	}
	if err := c.Answers(domain.CeremonyPasswordless, 0, domain.TokenHash{}, now); err != nil {
		return TokenPair{}, err
	}
	var owner domain.Owner
	var method domain.AuthMethod
	err = uc.m.mfa.UpdateByUserHandle(ctx, a.UserHandle, func(m *domain.MFA) error {
		verified, err := uc.m.webauthn.VerifyAssertion(a, c.State(), ports.PasskeyOwner{Handle: m.UserHandle()}, m.Passkeys())
		if err != nil {
			return fmt.Errorf("%w: %w", domain.ErrInvalidCredentials, err)
		}
		if !verified.UserVerified {
			return fmt.Errorf("%w: the authenticator did not verify its user", domain.ErrInvalidCredentials)
		}
		pk, err := usePasskey(ctx, uc.m, m, verified, client, now)
		if err != nil {
			return fmt.Errorf("%w: %w", domain.ErrInvalidCredentials, err)
		}
		owner, method = m.Owner(), pk.Credential().Method()
		return nil
	})
	if errors.Is(err, domain.ErrPasskeyNotFound) {
		uc.m.env.record(ctx, eventFor(domain.EventLoginFailed, 0, uuid.Nil, client, now))
		return TokenPair{}, fmt.Errorf("passkey login: %w: unknown passkey", domain.ErrInvalidCredentials)
	}
	if err != nil {
		if errors.Is(err, domain.ErrInvalidCredentials) {
			uc.m.env.record(ctx, eventFor(domain.EventLoginFailed, owner.ID, uuid.Nil, client, now))
		}
		return TokenPair{}, fmt.Errorf("passkey login: %w", err)
	}
	if !owner.Active {
		return TokenPair{}, domain.ErrAccountDisabled
	}
	tp, err := uc.m.openSession(ctx, owner, domain.AuthMethods{method, domain.AMRMultiFactor}, client, now, domain.ErrInvalidCredentials)
	if err != nil {
		return TokenPair{}, fmt.Errorf("passkey login: %w", err)
	}
	return tp, nil
}
