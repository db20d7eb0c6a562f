package httpapi_test

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"authd/adapters/keyring"
	"authd/adapters/passkey"
	"authd/adapters/passkey/passkeytest"
	"authd/adapters/totp"
	"authd/domain"
	"authd/ports"
)

// The relying party of these tests: a page on http://localhost:8080.
const testOrigin = "http://localhost:8080"

var testTOTP = totp.Codes{Issuer: "authd"}

var sharedKeyring = sync.OnceValue(func() *keyring.Ring {
	k, err := keyring.Generate(rand.Reader)
	if err != nil {
		panic(err)
	}
	r, err := keyring.Parse([]byte(k))
	if err != nil {
		panic(err)
	}
	return r
})

func testKeyring(testing.TB) *keyring.Ring { return sharedKeyring() }

func testRelyingParty(t testing.TB) *passkey.RelyingParty {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "localhost", RPName: "authd", Origins: []string{testOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// enrolTOTP enrols an authenticator app for acc and returns its secret and
// recovery codes; the confirming code is of the clock's current step.
func (f *fixture) enrolTOTP(t *testing.T, acc account) ([]byte, []string) {
	t.Helper()
	e := decode[struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}](t, f.do(t, "POST", "/v1/users/me/mfa/totp", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken), http.StatusOK)
	if !strings.HasPrefix(e.URI, "otpauth://totp/") || !strings.Contains(e.URI, e.Secret) {
		t.Fatalf("enrolment %+v", e)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	codes := decode[struct {
		Codes []string `json:"recovery_codes"`
	}](t, f.do(t, "POST", "/v1/users/me/mfa/totp/confirm", jsonBody(map[string]string{"code": f.code(t, secret, 0)}), acc.tokens.AccessToken), http.StatusOK)
	if len(codes.Codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes.Codes))
	}
	return secret, codes.Codes
}

// code is secret's TOTP code for the step offset steps from the clock's.
func (f *fixture) code(t testing.TB, secret []byte, offset int64) string {
	t.Helper()
	c, err := totp.Code(secret, domain.TOTPStep(f.clock.Now())+offset)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type mfaRequired struct {
	problemBody
	MFAToken  string   `json:"mfa_token"`
	Methods   []string `json:"methods"`
	ExpiresIn int      `json:"expires_in"`
}

// passwordStep logs in with the password and expects mfa_required.
func (f *fixture) passwordStep(t testing.TB, email string) mfaRequired {
	t.Helper()
	r := f.do(t, "POST", "/v1/auth/login", credentials(email, strongPassword), "")
	r.problem(t, http.StatusForbidden, "mfa_required")
	var p mfaRequired
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if !domain.LooksLikeMFAToken(p.MFAToken) || p.ExpiresIn != 300 || len(p.Methods) == 0 {
		t.Fatalf("mfa_required body %s", r.body)
	}
	return p
}

func (f *fixture) secondStep(t testing.TB, body map[string]any) response {
	t.Helper()
	return f.do(t, "POST", "/v1/auth/mfa", jsonBody(body), "")
}

func amrOf(t testing.TB, access string) []any {
	t.Helper()
	amr, _ := jwtClaims(t, access)["amr"].([]any)
	return amr
}

func TestTOTPLoginEndToEndInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acc := f.newAccount(t, "totp@example.com")
	if got := amrOf(t, acc.tokens.AccessToken); fmt.Sprint(got) != "[pwd]" {
		t.Errorf("a password login's amr = %v", got)
	}
	secret, codes := f.enrolTOTP(t, acc)
	me := decode[map[string]any](t, f.do(t, "GET", "/v1/users/me", "", acc.tokens.AccessToken), http.StatusOK)
	if fmt.Sprint(me["mfa"]) != "map[passkeys:0 recovery_codes_left:10 totp:true]" {
		t.Errorf("/me mfa = %v", me["mfa"])
	}
	f.do(t, "POST", "/v1/users/me/mfa/totp", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken).
		problem(t, http.StatusConflict, "mfa_already_enrolled")

	p := f.passwordStep(t, acc.email)
	if fmt.Sprint(p.Methods) != "[totp recovery_code]" {
		t.Errorf("methods = %v", p.Methods)
	}
	// The code that confirmed the enrolment is spent; the next step's works.
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 0)}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	tokens := decode[tokenBody](t, f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 1)}), http.StatusOK)
	if got := fmt.Sprint(amrOf(t, tokens.AccessToken)); got != "[pwd otp mfa]" {
		t.Errorf("amr = %s", got)
	}
	// The token is single use.
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 1)}).problem(t, http.StatusUnauthorized, "invalid_mfa_token")
	// Rotation keeps the session's amr.
	rotated := decode[tokenBody](t, f.refresh(t, tokens.RefreshToken), http.StatusOK)
	if got := fmt.Sprint(amrOf(t, rotated.AccessToken)); got != "[pwd otp mfa]" {
		t.Errorf("amr after refresh = %s", got)
	}
	f.clock.Advance(5 * time.Minute)
	p = f.passwordStep(t, acc.email)
	// A replayed code (the step just accepted) and codes two steps away fail.
	f.clock.Advance(-5 * time.Minute)
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 1)}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	f.clock.Advance(5 * time.Minute)
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 2)}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, -2)}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	decode[tokenBody](t, f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, -1)}), http.StatusOK)

	// Recovery codes work once each.
	p = f.passwordStep(t, acc.email)
	decode[tokenBody](t, f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "recovery_code": strings.ToUpper(codes[0])}), http.StatusOK)
	p = f.passwordStep(t, acc.email)
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "recovery_code": codes[0]}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	me = decode[map[string]any](t, f.do(t, "GET", "/v1/users/me", "", acc.tokens.AccessToken), http.StatusOK)
	if fmt.Sprint(me["mfa"]) != "map[passkeys:0 recovery_codes_left:9 totp:true]" {
		t.Errorf("/me mfa = %v", me["mfa"])
	}
	// Regenerating needs the password and replaces the codes.
	f.do(t, "POST", "/v1/users/me/mfa/recovery-codes", jsonBody(map[string]string{"current_password": "wrong password!"}), acc.tokens.AccessToken).
		problem(t, http.StatusForbidden, "invalid_credentials")
	fresh := decode[struct {
		Codes []string `json:"recovery_codes"`
	}](t, f.do(t, "POST", "/v1/users/me/mfa/recovery-codes", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken), http.StatusOK)
	p = f.passwordStep(t, acc.email)
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "recovery_code": codes[1]}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	other := decode[tokenBody](t, f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "recovery_code": fresh.Codes[0]}), http.StatusOK)

	// Removing TOTP needs the password; then the password is enough. The
	// removal ends every session but the caller's.
	f.do(t, "DELETE", "/v1/users/me/mfa/totp", jsonBody(map[string]string{}), acc.tokens.AccessToken).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	f.do(t, "DELETE", "/v1/users/me/mfa/totp", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken).wantStatus(t, http.StatusNoContent)
	f.do(t, "GET", "/v1/users/me", "", acc.tokens.AccessToken).wantStatus(t, http.StatusOK)
	f.refresh(t, other.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	f.do(t, "GET", "/v1/users/me", "", other.AccessToken).wantStatus(t, http.StatusUnauthorized)
	f.login(t, acc.email, strongPassword)
}

func TestMFATokenEndsAfterFiveWrongFactors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acc := f.newAccount(t, "five@example.com")
	secret, _ := f.enrolTOTP(t, acc)
	p := f.passwordStep(t, acc.email)
	wrong := "000000"
	if wrong == f.code(t, secret, 1) || wrong == f.code(t, secret, -1) {
		wrong = "111111"
	}
	for range 5 {
		f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": wrong}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	}
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 1)}).problem(t, http.StatusUnauthorized, "invalid_mfa_token")
	failed := 0
	for _, e := range f.auditEvents(t) {
		if e.Type == domain.EventMFAFailed {
			failed++
		}
	}
	if failed != 5 {
		t.Errorf("%d mfa_failed events, want 5", failed)
	}
	// An expired token is refused too.
	p = f.passwordStep(t, acc.email)
	f.clock.Advance(domain.MFATokenTTL)
	f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": f.code(t, secret, 0)}).problem(t, http.StatusUnauthorized, "invalid_mfa_token")
}

func TestMFAFailuresCountTowardTheAccountBudget(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
		p.PerAccountIP = domain.Limit{Max: 3, Window: time.Hour}
	})})
	acc := f.newAccount(t, "budget@example.com")
	f.enrolTOTP(t, acc)
	p := f.passwordStep(t, acc.email)
	for range 3 {
		f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": "000001"}).problem(t, http.StatusUnauthorized, "invalid_second_factor")
	}
	r := f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": "000002"})
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	// The password itself is refused too now: the same budget.
	f.do(t, "POST", "/v1/auth/login", credentials(acc.email, strongPassword), "").problem(t, http.StatusTooManyRequests, "rate_limited")
}

func TestMFABadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acc := f.newAccount(t, "bad@example.com")
	secret, _ := f.enrolTOTP(t, acc)
	p := f.passwordStep(t, acc.email)
	good := f.code(t, secret, 1)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"code with spaces", map[string]any{"mfa_token": p.MFAToken, "totp_code": good[:3] + " " + good[3:]}, 422, "validation_failed"},
		{"code too short", map[string]any{"mfa_token": p.MFAToken, "totp_code": good[:5]}, 422, "validation_failed"},
		{"code too long", map[string]any{"mfa_token": p.MFAToken, "totp_code": good + "0"}, 422, "validation_failed"},
		{"letters", map[string]any{"mfa_token": p.MFAToken, "totp_code": "abcdef"}, 422, "validation_failed"},
		{"two factors", map[string]any{"mfa_token": p.MFAToken, "totp_code": good, "recovery_code": "abcde-fghjk"}, 422, "validation_failed"},
		{"no factor", map[string]any{"mfa_token": p.MFAToken}, 422, "validation_failed"},
		{"no token", map[string]any{"totp_code": good}, 422, "validation_failed"},
		{"malformed token", map[string]any{"mfa_token": "nope", "totp_code": good}, 401, "invalid_mfa_token"},
		{"unknown token", map[string]any{"mfa_token": strings.Repeat("A", 43), "totp_code": good}, 401, "invalid_mfa_token"},
		{"refresh token as mfa token", map[string]any{"mfa_token": acc.tokens.RefreshToken, "totp_code": good}, 401, "invalid_mfa_token"},
		{"bad recovery code", map[string]any{"mfa_token": p.MFAToken, "recovery_code": "abc"}, 422, "validation_failed"},
		{"webauthn not an object", map[string]any{"mfa_token": p.MFAToken, "webauthn": "x"}, 422, "validation_failed"},
		{"webauthn malformed", map[string]any{"mfa_token": p.MFAToken, "webauthn": map[string]any{"id": "AAAA"}}, 400, "invalid_webauthn_response"},
		{"code as a number", map[string]any{"mfa_token": p.MFAToken, "totp_code": 123456}, 400, "malformed_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.secondStep(t, tc.body).problem(t, tc.status, tc.code)
		})
	}
	// None of them counted: the good code still works.
	decode[tokenBody](t, f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "totp_code": good}), http.StatusOK)
	f.do(t, "POST", "/v1/users/me/mfa/totp/confirm", jsonBody(map[string]string{"code": "12 34 56"}), acc.tokens.AccessToken).problem(t, 422, "validation_failed")
	f.do(t, "POST", "/v1/users/me/mfa/totp/confirm", jsonBody(map[string]string{"code": "123456"}), acc.tokens.AccessToken).problem(t, 409, "mfa_already_enrolled")
	other := f.newAccount(t, "other@example.com")
	f.do(t, "POST", "/v1/users/me/mfa/totp/confirm", jsonBody(map[string]string{"code": "123456"}), other.tokens.AccessToken).problem(t, 409, "mfa_not_enrolled")
	f.do(t, "DELETE", "/v1/users/me/mfa/totp", jsonBody(map[string]string{"current_password": strongPassword}), other.tokens.AccessToken).problem(t, 409, "mfa_not_enrolled")
	f.do(t, "POST", "/v1/users/me/mfa/recovery-codes", jsonBody(map[string]string{"current_password": strongPassword}), other.tokens.AccessToken).problem(t, 409, "mfa_not_enrolled")
	f.do(t, "POST", "/v1/auth/mfa/webauthn/begin", jsonBody(map[string]string{"mfa_token": p.MFAToken}), "").problem(t, 401, "invalid_mfa_token")
}

// registerPasskey registers a passkey of a for acc through the API.
func (f *fixture) registerPasskey(t testing.TB, acc account, a *passkeytest.Authenticator, name string) (map[string]any, *passkeytest.Credential) {
	t.Helper()
	opts := f.do(t, "POST", "/v1/users/me/passkeys/begin", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken)
	opts.wantStatus(t, http.StatusOK)
	resp, cred, err := a.Register(opts.body, "")
	if err != nil {
		t.Fatal(err)
	}
	out := decode[map[string]any](t, f.do(t, "POST", "/v1/users/me/passkeys/finish",
		jsonBody(map[string]any{"name": name, "credential": json.RawMessage(resp)}), acc.tokens.AccessToken), http.StatusCreated)
	return out, cred
}

func TestPasskeysInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acc := f.newAccount(t, "pk@example.com")
	a := passkeytest.New(testOrigin)
	out, cred := f.registerPasskey(t, acc, a, "Laptop")
	if codes, _ := out["recovery_codes"].([]any); len(codes) != 10 {
		t.Errorf("the first passkey gave %d recovery codes", len(codes))
	}
	list := decode[struct {
		Passkeys []map[string]any `json:"passkeys"`
	}](t, f.do(t, "GET", "/v1/users/me/passkeys", "", acc.tokens.AccessToken), http.StatusOK)
	if len(list.Passkeys) != 1 || list.Passkeys[0]["name"] != "Laptop" || list.Passkeys[0]["last_used_at"] != nil {
		t.Fatalf("passkeys %v", list.Passkeys)
	}
	id := list.Passkeys[0]["id"].(string)

	// Second factor.
	p := f.passwordStep(t, acc.email)
	if fmt.Sprint(p.Methods) != "[webauthn recovery_code]" {
		t.Errorf("methods %v", p.Methods)
	}
	opts := f.do(t, "POST", "/v1/auth/mfa/webauthn/begin", jsonBody(map[string]string{"mfa_token": p.MFAToken}), "")
	opts.wantStatus(t, http.StatusOK)
	assertion, err := a.Assert(opts.body, cred)
	if err != nil {
		t.Fatal(err)
	}
	tokens := decode[tokenBody](t, f.secondStep(t, map[string]any{"mfa_token": p.MFAToken, "webauthn": json.RawMessage(assertion)}), http.StatusOK)
	if got := fmt.Sprint(amrOf(t, tokens.AccessToken)); got != "[pwd hwk mfa]" {
		t.Errorf("amr %s", got)
	}

	// Passwordless, with a replayed answer refused.
	opts = f.do(t, "POST", "/v1/auth/passkey/begin", "", "")
	opts.wantStatus(t, http.StatusOK)
	assertion, _ = a.Assert(opts.body, nil)
	tokens = decode[tokenBody](t, f.do(t, "POST", "/v1/auth/passkey/finish", jsonBody(map[string]any{"credential": json.RawMessage(assertion)}), ""), http.StatusOK)
	if got := fmt.Sprint(amrOf(t, tokens.AccessToken)); got != "[hwk mfa]" {
		t.Errorf("passwordless amr %s", got)
	}
	f.do(t, "POST", "/v1/auth/passkey/finish", jsonBody(map[string]any{"credential": json.RawMessage(assertion)}), "").problem(t, 400, "invalid_webauthn_challenge")

	// A counter that goes back is refused, audited and mailed.
	opts = f.do(t, "POST", "/v1/auth/passkey/begin", "", "")
	cloned, _ := a.AssertWithCounter(opts.body, cred, 1)
	f.do(t, "POST", "/v1/auth/passkey/finish", jsonBody(map[string]any{"credential": json.RawMessage(cloned)}), "").problem(t, 401, "invalid_credentials")
	var regressed bool
	for _, e := range f.auditEvents(t) {
		regressed = regressed || e.Type == domain.EventPasskeyCounterRegressed
	}
	if !regressed {
		t.Error("the counter regression was not audited")
	}
	if ms := f.mails(t, acc.email, domain.MailPasskeyCounterRegressed); len(ms) != 1 {
		t.Errorf("%d passkey_counter_regressed mails to the owner, want 1", len(ms))
	}

	// Wrong origin at registration; renaming; the last factor needs the password.
	opts = f.do(t, "POST", "/v1/users/me/passkeys/begin", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken)
	evil, _, _ := passkeytest.New("http://evil.localhost:8080").Register(opts.body, "")
	f.do(t, "POST", "/v1/users/me/passkeys/finish", jsonBody(map[string]any{"credential": json.RawMessage(evil)}), acc.tokens.AccessToken).problem(t, 400, "invalid_webauthn_response")
	renamed := decode[map[string]any](t, f.do(t, "PATCH", "/v1/users/me/passkeys/"+id, jsonBody(map[string]string{"name": "Work"}), acc.tokens.AccessToken), http.StatusOK)
	if renamed["name"] != "Work" {
		t.Errorf("renamed %v", renamed)
	}
	f.do(t, "PATCH", "/v1/users/me/passkeys/not-a-uuid", jsonBody(map[string]string{"name": "x"}), acc.tokens.AccessToken).problem(t, 404, "not_found")
	f.do(t, "DELETE", "/v1/users/me/passkeys/"+id, "", acc.tokens.AccessToken).problem(t, 422, "validation_failed")
	f.do(t, "DELETE", "/v1/users/me/passkeys/"+id, jsonBody(map[string]string{"current_password": "not the password"}), acc.tokens.AccessToken).problem(t, 403, "invalid_credentials")
	f.do(t, "DELETE", "/v1/users/me/passkeys/"+id, jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken).wantStatus(t, http.StatusNoContent)
	f.login(t, acc.email, strongPassword)
}

func TestAdminResetsMFA(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "root@example.com")
	acc := f.newAccount(t, "lost@example.com")
	f.enrolTOTP(t, acc)
	f.do(t, "DELETE", fmt.Sprintf("/v1/admin/users/%d/mfa", acc.user.ID), "", acc.tokens.AccessToken).problem(t, 403, "forbidden")
	f.do(t, "DELETE", "/v1/admin/users/999999/mfa", "", admin.tokens.AccessToken).problem(t, 404, "not_found")
	f.do(t, "DELETE", fmt.Sprintf("/v1/admin/users/%d/mfa", acc.user.ID), "", admin.tokens.AccessToken).wantStatus(t, http.StatusNoContent)
	// The account may be in other hands: every session of it ends.
	f.do(t, "GET", "/v1/users/me", "", acc.tokens.AccessToken).wantStatus(t, http.StatusUnauthorized)
	f.refresh(t, acc.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	f.do(t, "GET", "/v1/users/me", "", admin.tokens.AccessToken).wantStatus(t, http.StatusOK)
	f.login(t, acc.email, strongPassword)
	var reset *domain.AuthEvent
	for _, e := range f.auditEvents(t) {
		if e.Type == domain.EventMFAResetByAdmin {
			reset = &e
		}
	}
	if reset == nil || reset.ActorID != domain.UserID(admin.user.ID) || reset.UserID != domain.UserID(acc.user.ID) {
		t.Errorf("reset event %+v", reset)
	}
}

func (f *fixture) auditEvents(t testing.TB) []domain.AuthEvent {
	t.Helper()
	evs, err := f.store.Audit().List(t.Context(), ports.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestPasskeyLoginBeginIsRateLimited: a passwordless sign-in stores a
// ceremony before anyone is known, so an IP may start only so many; the
// first refusal is audited as rate_limited.
func TestPasskeyLoginBeginIsRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
		p.PasskeyCeremoniesPerIP = domain.Limit{Max: 2, Window: time.Minute}
	})})
	for range 2 {
		f.do(t, "POST", "/v1/auth/passkey/begin", "", "").wantStatus(t, http.StatusOK)
	}
	r := f.do(t, "POST", "/v1/auth/passkey/begin", "", "")
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, r)
	limited := 0
	for _, e := range f.auditEvents(t) {
		if e.Type == domain.EventRateLimited {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("%d rate_limited events, want 1", limited)
	}
}
