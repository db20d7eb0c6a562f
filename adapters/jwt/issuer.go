// Package jwt issues and verifies the Ed25519-signed access tokens of authd
// (RFC 9068 profile: typ at+jwt) and publishes the verification keys as a
// JWKS. Signing and verification use github.com/golang-jwt/jwt/v5.
package jwt

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// Defaults and bounds of Config.
const (
	DefaultTTL = 15 * time.Minute
	// MaxTTL caps the lifetime of an access token. authd's own routes
	// refuse a token as soon as its session ends, but resource servers that
	// verify tokens statelessly through the JWKS accept one until it
	// expires, so a token must not outlive a logout by more than this.
	MaxTTL        = time.Hour
	DefaultLeeway = 30 * time.Second
	MaxLeeway     = 30 * time.Second
	// MaxTokenBytes: longer bearer tokens are refused before any parsing.
	// authd's own tokens are about 500 bytes.
	MaxTokenBytes = 8 << 10
)

// tokenType is the RFC 9068 media type of access tokens, in the short form
// RFC 7515 §4.1.9 recommends for "typ".
const tokenType = "at+jwt"

// Config configures an Issuer.
type Config struct {
	// PrivateKey signs new tokens; its public half verifies them.
	PrivateKey ed25519.PrivateKey
	// ExtraPublicKeys verify tokens signed by earlier keys during a rotation.
	ExtraPublicKeys []ed25519.PublicKey
	// Issuer is the "iss" claim written and required.
	Issuer string
	// Audience is the "aud" claim written and required.
	Audience string
	// TTL is the lifetime of a token; zero means DefaultTTL.
	TTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat; zero means
	// DefaultLeeway. It may not exceed MaxLeeway.
	Leeway time.Duration
}

// Issuer implements ports.AccessTokenIssuer and ports.AccessTokenVerifier.
// It is safe for concurrent use.
type Issuer struct {
	priv     ed25519.PrivateKey
	kid      string
	keys     map[string]ed25519.PublicKey
	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration
	jwks     []byte
	// header is the base64url JOSE header of every token signed:
	// {"alg":"EdDSA","kid":kid,"typ":"at+jwt"}.
	header string
}

var (
	_ ports.AccessTokenIssuer   = (*Issuer)(nil)
	_ ports.AccessTokenVerifier = (*Issuer)(nil)
)

// New validates cfg and returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	if len(cfg.PrivateKey) != ed25519.PrivateKeySize {
		return nil, errors.New("jwt: an Ed25519 private key is required")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwt: issuer and audience are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < 0 || cfg.TTL > MaxTTL {
		return nil, fmt.Errorf("jwt: TTL must be positive and at most %s", MaxTTL)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("jwt: leeway must be between 0 and %s", MaxLeeway)
	}
	pub := cfg.PrivateKey.Public().(ed25519.PublicKey)
	i := &Issuer{
		priv:     cfg.PrivateKey,
		kid:      KeyID(pub),
		keys:     map[string]ed25519.PublicKey{},
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		ttl:      cfg.TTL,
		leeway:   cfg.Leeway,
	}
	header, err := json.Marshal(map[string]string{"alg": jwt.SigningMethodEdDSA.Alg(), "kid": i.kid, "typ": tokenType})
	if err != nil {
		return nil, fmt.Errorf("jwt: encode header: %w", err)
	}
	i.header = b64url.EncodeToString(header)
	var set jwkSet
	for _, k := range append([]ed25519.PublicKey{pub}, cfg.ExtraPublicKeys...) {
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("jwt: extra public keys must be Ed25519")
		}
		kid := KeyID(k)
		if _, dup := i.keys[kid]; dup {
			continue
		}
		i.keys[kid] = k
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: b64url.EncodeToString(k), Kid: kid, Alg: "EdDSA", Use: "sig"})
	}
	if i.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("jwt: encode JWKS: %w", err)
	}
	return i, nil
}

// KeyID returns the kid of the signing key.
func (i *Issuer) KeyID() string { return i.kid }

// TTL returns the lifetime of issued tokens.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// JWKS returns the JSON Web Key Set of every verification key, signing key
// first. The caller must not modify the returned slice.
func (i *Issuer) JWKS() []byte { return i.jwks }

// Issue signs an access token for g valid from now for the configured TTL.
func (i *Issuer) Issue(g domain.AccessGrant, now time.Time) (string, time.Duration, error) {
	if g.UserID <= 0 || g.SessionID == uuid.Nil {
		return "", 0, errors.New("jwt: grant needs a user and a session")
	}
	jti, err := uuid.NewRandom()
	if err != nil {
		return "", 0, fmt.Errorf("jwt: token id: %w", err)
	}
	claims, err := json.Marshal(issuedClaims{
		Issuer:    i.issuer,
		Audience:  i.audience,
		Subject:   strconv.FormatInt(int64(g.UserID), 10),
		SessionID: g.SessionID.String(),
		Role:      g.Role.String(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: now.Add(i.ttl).Unix(),
		ID:        jti.String(),
		// RFC 8176: how the session was authenticated.
		AMR: g.AMR.Strings(),
	})
	if err != nil {
		return "", 0, fmt.Errorf("jwt: encode claims: %w", err)
	}
	// The JWS compact serialisation (RFC 7515 §7.1), as jwt.Token's
	// SignedString writes it, but with the header encoded once in New.
	signing := i.header + "." + b64url.EncodeToString(claims)
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, i.priv)
	if err != nil {
		return "", 0, fmt.Errorf("jwt: sign: %w", err)
	}
	return signing + "." + b64url.EncodeToString(sig), i.ttl, nil
}

// issuedClaims are the claims of an issued token: a struct rather than a
// map, which encoding/json would sort on every call; aud is a single
// string, as RFC 7519 §4.1.3 allows.
type issuedClaims struct {
	Issuer    string `json:"iss"`
	Audience  string `json:"aud"`
	Subject   string `json:"sub"`
	SessionID string `json:"sid"`
	Role      string `json:"role"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	ExpiresAt int64  `json:"exp"`
	ID        string `json:"jti"`
	// AMR is omitted when empty.
	AMR []string `json:"amr,omitempty"`
}

// accessClaims are the claims Verify reads.
type accessClaims struct {
	jwt.RegisteredClaims
	SID  string `json:"sid"`
	Role string `json:"role"`
}

// Verify checks token at now and returns its principal. Every failure wraps
// domain.ErrInvalidAccessToken.
func (i *Issuer) Verify(token string, now time.Time) (domain.Principal, error) {
	p, err := i.verify(token, now)
	if err != nil {
		return domain.Principal{}, fmt.Errorf("%w: %w", domain.ErrInvalidAccessToken, err)
	}
	return p, nil
}

func (i *Issuer) verify(token string, now time.Time) (domain.Principal, error) {
	if len(token) > MaxTokenBytes {
		return domain.Principal{}, errors.New("token too long")
	}
	var c accessClaims
	_, err := jwt.ParseWithClaims(token, &c, i.key,
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.audience),
		jwt.WithLeeway(i.leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return domain.Principal{}, err
	}
	uid, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || uid <= 0 || strconv.FormatInt(uid, 10) != c.Subject {
		return domain.Principal{}, errors.New("sub is not a user id")
	}
	sid, err := uuid.Parse(c.SID)
	if err != nil || sid == uuid.Nil || sid.String() != c.SID {
		return domain.Principal{}, errors.New("sid is not a session id")
	}
	role, err := domain.ParseRole(c.Role)
	if err != nil {
		return domain.Principal{}, errors.New("role is not a known role")
	}
	if c.ID == "" {
		return domain.Principal{}, errors.New("jti is missing")
	}
	return domain.Principal{
		UserID:    domain.UserID(uid),
		SessionID: sid,
		Role:      role,
		TokenID:   c.ID,
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// key is the jwt.Keyfunc: it checks the header before any signature work and
// picks the verification key by kid.
func (i *Issuer) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: no extension is understood, so none may be critical.
		return nil, errors.New("crit header is not supported")
	}
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, tokenType) && !strings.EqualFold(typ, "application/"+tokenType) {
		return nil, fmt.Errorf("typ %q is not %s", typ, tokenType)
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := i.keys[kid]
	if !ok {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return k, nil
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}
