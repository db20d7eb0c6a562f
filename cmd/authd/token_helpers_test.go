package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// accessClaims are the claims of an authd access token.
type accessClaims struct {
	Iss  string          `json:"iss"`
	Aud  json.RawMessage `json:"aud"`
	Sub  string          `json:"sub"`
	Sid  string          `json:"sid"`
	Role string          `json:"role"`
	Iat  int64           `json:"iat"`
	Nbf  int64           `json:"nbf"`
	Exp  int64           `json:"exp"`
	Jti  string          `json:"jti"`
}

// audience returns aud as a list, whether it was a string or an array.
func (c accessClaims) audience() []string {
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(c.Aud, &many)
	return many
}

// fetchJWKS reads a JWK set with an independent JOSE library.
func fetchJWKS(t testing.TB, c *apiClient, url string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := c.hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("GET %s: decode JWKS: %v", url, err)
	}
	if len(set.Keys) == 0 {
		t.Fatalf("GET %s: empty JWKS", url)
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() || k.Algorithm != string(jose.EdDSA) || k.Use != "sig" || k.KeyID == "" {
			t.Errorf("JWKS key %q: valid=%v public=%v alg=%q use=%q", k.KeyID, k.Valid(), k.IsPublic(), k.Algorithm, k.Use)
		}
	}
	return set
}

// verifyAccessToken checks token's signature against set with go-jose,
// accepting only EdDSA and a key whose kid matches, and checks its header
// and the claims every access token carries.
func verifyAccessToken(t testing.TB, set jose.JSONWebKeySet, token, issuer string) accessClaims {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		t.Fatalf("access token has %d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		t.Errorf("header typ = %q, want at+jwt", typ)
	}
	if h.Algorithm != string(jose.EdDSA) {
		t.Errorf("header alg = %q, want EdDSA", h.Algorithm)
	}
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q matches %d keys of the JWKS", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("claims: %v", err)
	}
	now := time.Now().Unix()
	if c.Iss != issuer {
		t.Errorf("iss = %q, want %q", c.Iss, issuer)
	}
	if aud := c.audience(); len(aud) != 1 || aud[0] != "authd" {
		t.Errorf("aud = %s, want authd", c.Aud)
	}
	if _, err := uuid.Parse(c.Sid); err != nil {
		t.Errorf("sid = %q is not a UUID", c.Sid)
	}
	if c.Sub == "" || strings.TrimLeft(c.Sub, "0123456789") != "" {
		t.Errorf("sub = %q, want a decimal user id", c.Sub)
	}
	if c.Jti == "" {
		t.Error("jti is empty")
	}
	if c.Iat > now+30 || c.Nbf > now+30 || c.Iat < now-300 {
		t.Errorf("iat %d / nbf %d are not about now (%d)", c.Iat, c.Nbf, now)
	}
	// The default lifetime is 15 minutes.
	if ttl := c.Exp - c.Iat; ttl != 15*60 {
		t.Errorf("exp - iat = %ds, want 900", ttl)
	}
	if c.Exp <= now {
		t.Errorf("exp %d is not in the future (now %d)", c.Exp, now)
	}
	return c
}
