package httpapi_test

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"authd/adapters/httpapi"
	"authd/ports"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := f.do(t, "GET", "/healthz", "", "")
	if got := decode[map[string]string](t, r, http.StatusOK); got["status"] != "ok" {
		t.Errorf("healthz = %v, want status ok", got)
	}
	decode[map[string]string](t, f.do(t, "GET", "/readyz", "", ""), http.StatusOK)

	f.setReady(errors.New("dial tcp 10.0.0.7:5432: connection refused"))
	r = f.do(t, "GET", "/readyz", "", "")
	r.problem(t, http.StatusServiceUnavailable, "database_unavailable")
	if strings.Contains(string(r.body), "10.0.0.7") {
		t.Errorf("readyz leaks the database error: %s", r.body)
	}
	// The process itself is still alive.
	f.do(t, "GET", "/healthz", "", "").wantStatus(t, http.StatusOK)

	f.setReady(nil)
	decode[map[string]string](t, f.do(t, "GET", "/readyz", "", ""), http.StatusOK)
}

func TestUnknownPathAndMethod(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name   string
		method string
		path   string
		status int
		allow  string
	}{
		{"unknown path", "GET", "/v2/users", http.StatusNotFound, ""},
		{"unknown nested path", "POST", "/v1/auth/register/extra", http.StatusNotFound, ""},
		{"root", "GET", "/", http.StatusNotFound, ""},
		{"GET-only path", "DELETE", "/v1/users/me", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS"},
		{"POST-only path", "GET", "/v1/auth/login", http.StatusMethodNotAllowed, "OPTIONS, POST"},
		{"parameterised path", "PUT", "/v1/admin/users/7", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS, PATCH"},
		{"session path", "GET", "/v1/users/me/sessions/x", http.StatusMethodNotAllowed, "DELETE, OPTIONS"},
		{"oauth", "GET", "/oauth/token", http.StatusMethodNotAllowed, "OPTIONS, POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, c.method, c.path, "", "")
			code := "not_found"
			if c.status == http.StatusMethodNotAllowed {
				code = "method_not_allowed"
			}
			r.problem(t, c.status, code)
			if got := r.header.Get("Allow"); got != c.allow {
				t.Errorf("Allow = %q, want %q", got, c.allow)
			}
		})
	}
}

func TestHeadOnGetRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "head@example.com")
	for _, c := range []struct {
		path   string
		bearer string
		status int
	}{
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
		{"/openapi.json", "", http.StatusOK},
		{"/.well-known/jwks.json", "", http.StatusOK},
		{"/v1/users/me", a.tokens.AccessToken, http.StatusOK},
		{"/v1/users/me", "", http.StatusUnauthorized},
	} {
		t.Run(c.path, func(t *testing.T) {
			r := f.do(t, "HEAD", c.path, "", c.bearer)
			r.wantStatus(t, c.status)
			if len(r.body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(r.body))
			}
		})
	}
}

func TestPanicIsAnOpaque500(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: func(u ports.UserRepository) ports.UserRepository {
		return panickingUsers{u}
	}})
	// Register does not read users, so the account can be made.
	f.register(t, "panic@example.com", strongPassword)
	for _, c := range []struct{ name, method, path, body string }{
		{"login", "POST", "/v1/auth/login", credentials("panic@example.com", strongPassword)},
	} {
		r := f.do(t, c.method, c.path, c.body, "")
		r.problem(t, http.StatusInternalServerError, "internal_error")
		if strings.Contains(string(r.body), "secret panic") || strings.Contains(string(r.body), "goroutine") {
			t.Errorf("%s: the panic leaks into the response: %s", c.name, r.body)
		}
	}
	// The server survives and keeps answering.
	f.do(t, "GET", "/healthz", "", "").wantStatus(t, http.StatusOK)
	if !strings.Contains(f.logs.String(), `"request_id"`) {
		t.Error("the failure was not logged with a request id")
	}
}

func TestUnexpectedErrorIsAnOpaque500(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: func(u ports.UserRepository) ports.UserRepository {
		return failingUsers{u}
	}})
	r := f.do(t, "POST", "/v1/auth/login", credentials("boom@example.com", strongPassword), "")
	r.problem(t, http.StatusInternalServerError, "internal_error")
	for _, leak := range []string{"pq:", "relation", "SELECT", "hashed_password"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("the response leaks %q: %s", leak, r.body)
		}
	}
	if !strings.Contains(f.logs.String(), "relation") {
		t.Error("the unexpected error was not logged for operators")
	}
}

func TestDatabaseOutageIs503AndRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "outage@example.com")

	f.store.SetUnavailable(true)
	cases := []struct {
		name string
		req  request
	}{
		{"register", request{method: "POST", path: "/v1/auth/register", body: credentials("new@example.com", strongPassword)}},
		{"login", request{method: "POST", path: "/v1/auth/login", body: credentials(a.email, strongPassword)}},
		{"refresh", request{method: "POST", path: "/v1/auth/refresh", body: refreshJSON(a.tokens.RefreshToken)}},
		{"me", request{method: "GET", path: "/v1/users/me", bearer: a.tokens.AccessToken}},
		{"sessions", request{method: "GET", path: "/v1/users/me/sessions", bearer: a.tokens.AccessToken}},
	}
	for _, c := range cases {
		f.send(t, c.req).problem(t, http.StatusServiceUnavailable, "database_unavailable")
	}
	r := f.form(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.tokens.RefreshToken}})
	r.oauthError(t, http.StatusServiceUnavailable, "temporarily_unavailable")

	f.store.SetUnavailable(false)
	decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken), http.StatusOK)
	decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "malformed@example.com")
	paths := []struct {
		path   string
		bearer string
	}{
		{"/v1/auth/register", ""},
		{"/v1/auth/login", ""},
		{"/v1/auth/refresh", ""},
		{"/v1/auth/logout", ""},
		{"/v1/users/me/password", a.tokens.AccessToken},
	}
	bodies := []struct{ name, body string }{
		{"truncated", `{"email":`},
		{"not an object", `[]`},
		{"string", `"hello"`},
		{"wrong type", `{"email":1,"password":true,"refresh_token":2,"current_password":[],"new_password":{}}`},
		{"unknown field", `{"is_admin":true}`},
		{"empty", ``},
		{"whitespace", " \n\t "},
		{"trailing data", `{}{}`},
		{"trailing garbage", `{} x`},
		{"invalid UTF-8", "{\"email\":\"a\xffb@example.com\"}"},
		{"single quotes", `{'email':'a'}`},
	}
	for _, p := range paths {
		for _, b := range bodies {
			t.Run(p.path+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				r := f.send(t, request{method: "POST", path: p.path, body: b.body, bearer: p.bearer, contentType: "application/json"})
				r.problem(t, http.StatusBadRequest, "malformed_request")
			})
		}
		t.Run(p.path+"/text content type", func(t *testing.T) {
			t.Parallel()
			r := f.send(t, request{method: "POST", path: p.path, body: `{}`, bearer: p.bearer, contentType: "text/plain"})
			r.problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		})
		t.Run(p.path+"/form content type", func(t *testing.T) {
			t.Parallel()
			r := f.send(t, request{method: "POST", path: p.path, body: `a=b`, bearer: p.bearer, contentType: "application/x-www-form-urlencoded"})
			r.problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
		})
	}
	if n := f.hasher.hashes.Load(); n != 1 {
		t.Errorf("malformed requests hashed passwords: %d hashes, want only the fixture's 1", n)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := f.listen(t)
	cases := []struct {
		name, path string
		size       int
	}{
		{"register just over", "/v1/auth/register", httpapi.BodyLimit + 1},
		{"register 1 MB email", "/v1/auth/register", 1<<20 + 64},
		{"login", "/v1/auth/login", 1 << 20},
		{"refresh", "/v1/auth/refresh", httpapi.BodyLimit + 1},
		{"logout", "/v1/auth/logout", 10 << 20},
		{"password", "/v1/users/me/password", httpapi.BodyLimit + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.sendDeclared(t, base, c.path, "application/json", c.size).problem(t, http.StatusRequestEntityTooLarge, "payload_too_large")
		})
	}
	// At the limit the body is read and decoded: a 64 KiB email is a
	// validation error, not 413.
	t.Run("at the limit", func(t *testing.T) {
		pad := httpapi.BodyLimit - len(credentials("@example.com", strongPassword))
		body := credentials(strings.Repeat("a", pad)+"@example.com", strongPassword)
		if len(body) != httpapi.BodyLimit {
			t.Fatalf("body is %d bytes", len(body))
		}
		f.do(t, "POST", "/v1/auth/register", body, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
	})
	if n := f.hasher.hashes.Load() + f.hasher.verifys.Load(); n != 0 {
		t.Errorf("oversized bodies reached the hasher %d times", n)
	}
}

// metricLine matches one sample of authd_http_requests_total.
var metricLine = regexp.MustCompile(`^authd_http_requests_total\{method="([^"]*)",route="([^"]*)",status="([^"]*)"\} (\d+)$`)

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "metrics-admin@example.com")
	a := f.newAccount(t, "metrics@example.com")
	f.do(t, "POST", "/v1/auth/login", credentials(a.email, otherPassword), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
	next := decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "refresh_token_reused")
	_ = next
	uid := strconv.FormatInt(a.user.ID, 10)
	decode[userBody](t, f.do(t, "GET", "/v1/admin/users/"+uid, "", admin.tokens.AccessToken), http.StatusOK)
	f.do(t, "GET", "/v1/admin/users/987654", "", admin.tokens.AccessToken).problem(t, http.StatusNotFound, "not_found")

	scrape := func() map[string]bool {
		t.Helper()
		r := f.scrape(t)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q, want text/plain", ct)
		}
		text := string(r.body)
		for _, name := range []string{"authd_http_requests_total", "authd_logins_total", "authd_refreshes_total", "authd_refresh_token_reuse_detected_total"} {
			if !strings.Contains(text, "\n"+name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if strings.Contains(text, "/v1/admin/users/"+uid+`"`) || strings.Contains(text, "987654") {
			t.Error("/metrics labels a raw user id instead of the route pattern")
		}
		routes := map[string]bool{}
		methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "authd_http_requests_total{") {
				continue
			}
			m := metricLine.FindStringSubmatch(sc.Text())
			if m == nil {
				t.Errorf("unexpected sample %q", sc.Text())
				continue
			}
			if !slices.Contains(methods, m[1]) {
				t.Errorf("sample %q has a corrupt method label", sc.Text())
			}
			if m[2] != "unmatched" && !strings.HasPrefix(m[2], "/") {
				t.Errorf("sample %q has a corrupt route label", sc.Text())
			}
			routes[m[2]] = true
		}
		return routes
	}
	routes := scrape()
	for _, want := range []string{"/v1/admin/users/:id", "/v1/auth/login", "/v1/auth/refresh"} {
		if !routes[want] {
			t.Errorf("no request sample for route %s; have %v", want, routes)
		}
	}
	for _, want := range []string{`authd_logins_total{result="success"}`, `authd_logins_total{result="invalid_credentials"}`,
		`authd_refreshes_total{result="reused"}`, "authd_refresh_token_reuse_detected_total 1"} {
		if r := f.scrape(t); !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Many requests with different methods and paths: label strings must
	// not alias request buffers that later requests overwrite.
	reqs := []request{
		{method: "GET", path: "/healthz"},
		{method: "HEAD", path: "/healthz"},
		{method: "POST", path: "/v1/auth/logout", body: refreshJSON("nothing")},
		{method: "DELETE", path: "/v1/users/me/sessions/00000000-0000-4000-8000-000000000000", bearer: a.tokens.AccessToken},
		{method: "PATCH", path: "/v1/admin/users/" + uid, body: `{}`, bearer: admin.tokens.AccessToken},
		{method: "PUT", path: "/v1/users/me"},
		{method: "OPTIONS", path: "/nowhere/at/all"},
		{method: "GET", path: "/v1/admin/users/" + strconv.Itoa(1000+len(uid)), bearer: admin.tokens.AccessToken},
	}
	for i := range 120 {
		f.send(t, reqs[i%len(reqs)])
	}
	routes = scrape()
	for _, want := range []string{"/healthz", "/v1/users/me/sessions/:id", "unmatched"} {
		if !routes[want] {
			t.Errorf("no request sample for route %s; have %v", want, routes)
		}
	}
	scrape()
}

func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "logs@example.com")
	next := decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
	me := f.send(t, request{method: "GET", path: "/v1/users/me", bearer: next.AccessToken, header: map[string]string{"X-Request-ID": "req-logs-1"}})
	me.wantStatus(t, http.StatusOK)
	f.do(t, "POST", "/v1/auth/login", credentials(a.email, otherPassword), "").wantStatus(t, http.StatusUnauthorized)

	text := f.logs.String()
	for name, secret := range map[string]string{
		"password":             strongPassword,
		"wrong password":       otherPassword,
		"refresh token":        a.tokens.RefreshToken,
		"rotated refresh":      next.RefreshToken,
		"access token":         a.tokens.AccessToken,
		"rotated access token": next.AccessToken,
		"Authorization header": "Bearer ",
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}

	var found bool
	for _, l := range f.logLines(t) {
		if l["msg"] != "request" || l["route"] != "/v1/users/me" {
			continue
		}
		found = true
		if l["method"] != "GET" || l["status"] != float64(200) {
			t.Errorf("request line %v: want method GET and status 200", l)
		}
		if l["request_id"] != "req-logs-1" {
			t.Errorf("request line %v: want request_id req-logs-1", l)
		}
		if l["user_id"] != strconv.FormatInt(a.user.ID, 10) {
			t.Errorf("request line %v: want user_id %d", l, a.user.ID)
		}
	}
	if !found {
		t.Fatalf("no request line for /v1/users/me in the logs:\n%s", text)
	}
	for _, l := range f.logLines(t) {
		if l["msg"] == "request" && (l["route"] == "/v1/auth/login" || l["route"] == "/v1/auth/refresh") {
			if l["request_id"] == nil || l["request_id"] == "" || l["status"] == nil {
				t.Errorf("request line without request_id or status: %v", l)
			}
		}
	}
}

// TestOnlyUnexpectedErrorsAreLoggedAsErrors checks the log level the error
// table decides: client errors, on JSON and OAuth routes alike, and a
// database outage are answered without an error line; an unexpected error
// is logged once for operators.
func TestOnlyUnexpectedErrorsAreLoggedAsErrors(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: func(u ports.UserRepository) ports.UserRepository {
		return failingUsers{u}
	}})
	errorLines := func() []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, l := range f.logLines(t) {
			if l["level"] == "ERROR" {
				out = append(out, l)
			}
		}
		return out
	}

	f.do(t, "POST", "/v1/auth/register", `{}`, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
	f.do(t, "POST", "/v1/auth/register", `{"email":`, "").problem(t, http.StatusBadRequest, "malformed_request")
	f.do(t, "GET", "/v1/users/me", "", "").problem(t, http.StatusUnauthorized, "invalid_token")
	f.do(t, "GET", "/nowhere", "", "").problem(t, http.StatusNotFound, "not_found")
	f.form(t, "/oauth/token", url.Values{}).oauthError(t, http.StatusBadRequest, "invalid_request")
	f.form(t, "/oauth/token", url.Values{"grant_type": {"password"}}).oauthError(t, http.StatusBadRequest, "unsupported_grant_type")
	f.form(t, "/oauth/revoke", url.Values{}).oauthError(t, http.StatusBadRequest, "invalid_request")
	f.store.SetUnavailable(true)
	f.do(t, "POST", "/v1/auth/refresh", refreshJSON("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "").
		problem(t, http.StatusServiceUnavailable, "database_unavailable")
	f.store.SetUnavailable(false)
	if lines := errorLines(); len(lines) != 0 {
		t.Errorf("expected answers were logged as errors: %v", lines)
	}

	f.do(t, "POST", "/v1/auth/login", credentials("boom@example.com", strongPassword), "").
		problem(t, http.StatusInternalServerError, "internal_error")
	lines := errorLines()
	if len(lines) != 1 || lines[0]["route"] != "/v1/auth/login" || lines[0]["request_id"] == "" {
		t.Errorf("error lines = %v, want one for the login, with its request id", lines)
	}
}
