package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// refreshSecretBytes is the entropy of a refresh token.
const refreshSecretBytes = 32

// TokenHash is the SHA-256 digest of a refresh token's secret. Only the digest
// is ever stored; the secret is handed to the client once.
type TokenHash [sha256.Size]byte

// HashRefreshToken returns the digest under which secret is stored.
func HashRefreshToken(secret string) TokenHash { return sha256.Sum256([]byte(secret)) }

// String returns the lower-case hex form stored in refresh_tokens.token.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// ParseTokenHash parses the hex form produced by String.
func ParseTokenHash(s string) (TokenHash, error) {
	var h TokenHash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("domain: token hash must be %d hex characters", 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("domain: token hash: %w", err)
	}
	return h, nil
}

// NewRefreshSecret draws a new refresh token from r (crypto/rand in
// production): 32 random bytes, base64url without padding. It returns the
// secret for the client and the digest for storage.
func NewRefreshSecret(r io.Reader) (secret string, hash TokenHash, err error) {
	var b [refreshSecretBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", TokenHash{}, fmt.Errorf("domain: read random: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashRefreshToken(secret), nil
}

// LooksLikeRefreshSecret reports whether s has the shape of a secret made by
// NewRefreshSecret, so obvious garbage is refused without a lookup.
func LooksLikeRefreshSecret(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(refreshSecretBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// RefreshToken is one token of a family. A family has at most one usable
// token; every earlier one has RevokedAt set by its rotation.
type RefreshToken struct {
	id        int64
	hash      TokenHash
	expiresAt time.Time
	revokedAt time.Time
	createdAt time.Time
}

// RehydrateRefreshToken rebuilds a stored token; revokedAt is zero when the
// token was never revoked. It is meant for repository adapters.
func RehydrateRefreshToken(id int64, hash TokenHash, expiresAt, revokedAt, createdAt time.Time) RefreshToken {
	return RefreshToken{id: id, hash: hash, expiresAt: expiresAt, revokedAt: revokedAt, createdAt: createdAt}
}

// ID returns the storage id (zero before the token is stored).
func (t RefreshToken) ID() int64 { return t.id }

// Hash returns the digest of the token's secret.
func (t RefreshToken) Hash() TokenHash { return t.hash }

// ExpiresAt returns the end of the token's sliding lifetime.
func (t RefreshToken) ExpiresAt() time.Time { return t.expiresAt }

// RevokedAt returns when the token was rotated or its session ended; zero if never.
func (t RefreshToken) RevokedAt() time.Time { return t.revokedAt }

// CreatedAt returns when the token was issued.
func (t RefreshToken) CreatedAt() time.Time { return t.createdAt }

// IsRevoked reports whether the token was rotated or its session ended.
func (t RefreshToken) IsRevoked() bool { return !t.revokedAt.IsZero() }

// errNoPresentedToken is a programming error: Rotate needs the family loaded
// through the presented token.
var errNoPresentedToken = errors.New("domain: family was not loaded through a refresh token")
