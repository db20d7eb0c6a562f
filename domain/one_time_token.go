package domain

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// TokenPurpose is what a one-time token may be used for; a token of one
// purpose is never accepted for another.
type TokenPurpose string

// The purposes of one-time tokens, each with its lifetime (Lifetime).
const (
	// PurposePasswordReset lets the owner of the address choose a new
	// password: 30 minutes.
	PurposePasswordReset TokenPurpose = "password_reset"
	// PurposeEmailVerification proves that the user receives mail at the
	// address: 24 hours.
	PurposeEmailVerification TokenPurpose = "email_verification"
	// PurposeEmailChange moves the account to the address it was sent to:
	// 1 hour.
	PurposeEmailChange TokenPurpose = "email_change"
)

// TokenPurposes returns every purpose, in a fixed order.
func TokenPurposes() []TokenPurpose {
	return []TokenPurpose{PurposePasswordReset, PurposeEmailVerification, PurposeEmailChange}
}

// Lifetime is how long a token of purpose p works after it is issued; zero
// for an unknown purpose.
func (p TokenPurpose) Lifetime() time.Duration {
	switch p {
	case PurposePasswordReset:
		return 30 * time.Minute
	case PurposeEmailVerification:
		return 24 * time.Hour
	case PurposeEmailChange:
		return time.Hour
	}
	return 0
}

// ParseTokenPurpose returns the purpose spelled s.
func ParseTokenPurpose(s string) (TokenPurpose, error) {
	p := TokenPurpose(s)
	if p.Lifetime() == 0 {
		return "", fmt.Errorf("domain: unknown one-time token purpose %q", s)
	}
	return p, nil
}

// OneTimeToken is a single-use token mailed to an address: a password
// reset, an email verification or an email change. The secret is handed
// out once, in the mail; only its SHA-256 digest is stored. A token is
// usable until it is used (or revoked, which counts as used) or expires;
// a store consumes it with one guarded write, so that two requests racing
// with one token cannot both use it.
type OneTimeToken struct {
	id        int64
	hash      TokenHash
	purpose   TokenPurpose
	user      UserID
	email     Email
	session   uuid.UUID
	createdAt time.Time
	expiresAt time.Time
	usedAt    time.Time
}

// OneTimeTokenRecord is the stored state of a one-time token, for
// RehydrateOneTimeToken.
type OneTimeTokenRecord struct {
	ID      int64
	Hash    TokenHash
	Purpose TokenPurpose
	UserID  UserID
	// Email is the address the token was mailed to.
	Email Email
	// SessionID is the session that asked for the token, uuid.Nil when
	// none did; an email change keeps that session.
	SessionID uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// RehydrateOneTimeToken rebuilds a stored token; it is meant for
// repository adapters.
func RehydrateOneTimeToken(r OneTimeTokenRecord) OneTimeToken {
	return OneTimeToken{
		id: r.ID, hash: r.Hash, purpose: r.Purpose, user: r.UserID, email: r.Email, session: r.SessionID,
		createdAt: r.CreatedAt, expiresAt: r.ExpiresAt, usedAt: r.UsedAt,
	}
}

// Record returns the stored state of t, for repository adapters.
func (t OneTimeToken) Record() OneTimeTokenRecord {
	return OneTimeTokenRecord{
		ID: t.id, Hash: t.hash, Purpose: t.purpose, UserID: t.user, Email: t.email, SessionID: t.session,
		CreatedAt: t.createdAt, ExpiresAt: t.expiresAt, UsedAt: t.usedAt,
	}
}

// newOneTimeToken draws a token of purpose p for user, mailed to to, from
// r (crypto/rand in production): 32 random bytes, base64url without
// padding. It returns the secret for the mail and the token to store.
func newOneTimeToken(r io.Reader, p TokenPurpose, user UserID, to Email, session uuid.UUID, now time.Time) (string, OneTimeToken, error) {
	if p.Lifetime() == 0 {
		return "", OneTimeToken{}, fmt.Errorf("domain: unknown one-time token purpose %q", p)
	}
	secret, hash, err := NewRefreshSecret(r)
	if err != nil {
		return "", OneTimeToken{}, err
	}
	return secret, OneTimeToken{
		hash: hash, purpose: p, user: user, email: to, session: session,
		createdAt: now, expiresAt: now.Add(p.Lifetime()),
	}, nil
}

// HashOneTimeToken returns the digest under which the token secret is
// stored.
func HashOneTimeToken(secret string) TokenHash { return sha256.Sum256([]byte(secret)) }

// LooksLikeOneTimeToken reports whether s has the shape of a token secret
// (43 base64url characters), so that garbage, however long, is refused
// without a lookup.
func LooksLikeOneTimeToken(s string) bool { return LooksLikeRefreshSecret(s) }

// ID returns the storage id (zero before the token is stored).
func (t OneTimeToken) ID() int64 { return t.id }

// Hash returns the digest of the token's secret.
func (t OneTimeToken) Hash() TokenHash { return t.hash }

// Purpose returns what the token may be used for.
func (t OneTimeToken) Purpose() TokenPurpose { return t.purpose }

// UserID returns the user the token was issued to.
func (t OneTimeToken) UserID() UserID { return t.user }

// Email returns the address the token was mailed to.
func (t OneTimeToken) Email() Email { return t.email }

// SessionID returns the session that asked for the token (uuid.Nil: none).
func (t OneTimeToken) SessionID() uuid.UUID { return t.session }

// CreatedAt returns when the token was issued.
func (t OneTimeToken) CreatedAt() time.Time { return t.createdAt }

// ExpiresAt returns when the token stops working.
func (t OneTimeToken) ExpiresAt() time.Time { return t.expiresAt }

// UsedAt returns when the token was used or revoked; zero while unused.
func (t OneTimeToken) UsedAt() time.Time { return t.usedAt }

// Usable reports whether the token may still be used at now: it is unused
// and has not expired. A store that consumes tokens in one statement
// states the same condition (see OneTimeTokenUsable).
func (t OneTimeToken) Usable(now time.Time) bool {
	return OneTimeTokenUsable(t.usedAt, t.expiresAt, now)
}

// OneTimeTokenUsable is OneTimeToken.Usable on a token's stored times, for
// adapters that check tokens without rebuilding them.
func OneTimeTokenUsable(usedAt, expiresAt, now time.Time) bool {
	return usedAt.IsZero() && now.Before(expiresAt)
}

// Consume returns t used at now, or ErrInvalidOneTimeToken when it is not
// usable then. Stores call it (or state its condition in the statement
// that consumes the token) under the lock that makes the use single.
func (t OneTimeToken) Consume(now time.Time) (OneTimeToken, error) {
	if !t.Usable(now) {
		return t, ErrInvalidOneTimeToken
	}
	t.usedAt = now
	return t, nil
}

// tokenChanges collects what a change to a user decides about its
// one-time tokens, for the repository to carry out in the change's
// transaction: which purposes' unused tokens it revokes, and which tokens
// it issues (stored after the revocation).
type tokenChanges struct {
	issued   []OneTimeToken
	revoked  []TokenPurpose
	revokeAt time.Time
}

// IssuedTokens returns the one-time tokens the change issues. Tokens
// issued to a user being created carry user id zero until it is stored.
func (c tokenChanges) IssuedTokens() []OneTimeToken { return c.issued }

// RevokesTokens returns the purposes whose unused one-time tokens the
// change revokes (marks used) and when; none when it revokes nothing.
// Issuing a token revokes the user's unused tokens of its purpose.
func (c tokenChanges) RevokesTokens() ([]TokenPurpose, time.Time) { return c.revoked, c.revokeAt }

func (c *tokenChanges) revokeTokens(now time.Time, ps ...TokenPurpose) {
	for _, p := range ps {
		if !containsPurpose(c.revoked, p) {
			c.revoked = append(c.revoked, p)
		}
	}
	if c.revokeAt.IsZero() {
		c.revokeAt = now
	}
}

func (c *tokenChanges) issue(t OneTimeToken, now time.Time) {
	c.revokeTokens(now, t.purpose)
	c.issued = append(c.issued, t)
}

func containsPurpose(ps []TokenPurpose, p TokenPurpose) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// errNoTokenPurpose is a programming error: email changes have their own
// method.
var errNoTokenPurpose = errors.New("domain: IssueToken issues password reset and email verification tokens only")
