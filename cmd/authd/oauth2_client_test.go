package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// authServerMetadata is the part of RFC 8414 metadata a client uses.
type authServerMetadata struct {
	Issuer                 string   `json:"issuer"`
	TokenEndpoint          string   `json:"token_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	AuthMethodsSupported   []string `json:"token_endpoint_auth_methods_supported"`
	SigningAlgsSupported   []string `json:"access_token_signing_alg_values_supported"`
	ServiceDocumentation   string   `json:"service_documentation"`
	ResponseTypesSupported []string `json:"response_types_supported"`
}

// TestOAuth2Client uses authd as a stock OAuth 2.0 client library sees it:
// discovery, the refresh grant, RFC 6749 errors and RFC 7009 revocation.
func TestOAuth2Client(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{DSN: migratedDatabase(t)})
	api := s.API

	var md authServerMetadata
	api.do("GET", "/.well-known/oauth-authorization-server", "", nil).want(t, http.StatusOK).decode(t, &md)
	if md.Issuer != s.URL || md.TokenEndpoint != s.URL+"/oauth/token" || md.RevocationEndpoint != s.URL+"/oauth/revoke" ||
		md.JWKSURI != s.URL+"/.well-known/jwks.json" {
		t.Fatalf("metadata endpoints = %+v", md)
	}
	if !slices.Equal(md.GrantTypesSupported, []string{"refresh_token"}) || !slices.Contains(md.SigningAlgsSupported, "EdDSA") ||
		!slices.Contains(md.AuthMethodsSupported, "none") {
		t.Errorf("metadata capabilities = %+v", md)
	}

	email, password := newEmail(t, "carol"), newPassword(t)
	api.register(email, password)
	s.forbid(password)

	cfg := oauth2.Config{
		ClientID: "any",
		Endpoint: oauth2.Endpoint{TokenURL: md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	// The library's requests go through the validating client too.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, api.hc)
	expired := func(rt string) *oauth2.Token {
		return &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}
	}
	wantInvalidGrant := func(what string, err error) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("%s: error %v (%T), want *oauth2.RetrieveError", what, err, err)
		}
		if re.ErrorCode != "invalid_grant" || re.Response.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %q (%s), want 400 invalid_grant", what, re.Response.StatusCode, re.ErrorCode, re.Body)
		}
	}
	jwks := fetchJWKS(t, api, md.JWKSURI)

	t.Run("refresh grant and reuse", func(t *testing.T) {
		login := api.login(email, password)
		s.forbid(login.RefreshToken, login.AccessToken)

		tok, err := cfg.TokenSource(ctx, expired(login.RefreshToken)).Token()
		if err != nil {
			t.Fatalf("refresh through oauth2: %v", err)
		}
		s.forbid(tok.AccessToken, tok.RefreshToken)
		if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.RefreshToken == login.RefreshToken || !tok.Valid() {
			t.Fatalf("refreshed token = type %q, rotated %v, valid %v", tok.TokenType, tok.RefreshToken != login.RefreshToken, tok.Valid())
		}
		if left := time.Until(tok.Expiry); left < 14*time.Minute || left > 16*time.Minute {
			t.Errorf("token expires in %s, want about 15m", left)
		}
		c := verifyAccessToken(t, jwks, tok.AccessToken, md.Issuer)
		if lc := verifyAccessToken(t, jwks, login.AccessToken, md.Issuer); lc.Sid != c.Sid {
			t.Errorf("the refreshed token left the session: sid %q, want %q", c.Sid, lc.Sid)
		}
		api.do("GET", "/v1/users/me", tok.AccessToken, nil).want(t, http.StatusOK)

		// Replaying the original token is reuse: the family ends.
		_, err = cfg.TokenSource(ctx, expired(login.RefreshToken)).Token()
		wantInvalidGrant("replayed refresh token", err)
		_, err = cfg.TokenSource(ctx, expired(tok.RefreshToken)).Token()
		wantInvalidGrant("successor after reuse", err)
	})

	t.Run("revocation", func(t *testing.T) {
		login := api.login(email, password)
		s.forbid(login.RefreshToken, login.AccessToken)
		tok, err := cfg.TokenSource(ctx, expired(login.RefreshToken)).Token()
		if err != nil {
			t.Fatalf("refresh through oauth2: %v", err)
		}
		s.forbid(tok.AccessToken, tok.RefreshToken)

		revoke := func(token string) {
			t.Helper()
			r := api.do("POST", "/oauth/revoke", "", url.Values{"token": {token}, "token_type_hint": {"refresh_token"}, "client_id": {"any"}})
			r.want(t, http.StatusOK)
		}
		revoke(tok.RefreshToken)
		revoke(tok.RefreshToken)              // idempotent
		revoke("unknown-" + randomHex(t, 16)) // RFC 7009 §2.2: unknown tokens are fine
		revoke(tok.AccessToken)               // access tokens are not stored: still 200
		_, err = cfg.TokenSource(ctx, expired(tok.RefreshToken)).Token()
		wantInvalidGrant("revoked refresh token", err)

		api.do("POST", "/oauth/revoke", "", url.Values{}).want(t, http.StatusBadRequest, "invalid_request")
	})

	t.Run("token endpoint errors", func(t *testing.T) {
		api.do("POST", "/oauth/token", "", url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}).
			want(t, http.StatusBadRequest, "unsupported_grant_type")
		api.do("POST", "/oauth/token", "", url.Values{"grant_type": {"refresh_token"}}).
			want(t, http.StatusBadRequest, "invalid_request")
		api.do("POST", "/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}).
			want(t, http.StatusBadRequest, "invalid_grant")
	})
}
