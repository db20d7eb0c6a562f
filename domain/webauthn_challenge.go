package domain

import (
	"bytes"
	"time"
)

// WebAuthnChallengeTTL is how long a WebAuthn ceremony may take between
// its options and its answer.
const WebAuthnChallengeTTL = 5 * time.Minute

// CeremonyKind names what a WebAuthn challenge was issued for.
type CeremonyKind string

// The WebAuthn ceremonies.
const (
	// CeremonyRegistration registers a passkey for a signed-in user.
	CeremonyRegistration CeremonyKind = "registration"
	// CeremonySecondFactor proves the second factor of a pending login.
	CeremonySecondFactor CeremonyKind = "second_factor"
	// CeremonyPasswordless signs in with a discoverable passkey alone.
	CeremonyPasswordless CeremonyKind = "passwordless"
)

// WebAuthnChallenge is the state the relying party keeps between the
// options of a WebAuthn ceremony and its answer: single use and
// short-lived. State is the relying party's own record of the ceremony,
// opaque to the domain.
type WebAuthnChallenge struct {
	challenge string
	kind      CeremonyKind
	user      UserID
	login     TokenHash
	state     []byte
	expiresAt time.Time
}

// NewWebAuthnChallenge returns the challenge of a ceremony of kind begun
// at now for user (zero for a passwordless sign-in, whose user is not known
// yet) and, for a second factor, the pending login login.
func NewWebAuthnChallenge(challenge string, kind CeremonyKind, user UserID, login TokenHash, state []byte, now time.Time) WebAuthnChallenge {
	return WebAuthnChallenge{challenge: challenge, kind: kind, user: user, login: login, state: bytes.Clone(state), expiresAt: now.Add(WebAuthnChallengeTTL)}
}

// WebAuthnChallengeRecord is the stored state of a challenge.
type WebAuthnChallengeRecord struct {
	Challenge string
	Kind      CeremonyKind
	User      UserID
	Login     TokenHash
	State     []byte
	ExpiresAt time.Time
}

// RehydrateWebAuthnChallenge rebuilds a stored challenge.
func RehydrateWebAuthnChallenge(r WebAuthnChallengeRecord) WebAuthnChallenge {
	return WebAuthnChallenge{challenge: r.Challenge, kind: r.Kind, user: r.User, login: r.Login, state: bytes.Clone(r.State), expiresAt: r.ExpiresAt}
}

// Record returns the stored state of c.
func (c WebAuthnChallenge) Record() WebAuthnChallengeRecord {
	return WebAuthnChallengeRecord{Challenge: c.challenge, Kind: c.kind, User: c.user, Login: c.login, State: bytes.Clone(c.state), ExpiresAt: c.expiresAt}
}

// Challenge returns the challenge as the client's response carries it
// (base64url).
func (c WebAuthnChallenge) Challenge() string { return c.challenge }

// State returns the relying party's record of the ceremony.
func (c WebAuthnChallenge) State() []byte { return bytes.Clone(c.state) }

// ExpiresAt returns when the challenge stops being answerable.
func (c WebAuthnChallenge) ExpiresAt() time.Time { return c.expiresAt }

// Answers returns ErrWebAuthnChallengeInvalid unless c is a live challenge
// of a ceremony of kind for user (zero: a passwordless one) and pending
// login login (zero unless kind is CeremonySecondFactor) at now.
func (c WebAuthnChallenge) Answers(kind CeremonyKind, user UserID, login TokenHash, now time.Time) error {
	if c.kind != kind || c.user != user || c.login != login || !now.Before(c.expiresAt) {
		return ErrWebAuthnChallengeInvalid
	}
	return nil
}
