package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/adapters/httpapi"
	"authd/domain"
	"authd/ports"
)

// testOrigins are the origins the CORS tests allow.
const (
	appOrigin = "https://app.example.com"
	devOrigin = "http://localhost:5173"
)

// origins parses an origin list or fails the test.
func origins(t testing.TB, list string) httpapi.Origins {
	t.Helper()
	o, err := httpapi.ParseOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// uuidLike matches the request ids the server generates.
var uuidLike = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestEdgeHeaders checks the headers every answer carries, and that only
// answers about a user or their tokens, and errors, forbid storing them.
func TestEdgeHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "edge@example.com")
	cases := []struct {
		name    string
		req     request
		status  int
		noStore bool
	}{
		{"health", request{method: "GET", path: "/healthz"}, 200, false},
		{"jwks", request{method: "GET", path: "/.well-known/jwks.json"}, 200, false},
		{"metadata", request{method: "GET", path: "/.well-known/oauth-authorization-server"}, 200, false},
		{"openapi", request{method: "GET", path: "/openapi.json"}, 200, false},
		{"me", request{method: "GET", path: "/v1/users/me", bearer: a.tokens.AccessToken}, 200, true},
		{"me as HEAD", request{method: "HEAD", path: "/v1/users/me", bearer: a.tokens.AccessToken}, 200, true},
		{"sessions", request{method: "GET", path: "/v1/users/me/sessions", bearer: a.tokens.AccessToken}, 200, true},
		{"register", request{method: "POST", path: "/v1/auth/register", body: credentials("edge2@example.com", strongPassword)}, 201, true},
		{"logout", request{method: "POST", path: "/v1/auth/logout", body: refreshJSON("unknown")}, 204, true},
		{"invalid token", request{method: "GET", path: "/v1/users/me", bearer: "nope"}, 401, true},
		{"oauth revoke", request{method: "POST", path: "/oauth/revoke", body: "token=unknown", contentType: "application/x-www-form-urlencoded"}, 200, true},
		{"oauth error", request{method: "POST", path: "/oauth/token", body: "grant_type=password", contentType: "application/x-www-form-urlencoded"}, 400, true},
		{"unknown path", request{method: "GET", path: "/nowhere"}, 404, true},
		{"metrics are not on the API", request{method: "GET", path: "/metrics"}, 404, true},
		{"wrong method", request{method: "PUT", path: "/healthz"}, 405, true},
		{"unsupported media type", request{method: "POST", path: "/v1/auth/login", body: "{}", contentType: "text/plain"}, 415, true},
		{"plain OPTIONS", request{method: "OPTIONS", path: "/healthz"}, 204, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := f.send(t, c.req)
			r.wantStatus(t, c.status)
			checkEdgeHeaders(t, r, true)
			if got := r.header.Get("Cache-Control"); (got == "no-store") != c.noStore {
				t.Errorf("Cache-Control = %q, want no-store: %v", got, c.noStore)
			}
			if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Vary") != "" {
				t.Errorf("CORS headers without CORS origins: %v", r.header)
			}
		})
	}

	t.Run("answers Fiber gives before any middleware", func(t *testing.T) {
		t.Parallel()
		base := f.listen(t)
		r := f.sendDeclared(t, base, "/v1/auth/register", "application/json", httpapi.BodyLimit+1)
		r.problem(t, http.StatusRequestEntityTooLarge, "payload_too_large")
		checkEdgeHeaders(t, r, true)
	})

	t.Run("no HSTS on an http issuer", func(t *testing.T) {
		t.Parallel()
		app := httpapi.New(httpapi.Config{Issuer: "http://127.0.0.1:8080"}, httpapi.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		resp, err := app.Test(httptest.NewRequest("GET", "/healthz", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		checkEdgeHeaders(t, response{status: resp.StatusCode, header: resp.Header}, false)
	})
}

// checkEdgeHeaders fails t unless r has nosniff, a request id and HSTS
// exactly when hsts says.
func checkEdgeHeaders(t testing.TB, r response, hsts bool) {
	t.Helper()
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if got := r.header.Get("X-Request-ID"); got == "" {
		t.Error("no X-Request-ID")
	}
	got := r.header.Get("Strict-Transport-Security")
	if hsts && !strings.HasPrefix(got, "max-age=31536000") {
		t.Errorf("Strict-Transport-Security = %q, want a year", got)
	}
	if !hsts && got != "" {
		t.Errorf("Strict-Transport-Security = %q on an http issuer", got)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	keep := []string{"a", "req-1", "A.b_C-9", strings.Repeat("x", 128), "0123456789abcdef0123456789abcdef"}
	replace := []string{"", " ", "a b", "req/1", "ünïcode", "a\tb", "<script>", `"quoted"`, "id;drop", strings.Repeat("x", 129), strings.Repeat("y", 10<<10)}
	for _, id := range keep {
		r := f.send(t, request{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": id}})
		if got := r.header.Get("X-Request-ID"); got != id {
			t.Errorf("X-Request-ID %.20q… came back as %.20q…", id, got)
		}
	}
	seen := map[string]bool{}
	for _, id := range replace {
		r := f.send(t, request{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": id}})
		r.wantStatus(t, http.StatusOK)
		got := r.header.Get("X-Request-ID")
		if !uuidLike.MatchString(got) || seen[got] {
			t.Errorf("X-Request-ID %.20q… was answered with %q, want a new generated id", id, got)
		}
		seen[got] = true
	}
	// The id the answer names is the one the request is logged with.
	r := f.send(t, request{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": "bad id"}})
	id := r.header.Get("X-Request-ID")
	logged := false
	for _, line := range f.logLines(t) {
		if line["msg"] == "request" && line["request_id"] == id {
			logged = true
		}
		if s, _ := line["request_id"].(string); strings.Contains(s, " ") || len(s) > 128 {
			t.Errorf("a log line carries the client's invalid request id %.40q", s)
		}
	}
	if !logged {
		t.Errorf("no request log line with request_id %s", id)
	}

	t.Run("10 KB id on a real listener", func(t *testing.T) {
		t.Parallel()
		base := f.listen(t)
		req, err := http.NewRequest("GET", base+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-ID", strings.Repeat("z", 10<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := f.check(t, req, resp)
		_ = resp.Body.Close()
		r.wantStatus(t, http.StatusOK)
		if got := r.header.Get("X-Request-ID"); !uuidLike.MatchString(got) {
			t.Errorf("X-Request-ID = %.40q, want a generated id", got)
		}
	})
}

// TestJSONRoutesRequireJSON sends every operation the OpenAPI document
// gives a JSON body (the route table's bodyJSON routes) a body without or
// with another Content-Type: each answers 415 before any handler runs, a
// bearer token or not.
func TestJSONRoutesRequireJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAdmin(t, "media@example.com")
	doc := f.v.Doc()
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
				continue
			}
			n++
			target := strings.NewReplacer("{id}", "1").Replace(path)
			for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded",
				"application/json-patch+json", "application/merge-patch+json", "application/jsonx", "application/json; charset=latin1", "application/json;;"} {
				for _, bearer := range []string{"", a.tokens.AccessToken} {
					req := request{method: method, path: target, body: `{}`, bearer: bearer}.build()
					if ct == "" {
						req.Header.Del("Content-Type")
					} else {
						req.Header.Set("Content-Type", ct)
					}
					r := f.sendHTTP(t, req)
					if r.status != http.StatusUnsupportedMediaType {
						t.Errorf("%s %s with Content-Type %q: status %d, want 415; body %s", method, target, ct, r.status, r.body)
						continue
					}
					r.problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
				}
			}
		}
	}
	if n < 6 {
		t.Fatalf("only %d JSON operations found in the document", n)
	}
	// Spellings of application/json that are accepted.
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8"} {
		r := f.send(t, request{method: "POST", path: "/v1/auth/login", body: credentials(a.email, strongPassword), contentType: ct})
		r.wantStatus(t, http.StatusOK)
	}
	// The form routes keep requiring form encoding, in the OAuth shape.
	for _, ct := range []string{"", "application/json", "text/plain"} {
		req := request{method: "POST", path: "/oauth/token", body: "grant_type=refresh_token&refresh_token=x", contentType: ct}.build()
		if ct == "" {
			req.Header.Del("Content-Type")
		}
		f.sendHTTP(t, req).oauthError(t, http.StatusBadRequest, "invalid_request")
	}
}

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	good := []struct{ list, want string }{
		{"", ""},
		{"https://app.example.com", "https://app.example.com"},
		{" https://APP.Example.com/ , http://localhost:5173", "http://localhost:5173 https://app.example.com"},
		{"https://app.example.com:443,http://a.example:80", "http://a.example https://app.example.com"},
		{"https://app.example.com:8443", "https://app.example.com:8443"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
	}
	for _, c := range good {
		o, err := httpapi.ParseOrigins(c.list)
		if err != nil {
			t.Errorf("ParseOrigins(%q): %v", c.list, err)
			continue
		}
		if got := strings.Join(o.List(), " "); got != c.want {
			t.Errorf("ParseOrigins(%q) = %q, want %q", c.list, got, c.want)
		}
	}
	for _, bad := range []string{"*", "null", "app.example.com", "ftp://app.example.com", "https://", "https://app.example.com/app",
		"https://user@app.example.com", "https://app.example.com?x=1", "https://app.example.com#x", "https://app.example.com:0",
		"https://app.example.com:99999", "https://*.example.com", "https://bücher.example", "https://app.example.com,junk"} {
		if _, err := httpapi.ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) accepted it", bad)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, corsOrigins: origins(t, appOrigin+","+devOrigin)})
	a := f.newAccount(t, "cors@example.com")
	preflight := func(origin, path, method string) response {
		t.Helper()
		h := map[string]string{"Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization,content-type"}
		if origin != "" {
			h["Origin"] = origin
		}
		return f.send(t, request{method: "OPTIONS", path: path, header: h})
	}

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ origin, path, methods string }{
			{appOrigin, "/v1/auth/login", "POST"},
			{devOrigin, "/v1/users/me", "GET, HEAD"},
			{appOrigin, "/v1/admin/users/42", "GET, HEAD, PATCH"},
			{appOrigin, "/oauth/token", "POST"},
		} {
			r := preflight(c.origin, c.path, "POST")
			r.wantStatus(t, http.StatusNoContent)
			want := map[string]string{
				"Access-Control-Allow-Origin":  c.origin,
				"Access-Control-Allow-Methods": c.methods,
				"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-ID",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("OPTIONS %s from %s: %s = %q, want %q", c.path, c.origin, k, got, v)
				}
			}
			if r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials mode is allowed")
			}
		}
	})

	t.Run("preflight from any other origin", func(t *testing.T) {
		t.Parallel()
		for _, origin := range []string{"https://evil.example", "https://APP.example.com", appOrigin + "/", appOrigin + ":443",
			"http://app.example.com", "null", "*", strings.Repeat("o", 4096), "https://app.example.com.evil.example"} {
			r := preflight(origin, "/v1/auth/login", "POST")
			r.problem(t, http.StatusForbidden, "origin_not_allowed")
			if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Origin %.30q: Access-Control-Allow-Origin = %q", origin, got)
			}
			if got := r.header.Get("Vary"); got != "Origin" {
				t.Errorf("Origin %.30q: Vary = %q, want Origin", origin, got)
			}
		}
	})

	t.Run("OPTIONS without Origin, and on unknown paths", func(t *testing.T) {
		t.Parallel()
		r := preflight("", "/v1/users/me", "GET")
		r.wantStatus(t, http.StatusNoContent)
		if got := r.header.Get("Allow"); got != "GET, HEAD, OPTIONS" {
			t.Errorf("Allow = %q", got)
		}
		if r.header.Get("Access-Control-Allow-Methods") != "" {
			t.Error("CORS headers on an OPTIONS without Origin")
		}
		preflight(appOrigin, "/v1/nowhere", "GET").problem(t, http.StatusNotFound, "not_found")
	})

	t.Run("requests from an allowed origin", func(t *testing.T) {
		t.Parallel()
		for _, r := range []response{
			f.send(t, request{method: "GET", path: "/v1/users/me", bearer: a.tokens.AccessToken, header: map[string]string{"Origin": appOrigin}}),
			f.send(t, request{method: "GET", path: "/v1/users/me", bearer: "expired", header: map[string]string{"Origin": appOrigin}}),
			f.send(t, request{method: "POST", path: "/v1/auth/login", body: "{}", contentType: "text/plain", header: map[string]string{"Origin": appOrigin}}),
		} {
			if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
				t.Errorf("%d answer: Access-Control-Allow-Origin = %q", r.status, got)
			}
			if got := r.header.Get("Access-Control-Expose-Headers"); got != "Retry-After, WWW-Authenticate, X-Request-ID" {
				t.Errorf("Access-Control-Expose-Headers = %q", got)
			}
			if r.header.Get("Vary") != "Origin" || r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("Vary/credentials: %v", r.header)
			}
		}
	})

	t.Run("requests from other origins are answered without CORS headers", func(t *testing.T) {
		t.Parallel()
		for _, origin := range []string{"", "https://evil.example", "null"} {
			h := map[string]string{}
			if origin != "" {
				h["Origin"] = origin
			}
			r := f.send(t, request{method: "GET", path: "/v1/users/me", bearer: a.tokens.AccessToken, header: h})
			r.wantStatus(t, http.StatusOK)
			if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Expose-Headers") != "" {
				t.Errorf("Origin %q got CORS headers: %v", origin, r.header)
			}
			if r.header.Get("Vary") != "Origin" {
				t.Errorf("Origin %q: Vary = %q, want Origin", origin, r.header.Get("Vary"))
			}
		}
	})

	t.Run("no origins configured", func(t *testing.T) {
		t.Parallel()
		plain := newFixture(t)
		r := plain.send(t, request{method: "OPTIONS", path: "/v1/auth/login", header: map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "POST"}})
		r.problem(t, http.StatusForbidden, "origin_not_allowed")
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Error("CORS headers without configured origins")
		}
	})
}

// TestClientAddressBehindProxies checks that the address the edge resolves
// is the one sessions, the audit trail and the per-IP limits see. app.Test
// connects from 0.0.0.0, which the fixture trusts as its proxy.
func TestClientAddressBehindProxies(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{
		limits: limitsWith(func(p *domain.LimitPolicy) {
			p.PerAccountIP.Max, p.PerAccount.Max, p.PerIP.Max, p.Registrations.Max = 1000, 1000, 1000, 2
		}),
		trustedProxies: proxies(t, "0.0.0.0, 10.0.0.0/8"),
	})
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }
	register := func(email, forwardedFor string) response {
		return f.send(t, request{method: "POST", path: "/v1/auth/register", body: credentials(email, strongPassword), header: xff(forwardedFor)})
	}
	// Two clients behind the proxy have a registration limit each; what a
	// client writes left of its own address changes nothing.
	register("c1@example.com", "203.0.113.7").wantStatus(t, http.StatusCreated)
	register("c2@example.com", "198.51.100.1, 203.0.113.7, 10.1.1.1").wantStatus(t, http.StatusCreated)
	register("c3@example.com", "203.0.113.7").problem(t, http.StatusTooManyRequests, "rate_limited")
	register("c4@example.com", "2001:db8::1").wantStatus(t, http.StatusCreated)

	login := f.send(t, request{method: "POST", path: "/v1/auth/login", body: credentials("c1@example.com", strongPassword),
		header: map[string]string{"X-Forwarded-For": "198.51.100.1", "Forwarded": `for="[2001:db8:cafe::17]:4711"`}})
	tokens := decode[tokenBody](t, login, http.StatusOK)
	// The headers disagree, so neither is believed: the proxy's own address.
	if ss := f.sessions(t, tokens.AccessToken); len(ss) != 1 || ss[0].IP != "0.0.0.0" {
		t.Errorf("sessions = %+v, want the peer's address", ss)
	}
	login = f.send(t, request{method: "POST", path: "/v1/auth/login", body: credentials("c4@example.com", strongPassword),
		header: map[string]string{"Forwarded": `for=unknown, for="[2001:db8:cafe:1:2:3:4:17]:4711";proto=https, for=10.0.0.9`}})
	tokens = decode[tokenBody](t, login, http.StatusOK)
	if ss := f.sessions(t, tokens.AccessToken); len(ss) != 1 || ss[0].IP != "2001:db8:cafe:1:2:3:4:17" {
		t.Errorf("sessions = %+v, want the full forwarded IPv6 address", ss)
	}

	// Garbage, a thousand hops (10,000 do not fit the server's header
	// limit; TestHugeHeadersOnAListener sends them): never a 5xx.
	for _, h := range []map[string]string{
		xff("garbage"), xff(strings.Repeat("10.0.0.1, ", 1000)), xff(strings.Repeat("\xff", 1000)),
		{"Forwarded": `for="`}, {"Forwarded": strings.Repeat("for=10.0.0.1;", 1000)}, {"Forwarded": strings.Repeat("for=10.0.0.1,", 1000)},
	} {
		r := f.send(t, request{method: "POST", path: "/v1/auth/login", body: credentials("c1@example.com", otherPassword), header: h})
		r.problem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	ips := f.auditIPs(t)
	if len(ips) == 0 || !contains(ips, "203.0.113.7") || !contains(ips, "2001:db8::1") {
		t.Errorf("audit IPs = %v, want the forwarded clients", ips)
	}
}

// auditIPs returns the client address of every audit event so far.
func (f *fixture) auditIPs(t testing.TB) []string {
	t.Helper()
	events, err := f.store.Audit().List(context.Background(), ports.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range events {
		ips = append(ips, e.Client.IP())
	}
	return ips
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestUntrustedPeerHeadersIgnored checks the default: nobody is trusted, so
// forwarding headers never change the address.
func TestUntrustedPeerHeadersIgnored(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
		p.PerAccountIP.Max, p.PerAccount.Max, p.PerIP.Max, p.Registrations.Max = 1000, 1000, 1000, 1
	})})
	f.send(t, request{method: "POST", path: "/v1/auth/register", body: credentials("u1@example.com", strongPassword),
		header: map[string]string{"X-Forwarded-For": "203.0.113.1"}}).wantStatus(t, http.StatusCreated)
	f.send(t, request{method: "POST", path: "/v1/auth/register", body: credentials("u2@example.com", strongPassword),
		header: map[string]string{"X-Forwarded-For": "203.0.113.2", "Forwarded": "for=203.0.113.3"}}).problem(t, http.StatusTooManyRequests, "rate_limited")
	if diff := cmp.Diff([]string{"0.0.0.0"}, dedupe(f.auditIPs(t))); diff != "" {
		t.Errorf("audit IPs (-want +got):\n%s", diff)
	}
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestHugeHeadersOnAListener sends headers over the server's limit: the
// answer is a 431 problem, not a 5xx or a dropped connection.
func TestHugeHeadersOnAListener(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, trustedProxies: proxies(t, "127.0.0.1")})
	base := f.listen(t)
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Request-ID", "Origin"} {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		value := strings.Repeat("10.0.0.1, ", 10_000)
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"+h+": "+value+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequestWithContext(context.Background(), "GET", "/healthz", nil)
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatalf("%s of %d bytes: %v", h, len(value), err)
		}
		r := f.check(t, req, resp)
		_ = resp.Body.Close()
		_ = conn.Close()
		r.problem(t, http.StatusRequestHeaderFieldsTooLarge, "request_header_fields_too_large")
	}
}
