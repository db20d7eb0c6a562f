package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"authd/adapters/httpapi"
)

// fuzzSeeds are bodies every decoding fuzz target starts from: valid
// shapes, broken JSON, wrong types, huge numbers, odd Unicode and NULs.
var fuzzSeeds = []string{
	`{"email":"fuzz@example.com","password":"` + strongPassword + `"}`,
	`{"email":"FUZZ@Example.com ","password":"` + strongPassword + `"}`,
	`{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
	`{"email":"fuzz@example.com","password":"short"}`,
	`{"email":`,
	`{"email":"fuzz@example.com"`,
	`{"refresh_token":`,
	`{}`,
	`[]`,
	`null`,
	`""`,
	`0`,
	``,
	` `,
	`{}{}`,
	`{} trailing`,
	`{"email":1,"password":2}`,
	`{"email":true,"password":null}`,
	`{"refresh_token":123456789012345678901234567890}`,
	`{"email":1e999999,"password":-1e-999999}`,
	`{"email":"\u0000@example.com","password":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}`,
	`{"email":"ümlaut@bücher.example","password":"пароль-ÄÖÜ-密码-🔑🔑🔑"}`,
	`{"email":"\ud800@example.com","password":"\udfff\udfff\udfff\udfff\udfff\udfff\udfff\udfff\udfff\udfff\udfff\udfff"}`,
	"{\"email\":\"\xff\xfe@example.com\",\"password\":\"x\"}",
	`{"email":"a@b.c","password":"x","extra":{}}`,
	`{"Email":"case@example.com","PASSWORD":"` + strongPassword + `"}`,
	`{"email":"dup@example.com","email":"dup2@example.com","password":"` + strongPassword + `"}`,
	`{"refresh_token":"` + string(bytes.Repeat([]byte("A"), 4096)) + `"}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
}

// fuzzBody posts body to path on f's app and checks that the answer is
// never a 5xx, conforms to the OpenAPI document, and is a problem document
// or the endpoint's success shape.
func fuzzBody(t *testing.T, f *fixture, path string, body []byte, success int) {
	if len(body) > httpapi.BodyLimit {
		// Oversized bodies are answered 413 by the server before any
		// decoding; app.Test cannot carry them.
		t.Skip()
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	r := f.sendHTTP(t, req)
	if r.status >= 500 {
		t.Fatalf("POST %s %q: status %d; body %s", path, body, r.status, r.body)
	}
	if r.status == success {
		return
	}
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil || p.Code == "" || p.Status != r.status {
		t.Fatalf("POST %s %q: status %d with a body that is not a problem: %s", path, body, r.status, r.body)
	}
	if r.status < 400 {
		t.Fatalf("POST %s %q: unexpected status %d", path, body, r.status)
	}
}

// newFuzzFixture is a server without rate limits, so that the fuzzer's
// thousands of requests from one address are all decoded.
func newFuzzFixture(f *testing.F) *fixture {
	f.Helper()
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	return newFixtureWith(f, options{})
}

func FuzzRegisterDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/register", body, http.StatusCreated)
	})
}

func FuzzLoginDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	fx.register(f, "fuzz@example.com", strongPassword)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/login", body, http.StatusOK)
	})
}

func FuzzRefreshDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	a := fx.newAccount(f, "fuzz@example.com")
	f.Add([]byte(refreshJSON(a.tokens.RefreshToken)))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/refresh", body, http.StatusOK)
	})
}
