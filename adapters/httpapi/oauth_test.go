package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestOAuthTokenRefreshGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "oauth@example.com")

	r := f.form(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.tokens.RefreshToken}})
	next := decode[tokenBody](t, r, http.StatusOK)
	if next.TokenType != "Bearer" || next.ExpiresIn <= 0 || next.RefreshToken == a.tokens.RefreshToken || next.AccessToken == "" {
		t.Errorf("token response = %+v", next)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if _, err := f.issuer.Verify(next.AccessToken, f.clock.Now()); err != nil {
		t.Errorf("the access token does not verify: %v", err)
	}
	// The JSON endpoint accepts the token the OAuth endpoint issued.
	after := decode[tokenBody](t, f.refresh(t, next.RefreshToken), http.StatusOK)

	// Reuse ends the family and is an invalid_grant.
	f.form(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.tokens.RefreshToken}}).
		oauthError(t, http.StatusBadRequest, "invalid_grant")
	f.form(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {after.RefreshToken}}).
		oauthError(t, http.StatusBadRequest, "invalid_grant")
}

func TestOAuthTokenErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "errors@example.com")
	unknown := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		name        string
		body        string
		contentType string
		code        string
	}{
		{"missing grant_type", url.Values{"refresh_token": {a.tokens.RefreshToken}}.Encode(), "", "invalid_request"},
		{"empty body", "", "", "invalid_request"},
		{"missing refresh_token", "grant_type=refresh_token", "", "invalid_request"},
		{"password grant", url.Values{"grant_type": {"password"}, "username": {a.email}, "password": {strongPassword}}.Encode(), "", "unsupported_grant_type"},
		{"client credentials grant", "grant_type=client_credentials", "", "unsupported_grant_type"},
		{"repeated grant_type", "grant_type=refresh_token&grant_type=refresh_token&refresh_token=" + a.tokens.RefreshToken, "", "invalid_request"},
		{"repeated refresh_token", "grant_type=refresh_token&refresh_token=" + unknown + "&refresh_token=" + a.tokens.RefreshToken, "", "invalid_request"},
		{"JSON body", `{"grant_type":"refresh_token","refresh_token":"` + a.tokens.RefreshToken + `"}`, "application/json", "invalid_request"},
		{"unknown token", "grant_type=refresh_token&refresh_token=" + unknown, "", "invalid_grant"},
		{"garbage token", "grant_type=refresh_token&refresh_token=garbage", "", "invalid_grant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ct := c.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			e := f.send(t, request{method: "POST", path: "/oauth/token", body: c.body, contentType: ct}).oauthError(t, http.StatusBadRequest, c.code)
			if strings.Contains(e.ErrorDescription, a.tokens.RefreshToken) {
				t.Error("the error description echoes the refresh token")
			}
		})
	}
	// None of the failed requests consumed the token.
	t.Cleanup(func() {
		decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
	})
}

func TestOAuthRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "revoke@example.com")
	keep := f.login(t, a.email, strongPassword)

	revoke := func(v url.Values) response {
		t.Helper()
		return f.form(t, "/oauth/revoke", v)
	}
	r := revoke(url.Values{"token": {a.tokens.RefreshToken}, "token_type_hint": {"refresh_token"}})
	r.wantStatus(t, http.StatusOK)
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	decode[tokenBody](t, f.refresh(t, keep.RefreshToken), http.StatusOK)

	for name, v := range map[string]url.Values{
		"again":        {"token": {a.tokens.RefreshToken}},
		"unknown":      {"token": {base64.RawURLEncoding.EncodeToString(make([]byte, 32))}},
		"garbage":      {"token": {"garbage"}},
		"access token": {"token": {a.tokens.AccessToken}, "token_type_hint": {"access_token"}},
	} {
		t.Run(name, func(t *testing.T) {
			revoke(v).wantStatus(t, http.StatusOK)
		})
	}
	revoke(url.Values{"token_type_hint": {"refresh_token"}}).oauthError(t, http.StatusBadRequest, "invalid_request")
	revoke(url.Values{"token": {"a", "b"}}).oauthError(t, http.StatusBadRequest, "invalid_request")
	f.send(t, request{method: "POST", path: "/oauth/revoke", body: `{"token":"x"}`}).oauthError(t, http.StatusBadRequest, "invalid_request")
}

func TestOAuthMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := decode[map[string]any](t, f.do(t, "GET", "/.well-known/oauth-authorization-server", "", ""), http.StatusOK)
	for k, want := range map[string]string{
		"issuer":              testIssuer,
		"token_endpoint":      testIssuer + "/oauth/token",
		"revocation_endpoint": testIssuer + "/oauth/revoke",
		"jwks_uri":            testIssuer + "/.well-known/jwks.json",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %s", k, m[k], want)
		}
	}
	grants, _ := json.Marshal(m["grant_types_supported"])
	if string(grants) != `["refresh_token"]` {
		t.Errorf("grant_types_supported = %s, want [\"refresh_token\"]", grants)
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "jwks@example.com")
	set := decode[struct {
		Keys []map[string]string `json:"keys"`
	}](t, f.do(t, "GET", "/.well-known/jwks.json", "", ""), http.StatusOK)
	if len(set.Keys) != 1 {
		t.Fatalf("keys = %v, want one", set.Keys)
	}
	k := set.Keys[0]
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || len(k) != 6 {
		t.Errorf("key = %v, want an Ed25519 signing key", k)
	}
	if x, err := base64.RawURLEncoding.DecodeString(k["x"]); err != nil || len(x) != 32 {
		t.Errorf("x = %q is not a 32-byte base64url public key", k["x"])
	}
	if kid := jwtHeader(t, a.tokens.AccessToken)["kid"]; kid != k["kid"] {
		t.Errorf("the access token's kid %v is not the JWKS key's %s", kid, k["kid"])
	}
	if _, ok := k["d"]; ok {
		t.Error("the JWKS publishes the private key")
	}
}

// TestOAuthErrorShapeFollowsTheRoute checks that the route a request
// matched, not the spelling of its path, decides the shape of its errors.
func TestOAuthErrorShapeFollowsTheRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	form := func(path, body string) request {
		return request{method: "POST", path: path, body: body, contentType: "application/x-www-form-urlencoded"}
	}
	// Fiber routes a trailing slash and any letter case to the OAuth routes.
	f.send(t, form("/oauth/token/", "grant_type=password")).oauthError(t, http.StatusBadRequest, "unsupported_grant_type")
	f.send(t, form("/oauth/revoke/", "token_type_hint=refresh_token")).oauthError(t, http.StatusBadRequest, "invalid_request")
	// The document spells paths in lower case, so this answer is checked by hand.
	resp, err := f.app.Test(form("/OAuth/Token", "grant_type=password").build(), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e oauthErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Error != "unsupported_grant_type" {
		t.Errorf("POST /OAuth/Token = %d %+v (%v), want 400 unsupported_grant_type", resp.StatusCode, e, err)
	}

	// Requests no OAuth route took are answered as problems.
	f.do(t, "GET", "/oauth/token", "", "").problem(t, http.StatusMethodNotAllowed, "method_not_allowed")
	f.send(t, form("/oauth/token/extra", "grant_type=password")).problem(t, http.StatusNotFound, "not_found")
}

// TestRotationsAreCountedOnBothEndpoints checks that the refresh grant of
// /oauth/token is counted like /v1/auth/refresh, by the error table's labels.
func TestRotationsAreCountedOnBothEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "counted@example.com")
	grant := func(token string) response {
		return f.form(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
	}
	next := decode[tokenBody](t, grant(a.tokens.RefreshToken), http.StatusOK)
	grant(a.tokens.RefreshToken).oauthError(t, http.StatusBadRequest, "invalid_grant")
	f.refresh(t, next.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	grant(base64.RawURLEncoding.EncodeToString(make([]byte, 32))).oauthError(t, http.StatusBadRequest, "invalid_grant")

	text := string(f.scrape(t).body)
	for _, want := range []string{
		`authd_refreshes_total{result="success"} 1`,
		`authd_refreshes_total{result="reused"} 1`,
		`authd_refreshes_total{result="invalid"} 2`,
		"authd_refresh_token_reuse_detected_total 1",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
