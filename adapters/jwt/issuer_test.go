package jwt_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/adapters/jwt"
	"authd/domain"
)

var (
	base  = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	grant = domain.AccessGrant{
		UserID:    42,
		SessionID: uuid.MustParse("0a8f6b5e-3c1d-4e2f-9a7b-6c5d4e3f2a1b"),
		Role:      domain.RoleAdmin,
	}
)

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "authd"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newIssuer(t testing.TB, cfg jwt.Config) *jwt.Issuer {
	t.Helper()
	if cfg.PrivateKey == nil {
		cfg.PrivateKey = newKey(t)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = testIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	i, err := jwt.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return i
}

func issue(t *testing.T, i *jwt.Issuer, now time.Time) string {
	t.Helper()
	tok, _, err := i.Issue(grant, now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

// sign builds a token by hand with the given method, key, header and claims.
func sign(t *testing.T, m gjwt.SigningMethod, key any, header, claims map[string]any) string {
	t.Helper()
	tok := gjwt.NewWithClaims(m, gjwt.MapClaims(claims))
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// goodClaims returns the claims Issue would write for grant at base.
func goodClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "42",
		"sid": grant.SessionID.String(), "role": "admin",
		"iat": base.Unix(), "nbf": base.Unix(), "exp": base.Add(15 * time.Minute).Unix(),
		"jti": "7d1c1c3e-5d1e-4d8f-8a7e-1f2e3d4c5b6a",
	}
}

func with(claims map[string]any, key string, v any) map[string]any {
	c := map[string]any{}
	for k, x := range claims {
		c[k] = x
	}
	if v == nil {
		delete(c, key)
	} else {
		c[key] = v
	}
	return c
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, jwt.Config{})
	tok, ttl, err := i.Issue(grant, base)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != 15*time.Minute {
		t.Fatalf("ttl = %s, want 15m", ttl)
	}
	p, err := i.Verify(tok, base.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := uuid.Parse(p.TokenID); err != nil {
		t.Fatalf("jti %q is not a uuid", p.TokenID)
	}
	want := domain.Principal{UserID: 42, SessionID: grant.SessionID, Role: domain.RoleAdmin, TokenID: p.TokenID, ExpiresAt: base.Add(15 * time.Minute)}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("principal (-want +got):\n%s", diff)
	}
	other := issue(t, i, base)
	if q, _ := i.Verify(other, base); q.TokenID == p.TokenID {
		t.Fatal("two tokens share a jti")
	}
}

func TestTokenShape(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, jwt.Config{TTL: 5 * time.Minute})
	parts := strings.Split(issue(t, i, base), ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header, claims map[string]any
	decodePart(t, parts[0], &header)
	decodePart(t, parts[1], &claims)
	wantHeader := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": i.KeyID()}
	if diff := cmp.Diff(wantHeader, header); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	for k, want := range map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "42", "sid": grant.SessionID.String(), "role": "admin",
		"iat": float64(base.Unix()), "nbf": float64(base.Unix()), "exp": float64(base.Add(5 * time.Minute).Unix()),
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if _, ok := claims["jti"].(string); !ok {
		t.Errorf("claim jti missing")
	}
}

func decodePart(t *testing.T, part string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestVerifiesWithIndependentLibrary checks the token and the JWKS against
// go-jose, which shares no code with the signing library.
func TestVerifiesWithIndependentLibrary(t *testing.T) {
	t.Parallel()
	old := newKey(t)
	i := newIssuer(t, jwt.Config{ExtraPublicKeys: []ed25519.PublicKey{old.Public().(ed25519.PublicKey)}})
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(i.JWKS(), &set); err != nil {
		t.Fatalf("JWKS does not parse: %v", err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k.Algorithm != "EdDSA" || k.Use != "sig" {
			t.Errorf("key %s: alg %q use %q", k.KeyID, k.Algorithm, k.Use)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.RawURLEncoding.EncodeToString(tp); got != k.KeyID {
			t.Errorf("kid %s is not the RFC 7638 thumbprint %s", k.KeyID, got)
		}
	}
	tok := issue(t, i, base)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %q found %d times in the JWKS", kid, len(keys))
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("go-jose verify: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["sub"] != "42" {
		t.Fatalf("payload = %s (%v)", payload, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	i := newIssuer(t, jwt.Config{PrivateKey: key})
	kid := i.KeyID()
	stranger := newKey(t)
	hdr := map[string]any{"typ": "at+jwt", "kid": kid}
	good := issue(t, i, base)
	parts := strings.Split(good, ".")

	tamperedClaims := goodClaims()
	tamperedClaims["sub"] = "1"
	tamperedPayload, _ := json.Marshal(tamperedClaims)

	tests := []struct {
		name  string
		token string
		now   time.Time
	}{
		{"empty", "", base},
		{"garbage", "not a token", base},
		{"three garbage parts", "a.b.c", base},
		{"oversized", good + strings.Repeat("A", 8<<10), base},
		{"alg none", sign(t, gjwt.SigningMethodNone, gjwt.UnsafeAllowNoneSignatureType, hdr, goodClaims()), base},
		{"alg none, signature stripped", parts[0] + "." + parts[1] + ".", base},
		{"HS256 keyed with the public key", sign(t, gjwt.SigningMethodHS256, []byte(pub), hdr, goodClaims()), base},
		{"HS256 keyed with the JWK x", sign(t, gjwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(pub)), hdr, goodClaims()), base},
		{"unknown kid", sign(t, gjwt.SigningMethodEdDSA, stranger, map[string]any{"typ": "at+jwt", "kid": jwt.KeyID(stranger.Public().(ed25519.PublicKey))}, goodClaims()), base},
		{"known kid, other key", sign(t, gjwt.SigningMethodEdDSA, stranger, hdr, goodClaims()), base},
		{"no kid", sign(t, gjwt.SigningMethodEdDSA, key, map[string]any{"typ": "at+jwt"}, goodClaims()), base},
		{"typ JWT", sign(t, gjwt.SigningMethodEdDSA, key, map[string]any{"typ": "JWT", "kid": kid}, goodClaims()), base},
		{"no typ", sign(t, gjwt.SigningMethodEdDSA, key, map[string]any{"typ": nil, "kid": kid}, goodClaims()), base},
		{"crit header", sign(t, gjwt.SigningMethodEdDSA, key, map[string]any{"typ": "at+jwt", "kid": kid, "crit": []string{"exp"}}, goodClaims()), base},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedPayload) + "." + parts[2], base},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), base},
		{"wrong iss", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "iss", "https://evil.test")), base},
		{"no iss", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "iss", nil)), base},
		{"wrong aud", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "aud", "other")), base},
		{"no aud", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "aud", nil)), base},
		{"no exp", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "exp", nil)), base},
		{"expired beyond leeway", good, base.Add(15*time.Minute + 31*time.Second)},
		{"not yet valid beyond leeway", good, base.Add(-31 * time.Second)},
		{"issued in the future", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(with(goodClaims(), "nbf", nil), "iat", base.Add(time.Minute).Unix())), base},
		{"no sub", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sub", nil)), base},
		{"sub zero", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sub", "0")), base},
		{"sub negative", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sub", "-4")), base},
		{"sub padded", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sub", "042")), base},
		{"sub email", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sub", "a@b.c")), base},
		{"no sid", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sid", nil)), base},
		{"nil sid", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sid", uuid.Nil.String())), base},
		{"bad sid", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "sid", "session")), base},
		{"no role", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "role", nil)), base},
		{"unknown role", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "role", "root")), base},
		{"role upper case", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "role", "ADMIN")), base},
		{"no jti", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "jti", nil)), base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := i.Verify(tt.token, tt.now)
			if !errors.Is(err, domain.ErrInvalidAccessToken) {
				t.Fatalf("Verify = (%+v, %v), want ErrInvalidAccessToken", p, err)
			}
			if p != (domain.Principal{}) {
				t.Fatalf("Verify returned a principal with its error: %+v", p)
			}
		})
	}
}

func flip(sig string) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	b[0] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	i := newIssuer(t, jwt.Config{PrivateKey: key})
	hdr := map[string]any{"typ": "at+jwt", "kid": i.KeyID()}
	good := issue(t, i, base)
	tests := []struct {
		name  string
		token string
		now   time.Time
	}{
		{"at issue", good, base},
		{"expired within leeway", good, base.Add(15*time.Minute + 29*time.Second)},
		{"not yet valid within leeway", good, base.Add(-29 * time.Second)},
		{"typ with media type prefix", sign(t, gjwt.SigningMethodEdDSA, key, map[string]any{"typ": "application/at+JWT", "kid": i.KeyID()}, goodClaims()), base},
		{"aud as array", sign(t, gjwt.SigningMethodEdDSA, key, hdr, with(goodClaims(), "aud", []string{"x", testAudience})), base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := i.Verify(tt.token, tt.now); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey := newKey(t)
	oldIssuer := newIssuer(t, jwt.Config{PrivateKey: oldKey})
	oldToken := issue(t, oldIssuer, base)

	newIssuer := newIssuer(t, jwt.Config{ExtraPublicKeys: []ed25519.PublicKey{oldKey.Public().(ed25519.PublicKey)}})
	if _, err := newIssuer.Verify(oldToken, base); err != nil {
		t.Fatalf("token of the previous key: %v", err)
	}
	if _, err := newIssuer.Verify(issue(t, newIssuer, base), base); err != nil {
		t.Fatalf("token of the current key: %v", err)
	}
	if _, err := oldIssuer.Verify(issue(t, newIssuer, base), base); !errors.Is(err, domain.ErrInvalidAccessToken) {
		t.Fatalf("old issuer accepted a token of a key it does not know: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	tests := []struct {
		name string
		cfg  jwt.Config
	}{
		{"no key", jwt.Config{Issuer: testIssuer, Audience: testAudience}},
		{"short key", jwt.Config{PrivateKey: key[:31], Issuer: testIssuer, Audience: testAudience}},
		{"no issuer", jwt.Config{PrivateKey: key, Audience: testAudience}},
		{"no audience", jwt.Config{PrivateKey: key, Issuer: testIssuer}},
		{"negative ttl", jwt.Config{PrivateKey: key, Issuer: testIssuer, Audience: testAudience, TTL: -time.Second}},
		{"ttl over MaxTTL", jwt.Config{PrivateKey: key, Issuer: testIssuer, Audience: testAudience, TTL: jwt.MaxTTL + time.Second}},
		{"leeway over 30s", jwt.Config{PrivateKey: key, Issuer: testIssuer, Audience: testAudience, Leeway: 31 * time.Second}},
		{"bad extra key", jwt.Config{PrivateKey: key, Issuer: testIssuer, Audience: testAudience, ExtraPublicKeys: []ed25519.PublicKey{{1, 2, 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := jwt.New(tt.cfg); err == nil {
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestIssueRejectsBadGrant(t *testing.T) {
	t.Parallel()
	i := newIssuer(t, jwt.Config{})
	for _, g := range []domain.AccessGrant{
		{UserID: 0, SessionID: grant.SessionID, Role: domain.RoleUser},
		{UserID: 1, SessionID: uuid.Nil, Role: domain.RoleUser},
	} {
		if _, _, err := i.Issue(g, base); err == nil {
			t.Errorf("Issue(%+v) succeeded, want an error", g)
		}
	}
}

func TestJWKSDeduplicatesAndOrders(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	i := newIssuer(t, jwt.Config{PrivateKey: key, ExtraPublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(i.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": i.KeyID(),
		"x": base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	}}
	if diff := cmp.Diff(want, set.Keys); diff != "" {
		t.Fatalf("JWKS (-want +got):\n%s", diff)
	}
}
