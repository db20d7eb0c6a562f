package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestIssuerAgreesEverywhere checks that the metadata's issuer, its
// endpoint URLs and the tokens' iss are one string, byte for byte: with the
// default issuer on HTTP_ADDR=127.0.0.1:0 (the port bound, never 0), and
// with an AUTHD_ISSUER written with capitals, a default port and a
// trailing slash.
func TestIssuerAgreesEverywhere(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	key := genKeyFile(t)
	cases := []struct {
		name string
		o    serverOptions
		want func(s *server) string
	}{
		{"default issuer on port 0", serverOptions{DSN: dsn, KeyFile: key, AnyPort: true},
			func(s *server) string { return s.URL }},
		{"AUTHD_ISSUER in another spelling", serverOptions{DSN: dsn, KeyFile: key, AnyPort: true,
			Env: []string{"AUTHD_ISSUER=HTTPS://Auth.Example.TEST:443/tenant/"}},
			func(*server) string { return "https://auth.example.test/tenant" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, c.o)
			want := c.want(s)
			if strings.HasSuffix(s.URL, ":0") {
				t.Fatalf("authd reports listening on %s", s.URL)
			}
			var md authServerMetadata
			s.API.do("GET", "/.well-known/oauth-authorization-server", "", nil).want(t, http.StatusOK).decode(t, &md)
			for name, got := range map[string][2]string{
				"issuer":                {md.Issuer, want},
				"token_endpoint":        {md.TokenEndpoint, want + "/oauth/token"},
				"revocation_endpoint":   {md.RevocationEndpoint, want + "/oauth/revoke"},
				"jwks_uri":              {md.JWKSURI, want + "/.well-known/jwks.json"},
				"service_documentation": {md.ServiceDocumentation, want + "/openapi.json"},
			} {
				if got[0] != got[1] {
					t.Errorf("metadata %s = %q, want %q", name, got[0], got[1])
				}
			}
			email, password := newEmail(t, "iss"), newPassword(t)
			s.API.register(email, password)
			tokens := s.API.login(email, password)
			jwks := fetchJWKS(t, s.API, s.URL+"/.well-known/jwks.json")
			verifyAccessToken(t, jwks, tokens.AccessToken, md.Issuer)
			s.waitForLog(t, `"issuer":"`+want+`"`)
		})
	}
}

// TestMetricsListener checks that /metrics is served on AUTHD_METRICS_ADDR
// only, and that the API answers 404 for it.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{DSN: migratedDatabase(t)})
	s.API.do("GET", "/healthz", "", nil).want(t, http.StatusOK)
	s.API.do("GET", "/metrics", "", nil).want(t, http.StatusNotFound, "not_found")
	body := scrapeMetrics(t, s)
	for _, want := range []string{"authd_http_requests_total{", "authd_password_hash_in_flight", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/metrics", http.StatusMethodNotAllowed},
		{"GET", "/healthz", http.StatusNotFound},
		{"GET", "/v1/users/me", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(c.method, s.MetricsURL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s on the metrics listener: %d (nosniff %q), want %d", c.method, c.path, resp.StatusCode,
				resp.Header.Get("X-Content-Type-Options"), c.status)
		}
	}
	// The test servers hash cheaply, below OWASP's minimum: authd says so.
	s.waitForLog(t, "below OWASP's minimum")
}
