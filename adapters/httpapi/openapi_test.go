package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"

	"authd/adapters/httpapi"
	"authd/adapters/httpapi/openapitest"
)

func TestOpenAPIDocumentLoadsAndValidates(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	if got := v.Doc().OpenAPI; got != "3.0.3" {
		t.Errorf("openapi version = %q, want 3.0.3", got)
	}
	var raw map[string]any
	if err := json.Unmarshal(httpapi.OpenAPIDocument, &raw); err != nil {
		t.Fatalf("the embedded document is not JSON: %v", err)
	}
	// The document must validate on its own as well, not only through the
	// validator's cached load.
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOpenAPIDocumentsEveryRoute checks that the document and the route
// table describe the same operations.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := openapitest.New(t).Doc()
	documented := map[[2]string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[[2]string{method, path}] = true
		}
	}
	served := map[[2]string]bool{}
	for _, r := range httpapi.Routes() {
		if served[r] {
			t.Errorf("route %s %s is in the route table twice", r[0], r[1])
		}
		served[r] = true
		if !documented[r] {
			t.Errorf("route %s %s is not documented", r[0], r[1])
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("documented operation %s %s is not served", r[0], r[1])
		}
	}
	if len(served) == 0 {
		t.Fatal("the route table is empty")
	}
}

// TestOpenAPIOperationsDocumentCommonErrors checks the responses every
// operation must document.
func TestOpenAPIOperationsDocumentCommonErrors(t *testing.T) {
	t.Parallel()
	doc := openapitest.New(t).Doc()
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want := []string{"404", "405", "500"}
			if method != http.MethodGet {
				want = append(want, "413")
			}
			if op.RequestBody != nil && op.RequestBody.Value.Content.Get("application/json") != nil {
				want = append(want, "400", "415", "422")
			}
			if op.Security != nil && len(*op.Security) > 0 {
				want = append(want, "401")
			}
			for _, status := range want {
				if op.Responses.Value(status) == nil {
					t.Errorf("%s %s does not document %s", method, path, status)
				}
			}
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
		}
	}
}

func req(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

// hdr returns the headers kv with those every answer has (nosniff and a
// request id) unless kv sets them; an empty value deletes a header.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-ID", "req-1")
	for i := 0; i+1 < len(kv); i += 2 {
		h.Del(kv[i])
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			h.Add(kv[i], kv[i+1])
		}
	}
	return h
}

// noStore is hdr for answers about a user or their tokens, and errors.
func noStore(kv ...string) http.Header {
	return hdr(append([]string{"Cache-Control", "no-store"}, kv...)...)
}

const (
	jsonCT    = "application/json"
	problemCT = "application/problem+json"
)

// TestOpenAPIValidatorExamples proves on hand-written responses that the
// validator accepts conforming answers and rejects the others.
func TestOpenAPIValidatorExamples(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	user := `{"id":42,"email":"ada@example.com","role":"user","is_active":true,"created_at":"2025-01-31T12:00:00Z","email_verified":false}`
	reused := `{"type":"urn:authd:problem:refresh_token_reused","title":"Unauthorized","status":401,` +
		`"detail":"This refresh token was already used; the session has been ended.","code":"refresh_token_reused"}`
	invalidToken := `{"type":"urn:authd:problem:invalid_token","title":"Unauthorized","status":401,` +
		`"detail":"A valid bearer access token is required.","code":"invalid_token"}`
	notFound := `{"type":"urn:authd:problem:not_found","title":"Not Found","status":404,"detail":"No resource exists at this path.","code":"not_found"}`
	notAllowed := `{"type":"urn:authd:problem:method_not_allowed","title":"Method Not Allowed","status":405,` +
		`"detail":"This path does not support this method.","code":"method_not_allowed"}`
	validation := `{"type":"urn:authd:problem:validation_failed","title":"Unprocessable Entity","status":422,` +
		`"detail":"The request has invalid fields.","code":"validation_failed","errors":[{"field":"email","message":"is required"}]}`
	rateLimited := `{"type":"urn:authd:problem:rate_limited","title":"Too Many Requests","status":429,` +
		`"detail":"Too many attempts; retry later.","code":"rate_limited"}`
	tokens := `{"access_token":"a.b.c","token_type":"Bearer","expires_in":900,"refresh_token":"r"}`
	originNotAllowed := `{"type":"urn:authd:problem:origin_not_allowed","title":"Forbidden","status":403,` +
		`"detail":"This origin may not call the API from a browser.","code":"origin_not_allowed"}`
	unsupported := `{"type":"urn:authd:problem:unsupported_media_type","title":"Unsupported Media Type","status":415,` +
		`"detail":"Send the request body as application/json.","code":"unsupported_media_type"}`
	bearer := `Bearer error="invalid_token"`

	cases := []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"user", req("GET", "/v1/users/me"), 200, noStore("Content-Type", jsonCT), user, true},
		{"user with charset", req("GET", "/v1/users/me"), 200, noStore("Content-Type", jsonCT+"; charset=utf-8"), user, true},
		{"user with extra field", req("GET", "/v1/users/me"), 200, noStore("Content-Type", jsonCT),
			strings.Replace(user, `"id":42`, `"id":42,"hashed_password":"x"`, 1), false},
		{"user with unknown role", req("GET", "/v1/users/me"), 200, noStore("Content-Type", jsonCT),
			strings.Replace(user, `"user"`, `"root"`, 1), false},
		{"user with bad date", req("GET", "/v1/users/me"), 200, noStore("Content-Type", jsonCT),
			strings.Replace(user, `2025-01-31T12:00:00Z`, `yesterday`, 1), false},
		{"user as problem media type", req("GET", "/v1/users/me"), 200, noStore("Content-Type", problemCT), user, false},
		{"admin user by id", req("GET", "/v1/admin/users/42"), 200, noStore("Content-Type", jsonCT), user, true},
		{"register created", req("POST", "/v1/auth/register"), 201, noStore("Content-Type", jsonCT), user, true},
		{"register undocumented 200", req("POST", "/v1/auth/register"), 200, noStore("Content-Type", jsonCT), user, false},
		{"register undocumented 418", req("POST", "/v1/auth/register"), 418, noStore("Content-Type", problemCT), notFound, false},
		{"register validation problem", req("POST", "/v1/auth/register"), 422, noStore("Content-Type", problemCT), validation, true},
		{"register rate limited", req("POST", "/v1/auth/register"), 429, noStore("Content-Type", problemCT, "Retry-After", "30"), rateLimited, true},
		{"register rate limited without Retry-After", req("POST", "/v1/auth/register"), 429, noStore("Content-Type", problemCT), rateLimited, false},
		{"refresh reused", req("POST", "/v1/auth/refresh"), 401, noStore("Content-Type", problemCT), reused, true},
		{"refresh answering another code", req("POST", "/v1/auth/refresh"), 401, noStore("Content-Type", problemCT), invalidToken, false},
		{"refresh problem as JSON", req("POST", "/v1/auth/refresh"), 401, noStore("Content-Type", jsonCT), reused, false},
		{"refresh tokens", req("POST", "/v1/auth/refresh"), 200, noStore("Content-Type", jsonCT), tokens, true},
		{"refresh tokens without no-store", req("POST", "/v1/auth/refresh"), 200, hdr("Content-Type", jsonCT), tokens, false},
		{"refresh tokens of another type", req("POST", "/v1/auth/refresh"), 200, noStore("Content-Type", jsonCT),
			strings.Replace(tokens, "Bearer", "MAC", 1), false},
		{"me without token", req("GET", "/v1/users/me"), 401, noStore("Content-Type", problemCT, "WWW-Authenticate", bearer), invalidToken, true},
		{"me without WWW-Authenticate", req("GET", "/v1/users/me"), 401, noStore("Content-Type", problemCT), invalidToken, false},
		{"logout", req("POST", "/v1/auth/logout"), 204, noStore(), "", true},
		{"logout with a body", req("POST", "/v1/auth/logout"), 204, noStore(), "No Content", false},
		{"logout without no-store", req("POST", "/v1/auth/logout"), 204, hdr(), "", false},
		{"logout without headers", req("POST", "/v1/auth/logout"), 204, nil, "", false},
		{"oauth error", req("POST", "/oauth/token"), 400, noStore("Content-Type", jsonCT),
			`{"error":"invalid_grant","error_description":"The refresh token is invalid, expired or revoked."}`, true},
		{"oauth error with unknown code", req("POST", "/oauth/token"), 400, noStore("Content-Type", jsonCT),
			`{"error":"invalid_client"}`, false},
		{"unknown path", req("GET", "/nope"), 404, noStore("Content-Type", problemCT), notFound, true},
		{"unknown path with a trailing slash", req("GET", "/v1/nope/"), 404, noStore("Content-Type", problemCT), notFound, true},
		{"unknown path answered 200", req("GET", "/nope"), 200, hdr("Content-Type", jsonCT), user, false},
		{"unknown path with the wrong code", req("GET", "/nope"), 404, noStore("Content-Type", problemCT), notAllowed, false},
		{"wrong method", req("PUT", "/v1/users/me"), 405, noStore("Content-Type", problemCT, "Allow", "GET, HEAD"), notAllowed, true},
		{"wrong method without Allow", req("PUT", "/v1/users/me"), 405, noStore("Content-Type", problemCT), notAllowed, false},
		{"trailing slash", req("GET", "/healthz/"), 200, hdr("Content-Type", jsonCT), `{"status":"ok"}`, true},
		{"health", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT), `{"status":"ok"}`, true},
		{"health not ok", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT), `{"status":"degraded"}`, false},
		{"user list", req("GET", "/v1/admin/users?limit=2"), 200, noStore("Content-Type", jsonCT), `{"users":[` + user + `],"next_after":null}`, true},
		{"user list without next_after", req("GET", "/v1/admin/users"), 200, noStore("Content-Type", jsonCT), `{"users":[]}`, false},
		{"metrics on the API", req("GET", "/metrics"), 200, hdr("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), "# HELP x y\n", false},
		{"metrics on the API answered 404", req("GET", "/metrics"), 404, noStore("Content-Type", problemCT), notFound, true},
		{"health without nosniff", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "X-Content-Type-Options", ""), `{"status":"ok"}`, false},
		{"health with another X-Content-Type-Options", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "X-Content-Type-Options", "sniff"), `{"status":"ok"}`, false},
		{"health without a request id", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "X-Request-ID", ""), `{"status":"ok"}`, false},
		{"health with an unsafe request id", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "X-Request-ID", "a b"), `{"status":"ok"}`, false},
		{"health with HSTS", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "Strict-Transport-Security", "max-age=31536000"), `{"status":"ok"}`, true},
		{"health with CORS", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "Vary", "Origin", "Access-Control-Allow-Origin", "https://app.example.com"), `{"status":"ok"}`, true},
		{"health with a CORS wildcard", req("GET", "/healthz"), 200, hdr("Content-Type", jsonCT, "Access-Control-Allow-Origin", "*"), `{"status":"ok"}`, false},
		{"me without no-store", req("GET", "/v1/users/me"), 200, hdr("Content-Type", jsonCT), user, false},
		{"problem without no-store", req("GET", "/nope"), 404, hdr("Content-Type", problemCT), notFound, false},
		{"preflight", req("OPTIONS", "/v1/auth/login"), 204, hdr("Allow", "OPTIONS, POST", "Access-Control-Allow-Origin", "https://app.example.com",
			"Access-Control-Allow-Methods", "POST", "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID", "Access-Control-Max-Age", "600"), "", true},
		{"plain OPTIONS", req("OPTIONS", "/v1/users/me"), 204, hdr("Allow", "GET, HEAD, OPTIONS"), "", true},
		{"OPTIONS without Allow", req("OPTIONS", "/v1/users/me"), 204, hdr(), "", false},
		{"preflight with a body", req("OPTIONS", "/v1/users/me"), 204, hdr("Allow", "GET, HEAD, OPTIONS"), "{}", false},
		{"preflight from an unknown origin", req("OPTIONS", "/v1/users/me"), 403, noStore("Allow", "GET, HEAD, OPTIONS", "Content-Type", problemCT), originNotAllowed, true},
		{"preflight refused with another code", req("OPTIONS", "/v1/users/me"), 403, noStore("Allow", "GET, HEAD, OPTIONS", "Content-Type", problemCT), notFound, false},
		{"OPTIONS on an unknown path", req("OPTIONS", "/nope"), 404, noStore("Content-Type", problemCT), notFound, true},
		{"unsupported media type", req("POST", "/v1/auth/login"), 415, noStore("Content-Type", problemCT), unsupported, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := v.Validate(c.req, c.status, c.header, []byte(c.body))
			if c.ok && err != nil {
				t.Errorf("want valid, got %v", err)
			}
			if !c.ok && err == nil {
				t.Error("want a validation error, got none")
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestOpenAPICheckFailsTheTest(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	rec := &recorder{TB: t}
	v.Check(rec, req("POST", "/v1/auth/logout"), http.StatusTeapot, nil, nil)
	if !rec.failed {
		t.Error("Check accepted an undocumented status")
	}
	rec = &recorder{TB: t}
	v.Check(rec, req("POST", "/v1/auth/logout"), http.StatusNoContent, noStore(), nil)
	if rec.failed {
		t.Error("Check refused a documented answer")
	}
}

// server is the API with no use cases: only the answers that do not reach
// the application are exercised.
type server struct{ app *fiber.App }

func newServer(ready func(context.Context) error) server {
	return server{httpapi.New(httpapi.Config{Issuer: "https://auth.example.com"}, httpapi.Deps{
		Ready: ready,
		JWKS: []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",` +
			`"kid":"k1","alg":"EdDSA","use":"sig"}]}`),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})}
}

// do answers r in memory.
func (s server) do(t *testing.T, r *http.Request) *http.Response {
	t.Helper()
	resp, err := s.app.Test(r, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return resp
}

// listen serves the API on a loopback port (app.Test cannot answer
// bodies over the limit) and returns its base URL.
func (s server) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.app.Listener(ln) }()
	t.Cleanup(func() { _ = s.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestOpenAPIServerAnswersConform checks real answers of the server that
// need no use case against the document.
func TestOpenAPIServerAnswersConform(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	ready := newServer(func(context.Context) error { return nil })
	down := newServer(func(context.Context) error { return errors.New("connection refused") })

	jsonReq := func(method, target, body string) *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", jsonCT)
		return r
	}
	formReq := func(target string, form url.Values) *http.Request {
		r := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	withHeader := func(r *http.Request, k, val string) *http.Request { r.Header.Set(k, val); return r }

	cases := []struct {
		name   string
		srv    server
		req    *http.Request
		status int
	}{
		{"healthz", ready, req("GET", "/healthz"), 200},
		{"readyz", ready, req("GET", "/readyz"), 200},
		{"readyz without a database", down, req("GET", "/readyz"), 503},
		{"no metrics on the API", ready, req("GET", "/metrics"), 404},
		{"openapi", ready, req("GET", "/openapi.json"), 200},
		{"jwks", ready, req("GET", "/.well-known/jwks.json"), 200},
		{"metadata", ready, req("GET", "/.well-known/oauth-authorization-server"), 200},
		{"unknown path", ready, req("GET", "/v2/nothing"), 404},
		{"wrong method", ready, req("DELETE", "/v1/users/me"), 405},
		{"wrong method on a parameterised path", ready, req("PUT", "/v1/admin/users/7"), 405},
		{"wrong method on oauth", ready, req("GET", "/oauth/token"), 405},
		{"register malformed", ready, jsonReq("POST", "/v1/auth/register", `{"email":`), 400},
		{"register unknown field", ready, jsonReq("POST", "/v1/auth/register", `{"email":"a@b.c","password":"x","admin":true}`), 400},
		{"register missing fields", ready, jsonReq("POST", "/v1/auth/register", `{}`), 422},
		{"register as text", ready, withHeader(jsonReq("POST", "/v1/auth/register", `{}`), "Content-Type", "text/plain"), 415},
		{"login missing password", ready, jsonReq("POST", "/v1/auth/login", `{"email":"a@b.c"}`), 422},
		{"refresh missing token", ready, jsonReq("POST", "/v1/auth/refresh", `{}`), 422},
		{"logout malformed", ready, jsonReq("POST", "/v1/auth/logout", `[]`), 400},
		{"logout-all without token", ready, req("POST", "/v1/auth/logout-all"), 401},
		{"me without token", ready, req("GET", "/v1/users/me"), 401},
		{"me with basic auth", ready, withHeader(req("GET", "/v1/users/me"), "Authorization", "Basic YTpi"), 401},
		{"password without token", ready, jsonReq("POST", "/v1/users/me/password", `{}`), 401},
		{"sessions without token", ready, req("GET", "/v1/users/me/sessions"), 401},
		{"delete session without token", ready, req("DELETE", "/v1/users/me/sessions/x"), 401},
		{"admin users without token", ready, req("GET", "/v1/admin/users?limit=0"), 401},
		{"admin user without token", ready, req("GET", "/v1/admin/users/1"), 401},
		{"admin patch without token", ready, jsonReq("PATCH", "/v1/admin/users/1", `{"role":"admin"}`), 401},
		{"admin revoke without token", ready, req("POST", "/v1/admin/users/1/sessions/revoke"), 401},
		{"admin audit without token", ready, req("GET", "/v1/admin/audit"), 401},
		{"oauth token as JSON", ready, jsonReq("POST", "/oauth/token", `{}`), 400},
		{"oauth token without grant", ready, formReq("/oauth/token", url.Values{}), 400},
		{"oauth token password grant", ready, formReq("/oauth/token", url.Values{"grant_type": {"password"}}), 400},
		{"oauth token without refresh token", ready, formReq("/oauth/token", url.Values{"grant_type": {"refresh_token"}}), 400},
		{"oauth token repeated parameter", ready, formReq("/oauth/token", url.Values{"grant_type": {"refresh_token", "refresh_token"}}), 400},
		{"oauth revoke without token", ready, formReq("/oauth/revoke", url.Values{"token_type_hint": {"refresh_token"}}), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp := c.srv.do(t, c.req)
			defer resp.Body.Close()
			body := v.CheckResponse(t, c.req, resp)
			if resp.StatusCode != c.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
			again, _ := io.ReadAll(resp.Body)
			if !bytes.Equal(again, body) {
				t.Error("CheckResponse did not restore the body")
			}
		})
	}
}

// TestOpenAPIServedDocument checks that /openapi.json serves the embedded
// document and that it lists its servers' routes (a sanity check of Routes).
func TestOpenAPIServedDocument(t *testing.T) {
	t.Parallel()
	resp := newServer(nil).do(t, req("GET", "/openapi.json"))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(body, httpapi.OpenAPIDocument) {
		t.Error("/openapi.json does not serve the embedded document")
	}
	routes := httpapi.Routes()
	if !slices.Contains(routes, [2]string{"PATCH", "/v1/admin/users/{id}"}) {
		t.Errorf("Routes() = %v, want PATCH /v1/admin/users/{id} among them", routes)
	}
}

// TestOpenAPITooLarge checks 413 answers, which only a real listener gives.
func TestOpenAPITooLarge(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	base := newServer(nil).listen(t)
	for _, c := range []struct{ path, contentType string }{
		{"/v1/auth/register", jsonCT},
		{"/v1/users/me/password", jsonCT},
		{"/oauth/token", "application/x-www-form-urlencoded"},
	} {
		r, resp := postDeclared(t, base, c.path, c.contentType, httpapi.BodyLimit+1)
		body := v.CheckResponse(t, r, resp)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s: status = %d, want 413; body %s", c.path, resp.StatusCode, body)
		}
	}
}
