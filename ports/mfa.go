package ports

import (
	"context"
	"errors"
	"time"

	"authd/domain"
)

// MFARepository stores each user's second factors (domain.MFA) and the
// logins waiting for one (domain.PendingLogin). Changes go through closures
// so that the lock, the domain's decision and the write are one
// transaction; the decision is stored even when fn returns an error, so
// that a refusal that must leave a trace (a failure counted, a clone
// warning audited) commits it: fn must change the aggregates only through
// decisions that are meant to be stored. The audit events and mails
// attached to the aggregates are stored by the same transaction.
type MFARepository interface {
	// ByUser returns the MFA of the user with id, an empty one when the
	// user has no second factor. It returns domain.ErrUserNotFound when no
	// user has id.
	ByUser(ctx context.Context, id domain.UserID) (*domain.MFA, error)
	// Summary returns what the user object shows of the second factors of
	// the user with id (all zero for an unknown user), in one statement.
	Summary(ctx context.Context, id domain.UserID) (domain.MFASummary, error)
	// Update loads the MFA of the user with id under a lock that serialises
	// every change to that user's factors, applies fn and stores what it
	// decided. It returns domain.ErrUserNotFound when no user has id, and
	// otherwise fn's error.
	Update(ctx context.Context, id domain.UserID, fn func(m *domain.MFA) error) error
	// UpdateByUserHandle is Update for the user whose WebAuthn user handle
	// is handle. It returns domain.ErrPasskeyNotFound when no user has it.
	UpdateByUserHandle(ctx context.Context, handle []byte, fn func(m *domain.MFA) error) error
	// CreateLogin stores a new pending login. It returns
	// domain.ErrUserNotFound when its user does not exist.
	CreateLogin(ctx context.Context, l *domain.PendingLogin) error
	// Login returns the pending login whose mfa_token digest is hash, or
	// domain.ErrInvalidMFAToken.
	Login(ctx context.Context, hash domain.TokenHash) (*domain.PendingLogin, error)
	// UpdateLogin locks the pending login whose mfa_token digest is hash
	// and the MFA of its user, applies fn and stores what both decided,
	// even when fn fails. It returns domain.ErrInvalidMFAToken when no
	// pending login has that digest, and otherwise fn's error.
	UpdateLogin(ctx context.Context, hash domain.TokenHash, fn func(l *domain.PendingLogin, m *domain.MFA) error) error
	// PruneLogins deletes the pending logins that expired before now and
	// returns how many it deleted.
	PruneLogins(ctx context.Context, now time.Time) (int, error)
}

// WebAuthnChallenges keeps the state of WebAuthn ceremonies between their
// options and their answer, for every instance: each challenge is
// answered at most once.
type WebAuthnChallenges interface {
	// Save stores c. Challenges are random; saving one twice is an error.
	Save(ctx context.Context, c domain.WebAuthnChallenge) error
	// Take removes the challenge whose value is challenge and returns it,
	// whether or not it has expired (domain.WebAuthnChallenge.Answers
	// decides). Of concurrent takes of one challenge, one gets it. It
	// returns domain.ErrWebAuthnChallengeInvalid when there is none.
	Take(ctx context.Context, challenge string) (domain.WebAuthnChallenge, error)
	// Prune deletes the challenges that expired before now and returns how
	// many it deleted.
	Prune(ctx context.Context, now time.Time) (int, error)
}

// SecretBox encrypts secrets at rest under a ring of keys: the newest key
// seals, any key of the ring opens what it sealed. A secret is sealed for
// a context (for example the user it belongs to), and opens only for the
// same context, so that a ciphertext copied to another row is useless.
type SecretBox interface {
	// Seal encrypts plain for context under the newest key.
	Seal(plain, context []byte) (domain.SealedSecret, error)
	// Open decrypts s for context. It returns an error wrapping
	// ErrUnknownKey when no key of the ring has s's key id, and another
	// error when s does not open (it was altered, or sealed for another
	// context).
	Open(s domain.SealedSecret, context []byte) ([]byte, error)
}

// ErrUnknownKey is returned by SecretBox.Open for a secret sealed under a
// key the ring does not hold.
var ErrUnknownKey = errors.New("secret sealed under an unknown key")

// CodeDigester makes the keyed digests recovery codes are stored as.
type CodeDigester interface {
	// Digest returns the digest of code (a canonical recovery code, see
	// domain.ParseRecoveryCode) under the newest key.
	Digest(code string) domain.CodeDigest
	// Matches reports, in constant time, whether d is the digest of code;
	// false when the ring does not hold d's key.
	Matches(code string, d domain.CodeDigest) bool
}

// TOTP computes the codes of RFC 6238 (domain's TOTP policy).
type TOTP interface {
	// Enrolment returns secret as an authenticator app takes it: its
	// base32 form and the otpauth:// URI that names account.
	Enrolment(secret []byte, account string) (encoded, uri string)
	// Matches reports, in constant time, whether code is the code of
	// secret for time step step.
	Matches(secret []byte, code string, step int64) bool
}

// PasskeyOwner is a user as WebAuthn sees them.
type PasskeyOwner struct {
	// Handle is the user handle (domain.MFA.UserHandle).
	Handle []byte
	// Name is shown by authenticators; the user's email.
	Name string
}

// WebAuthnCeremony is the start of a WebAuthn ceremony.
type WebAuthnCeremony struct {
	// Options is the JSON the client passes, decoded, to
	// navigator.credentials.create or .get: {"publicKey": {...}}.
	Options []byte
	// Challenge is the ceremony's challenge as responses carry it.
	Challenge string
	// State is what FinishRegistration or VerifyAssertion needs again.
	State []byte
}

// ParsedAssertion is a WebAuthn assertion response that parsed, not yet
// verified.
type ParsedAssertion struct {
	// Challenge is the challenge the response claims to answer.
	Challenge string
	// CredentialID is the credential that claims to have signed.
	CredentialID []byte
	// UserHandle is the user handle the authenticator returned; always
	// present for a discoverable credential.
	UserHandle []byte
	// Parsed is the relying party's own form of the response, opaque to
	// callers.
	Parsed any
}

// WebAuthn is the relying party of WebAuthn ceremonies. Every method that
// reads a client's response returns an error wrapping
// domain.ErrInvalidWebAuthnResponse when it is malformed or does not verify
// (another origin or relying party, a bad signature, a challenge other than
// the ceremony's).
type WebAuthn interface {
	// BeginRegistration starts registering a discoverable credential for
	// owner; exclude are the owner's passkeys, which the authenticator
	// must not register again.
	BeginRegistration(owner PasskeyOwner, exclude []domain.Passkey) (WebAuthnCeremony, error)
	// RegistrationChallenge returns the challenge a registration response
	// answers.
	RegistrationChallenge(response []byte) (string, error)
	// FinishRegistration verifies a registration response against the
	// state of its ceremony and returns the new credential.
	FinishRegistration(state []byte, owner PasskeyOwner, response []byte) (domain.PasskeyCredential, error)
	// BeginLogin starts an assertion: for owner with one of allow, or,
	// when owner is nil, a passwordless sign-in with any discoverable
	// credential, which must verify its user.
	BeginLogin(owner *PasskeyOwner, allow []domain.Passkey) (WebAuthnCeremony, error)
	// ParseAssertion parses an assertion response.
	ParseAssertion(response []byte) (ParsedAssertion, error)
	// VerifyAssertion verifies a parsed assertion against the state of its
	// ceremony, made for owner (or for nobody, a passwordless one), and
	// owner's passkeys.
	VerifyAssertion(a ParsedAssertion, state []byte, owner PasskeyOwner, passkeys []domain.Passkey) (domain.PasskeyAssertion, error)
}
