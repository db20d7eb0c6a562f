package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"authd/adapters/httpapi"
	"authd/domain"
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
	// Input normalisation: look-alikes, decomposed spellings, IDN domains.
	`{"email":"root\u200b@example.org","password":"` + strongPassword + `"}`,
	`{"email":"\u202eroot@example.org","password":"` + strongPassword + `"}`,
	`{"email":"root@exam\u2060ple.org","password":"` + strongPassword + `"}`,
	`{"email":"zoe\u0308@bu\u0308cher.example","password":"cre\u0300me bru\u0302le\u0301e 42"}`,
	`{"email":"Zoë@Bücher.Example","password":"crème brûlée 42 ok"}`,
	`{"email":"a@ｅｘａｍｐｌｅ.org","password":"` + strongPassword + `"}`,
	`{"email":"a@xn--zz.example","password":"` + strongPassword + `"}`,
	`{"email":"a@[192.0.2.1]","password":"` + strongPassword + `"}`,
	`{"email":"root\udb80\udc00@example.org","password":"` + strongPassword + `"}`,
	`{"email":"a@b.c","password":"e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301"}`,
	// The email flows' bodies: tokens of the right shape, garbage and
	// 10 KB, addresses with look-alikes, passwords.
	`{"email":"fuzz@example.com"}`,
	`{"email":"fuzz\u200b@example.com"}`,
	`{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
	`{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","new_password":"` + strongPassword + `"}`,
	`{"token":"` + string(bytes.Repeat([]byte("A"), 10<<10)) + `","new_password":"` + strongPassword + `"}`,
	`{"token":"%%%","new_password":""}`,
	`{"token":null,"new_password":null}`,
	`{"new_email":"fuzz2@example.com","current_password":"` + strongPassword + `"}`,
	`{"new_email":"\u202efuzz@example.com","current_password":1}`,
}

// fuzzBody posts body to path on f's app and checks that the answer is
// never a 5xx, conforms to the OpenAPI document, and is a problem document
// or the endpoint's success shape.
func fuzzBody(t *testing.T, f *fixture, path string, body []byte, success int) {
	fuzzBodyAs(t, f, path, "", body, success)
}

// fuzzBodyAs is fuzzBody for a Bearer route, presenting bearer as the
// access token (none when empty).
func fuzzBodyAs(t *testing.T, f *fixture, path, bearer string, body []byte, success int) {
	if len(body) > httpapi.BodyLimit {
		// Oversized bodies are answered 413 by the server before any
		// decoding; app.Test cannot carry them.
		t.Skip()
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
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

// FuzzRegisterEmailSpellings registers any email. An accepted one is stored
// in its normal form, and its NFC and NFD spellings are the same account:
// registering them again answers 409, logging in with them works.
func FuzzRegisterEmailSpellings(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "Zoë@Bücher.Example", "zoe\u0308@bu\u0308cher.example", "root\u200b@example.org",
		"用户@例子.example", "a@faß.de", "a@ｅｘａｍｐｌｅ.org", "İ@x.org", "\u0958@x.org", "a@b@c", "  A@B.C  ",
	} {
		f.Add(s)
	}
	fx := newFixtureWith(f, options{})
	f.Fuzz(func(t *testing.T, email string) {
		r := fx.do(t, "POST", "/v1/auth/register", credentials(email, strongPassword), "")
		if r.status >= 500 {
			t.Fatalf("register %+q: status %d; body %s", email, r.status, r.body)
		}
		if r.status != http.StatusCreated {
			return
		}
		var u userBody
		if err := json.Unmarshal(r.body, &u); err != nil {
			t.Fatal(err)
		}
		// What JSON carried: each byte of invalid UTF-8 arrives as U+FFFD.
		var sent string
		if b, err := json.Marshal(email); err != nil || json.Unmarshal(b, &sent) != nil {
			t.Fatalf("round trip of %+q through JSON: %v", email, err)
		}
		if want := domain.MustParseEmail(sent).String(); u.Email != want {
			t.Fatalf("register %+q stored %+q, want %+q", email, u.Email, want)
		}
		for _, spelling := range []string{norm.NFC.String(sent), norm.NFD.String(sent)} {
			if len(spelling) > 3*domain.MaxEmailBytes {
				continue
			}
			fx.do(t, "POST", "/v1/auth/register", credentials(spelling, strongPassword), "").problem(t, http.StatusConflict, "email_taken")
			fx.login(t, spelling, strongPassword)
		}
	})
}

// FuzzOAuthRevokeToken revokes any token: RFC 7009 answers 200 for
// anything it cannot use, 400 invalid_request for a missing one, never a
// 5xx; a live session survives any token but its own.
func FuzzOAuthRevokeToken(f *testing.F) {
	fx := newFixtureWith(f, options{})
	a := fx.newAccount(f, "revoke-fuzz@example.com")
	victim := fx.newAccount(f, "revoke-victim@example.com")
	for _, s := range []string{"", "garbage", "a.b.c", "Bearer x", strings.Repeat("A", 43), strings.Repeat("x", 9000),
		a.tokens.AccessToken, a.tokens.RefreshToken, a.tokens.AccessToken + "x", "\x00", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if token == victim.tokens.AccessToken || token == victim.tokens.RefreshToken {
			return
		}
		r := fx.form(t, "/oauth/revoke", url.Values{"token": {token}})
		if r.status >= 500 || (r.status != http.StatusOK && r.status != http.StatusBadRequest) {
			t.Fatalf("revoke %+q: status %d; body %s", token, r.status, r.body)
		}
		fx.do(t, "GET", "/v1/users/me", "", victim.tokens.AccessToken).wantStatus(t, http.StatusOK)
	})
}

// FuzzBearerHeader sends any Authorization header to a Bearer route: the
// answer is 200 for the live session's own token and 401 invalid_token for
// anything else, never a 5xx.
func FuzzBearerHeader(f *testing.F) {
	fx := newFixtureWith(f, options{})
	a := fx.newAccount(f, "bearer-fuzz@example.com")
	for _, s := range []string{"", "Bearer ", "Bearer " + a.tokens.AccessToken, "bearer " + a.tokens.AccessToken,
		"Bearer  " + a.tokens.AccessToken, "Basic YWRhOnB3", "Bearer a.b.c", "Bearer " + a.tokens.RefreshToken,
		"Bearer " + strings.Repeat("a", 9000), "Bearer \x00", "Bearer \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/users/me", nil)
		req.Header["Authorization"] = []string{header}
		r := fx.sendHTTP(t, req)
		switch r.status {
		case http.StatusOK:
		case http.StatusUnauthorized:
			r.problem(t, http.StatusUnauthorized, "invalid_token")
		case http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge:
			// Fiber refused a header it cannot parse before routing.
		default:
			t.Fatalf("Authorization %+q: status %d; body %s", header, r.status, r.body)
		}
	})
}

func FuzzPasswordResetDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	fx.register(f, "fuzz@example.com", strongPassword)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/password-reset", body, http.StatusAccepted)
	})
}

func FuzzPasswordResetConfirmDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	fx.register(f, "fuzz@example.com", strongPassword)
	fx.do(f, "POST", "/v1/auth/password-reset", `{"email":"fuzz@example.com"}`, "").wantStatus(f, http.StatusAccepted)
	f.Add([]byte(confirmJSON(fx.mailed(f, "fuzz@example.com", domain.MailResetPassword), otherPassword)))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/password-reset/confirm", body, http.StatusNoContent)
	})
}

func FuzzTokenDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	fx.register(f, "fuzz@example.com", strongPassword)
	f.Add([]byte(tokenJSON(fx.mailed(f, "fuzz@example.com", domain.MailVerifyEmail))))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/verify-email", body, http.StatusNoContent)
		fuzzBody(t, fx, "/v1/auth/confirm-email-change", body, http.StatusNoContent)
	})
}

// FuzzEmailChangeDecode posts any body to the caller's email change: a
// 202, or a 4xx problem, never a 5xx.
func FuzzEmailChangeDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	a := fx.newAccount(f, "fuzz@example.com")
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > httpapi.BodyLimit {
			t.Skip()
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/users/me/email", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.tokens.AccessToken)
		r := fx.sendHTTP(t, req)
		if r.status >= 500 || (r.status != http.StatusAccepted && r.status < 400) {
			t.Fatalf("POST /v1/users/me/email %q: status %d; body %s", body, r.status, r.body)
		}
	})
}

// FuzzResetPageForm posts any form to the reset page: an HTML page with a
// 2xx or 4xx status, never a 5xx.
func FuzzResetPageForm(f *testing.F) {
	fx := newFixtureWith(f, options{})
	for _, s := range []string{
		"token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&new_password=" + url.QueryEscape(strongPassword) + "&new_password_again=" + url.QueryEscape(strongPassword),
		"token=&new_password=&new_password_again=", "token=%ZZ", "token=a&token=b", "=&&==", "new_password=%00%00",
		"token=" + strings.Repeat("A", 10<<10), "\xff\xfe", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > httpapi.BodyLimit {
			t.Skip()
		}
		req := httptest.NewRequest(http.MethodPost, "/account/reset-password", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		r := fx.sendHTTP(t, req)
		if r.status >= 500 || (r.status != http.StatusOK && r.status < 400) || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("POST /account/reset-password %q: status %d (%s); body %s", body, r.status, r.header.Get("Content-Type"), r.body)
		}
	})
}
