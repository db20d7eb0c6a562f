package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	pqotp "github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"authd/adapters/passkey/passkeytest"
	"authd/adapters/postgres"
)

// totpCode is what an authenticator app shows for secret (base32) at the
// time step offset steps from now's, computed with pquerna's generator.
func totpCode(t testing.TB, secret string, now time.Time, offset int) string {
	t.Helper()
	code, err := pqtotp.GenerateCodeCustom(secret, now.Add(time.Duration(offset)*30*time.Second), pqtotp.ValidateOpts{
		Period: 30, Digits: pqotp.DigitsSix, Algorithm: pqotp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// freshStep waits, if need be, for a TOTP step with at least 12 seconds
// left, and returns a time inside it, so that a sequence of codes computed
// from that time stays in one step.
func freshStep() time.Time {
	now := time.Now()
	if left := 30 - now.Unix()%30; left < 12 {
		time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond)
		now = time.Now()
	}
	return now
}

// amrClaim returns the amr claim of an access token (its signature is
// checked by the tests that verify tokens).
func amrClaim(t testing.TB, access string) string {
	t.Helper()
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return strings.Join(c.AMR, " ")
}

// passwordStep logs in with a correct password to an account with a
// second factor and returns the mfa_token.
func (c *apiClient) passwordStep(email, password string) string {
	c.t.Helper()
	var p struct {
		MFAToken string   `json:"mfa_token"`
		Methods  []string `json:"methods"`
	}
	c.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).
		want(c.t, http.StatusForbidden, "mfa_required").decode(c.t, &p)
	if p.MFAToken == "" || len(p.Methods) == 0 {
		c.t.Fatalf("mfa_required without token or methods: %+v", p)
	}
	return p.MFAToken
}

// tableText returns every row of the MFA tables as text, for checks that
// no secret is stored in clear.
func tableText(t testing.TB, dsn string) string {
	t.Helper()
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	for _, table := range []string{"mfa_enrolments", "mfa_recovery_codes", "webauthn_credentials", "pending_logins", "webauthn_challenges", "auth_events", "mail_outbox", "token_families"} {
		var rows []string
		if err := db.NewRaw("SELECT t::text FROM "+table+" AS t").Scan(context.Background(), &rows); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for _, r := range rows {
			b.WriteString(r + "\n")
		}
	}
	return b.String()
}

// TestTOTPEndToEnd enrols an authenticator app on the real server and logs
// in with codes computed from the secret: the confirming step and replays
// are refused, one step either side accepted, two refused, five wrong codes
// end the mfa_token, recovery codes work once each; and neither the secret,
// the codes nor the mfa_token is stored or logged in clear.
func TestTOTPEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn})
	api := s.API
	email, password := newEmail(t, "totp"), newPassword(t)
	s.forbid(password)
	api.register(email, password)
	first := api.login(email, password)
	if got := amrClaim(t, first.AccessToken); got != "pwd" {
		t.Errorf("a password login's amr = %q", got)
	}

	var enrol struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}
	api.do("POST", "/v1/users/me/mfa/totp", first.AccessToken, map[string]string{"current_password": "wrong " + password}).want(t, http.StatusForbidden, "invalid_credentials")
	api.do("POST", "/v1/users/me/mfa/totp", first.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusOK).decode(t, &enrol)
	key, err := pqotp.NewKeyFromURL(enrol.URI)
	if err != nil || key.Secret() != enrol.Secret || key.AccountName() != email {
		t.Fatalf("otpauth URI %q: %v", enrol.URI, err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enrol.Secret)
	s.forbid(enrol.Secret, enrol.URI)

	now := freshStep()
	// One step back is accepted at confirmation too.
	var confirmed struct {
		Codes []string `json:"recovery_codes"`
	}
	api.do("POST", "/v1/users/me/mfa/totp/confirm", first.AccessToken, map[string]string{"code": totpCode(t, enrol.Secret, now, -1)}).
		want(t, http.StatusOK).decode(t, &confirmed)
	if len(confirmed.Codes) != 10 {
		t.Fatalf("%d recovery codes", len(confirmed.Codes))
	}
	s.forbid(confirmed.Codes...)
	api.do("POST", "/v1/users/me/mfa/totp", first.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusConflict, "mfa_already_enrolled")
	var me struct {
		MFA map[string]any `json:"mfa"`
	}
	api.do("GET", "/v1/users/me", first.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if fmt.Sprint(me.MFA) != "map[passkeys:0 recovery_codes_left:10 totp:true]" {
		t.Errorf("/v1/users/me mfa = %v", me.MFA)
	}

	token := api.passwordStep(email, password)
	s.forbid(token)
	mfa := func(token string, factor map[string]string) *apiResponse {
		body := map[string]string{"mfa_token": token}
		for k, v := range factor {
			body[k] = v
		}
		return api.do("POST", "/v1/auth/mfa", "", body)
	}
	mfa(token, map[string]string{"totp_code": totpCode(t, enrol.Secret, now, 2)}).want(t, http.StatusUnauthorized, "invalid_second_factor")
	mfa(token, map[string]string{"totp_code": totpCode(t, enrol.Secret, now, -2)}).want(t, http.StatusUnauthorized, "invalid_second_factor")
	mfa(token, map[string]string{"totp_code": totpCode(t, enrol.Secret, now, -1)}).want(t, http.StatusUnauthorized, "invalid_second_factor") // the confirming code
	tokens := mfa(token, map[string]string{"totp_code": totpCode(t, enrol.Secret, now, 1)}).want(t, http.StatusOK).tokens(t)
	s.forbid(tokens.AccessToken, tokens.RefreshToken)
	if got := amrClaim(t, tokens.AccessToken); got != "pwd otp mfa" {
		t.Errorf("amr = %q, want pwd otp mfa", got)
	}
	jwks := fetchJWKS(t, api, s.URL+"/.well-known/jwks.json")
	verifyAccessToken(t, jwks, tokens.AccessToken, s.URL)
	mfa(token, map[string]string{"totp_code": totpCode(t, enrol.Secret, now, 1)}).want(t, http.StatusUnauthorized, "invalid_mfa_token")
	// Both refresh routes keep the session's amr.
	rotated := api.refresh(tokens.RefreshToken).want(t, http.StatusOK).tokens(t)
	oauth := api.do("POST", "/oauth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.RefreshToken}}).want(t, http.StatusOK).tokens(t)
	if a, b := amrClaim(t, rotated.AccessToken), amrClaim(t, oauth.AccessToken); a != "pwd otp mfa" || b != "pwd otp mfa" {
		t.Errorf("amr after refresh %q, after /oauth/token %q", a, b)
	}

	// The same code on a new login is a replay.
	token = api.passwordStep(email, password)
	s.forbid(token)
	mfa(token, map[string]string{"totp_code": totpCode(t, enrol.Secret, now, 1)}).want(t, http.StatusUnauthorized, "invalid_second_factor")
	// Malformed codes are refused without counting.
	mfa(token, map[string]string{"totp_code": "12 3456"}).want(t, http.StatusUnprocessableEntity, "validation_failed")
	mfa(token, map[string]string{"totp_code": "12345"}).want(t, http.StatusUnprocessableEntity, "validation_failed")
	// Five wrong codes in all end the token.
	for range 4 {
		mfa(token, map[string]string{"totp_code": wrongCode(t, enrol.Secret, now)}).want(t, http.StatusUnauthorized, "invalid_second_factor")
	}
	mfa(token, map[string]string{"recovery_code": confirmed.Codes[0]}).want(t, http.StatusUnauthorized, "invalid_mfa_token")

	// Recovery codes, once each.
	token = api.passwordStep(email, password)
	s.forbid(token)
	byCode := mfa(token, map[string]string{"recovery_code": strings.ToUpper(confirmed.Codes[0])}).want(t, http.StatusOK).tokens(t)
	s.forbid(byCode.AccessToken, byCode.RefreshToken)
	if got := amrClaim(t, byCode.AccessToken); got != "pwd otp mfa" {
		t.Errorf("recovery code amr = %q", got)
	}
	token = api.passwordStep(email, password)
	s.forbid(token)
	mfa(token, map[string]string{"recovery_code": confirmed.Codes[0]}).want(t, http.StatusUnauthorized, "invalid_second_factor")
	mfa(token, map[string]string{"recovery_code": confirmed.Codes[1]}).want(t, http.StatusOK)

	stored := tableText(t, dsn)
	for _, secret := range append([]string{enrol.Secret, fmt.Sprintf("%x", raw), token}, confirmed.Codes...) {
		if strings.Contains(stored, secret) || strings.Contains(stored, strings.ReplaceAll(secret, "-", "")) {
			t.Errorf("the database holds a secret in clear (%.6s…)", secret)
		}
	}
	if !strings.Contains(stored, "mfa_enrolled") || !strings.Contains(stored, "mfa_failed") || !strings.Contains(stored, "{pwd,otp,mfa}") {
		t.Error("the audit trail or the sessions' amr are missing")
	}
}

// wrongCode returns a 6-digit code that none of the steps around now accepts.
func wrongCode(t testing.TB, secret string, now time.Time) string {
	t.Helper()
	for n := 0; ; n++ {
		c := fmt.Sprintf("%06d", (n*7919)%1000000)
		ok := true
		for off := -2; off <= 2; off++ {
			ok = ok && c != totpCode(t, secret, now, off)
		}
		if ok {
			return c
		}
	}
}

// TestPasskeysEndToEnd registers a software authenticator's passkey on the
// real server and uses it as a second factor and for a passwordless
// sign-in; a counter that goes back, another origin and a replayed answer
// are refused.
func TestPasskeysEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn})
	api := s.API
	u, _ := url.Parse(s.URL)
	origin := "http://localhost:" + u.Port()
	a := passkeytest.New(origin)
	email, password := newEmail(t, "passkey"), newPassword(t)
	s.forbid(password)
	api.register(email, password)
	session := api.login(email, password)

	begin := api.do("POST", "/v1/users/me/passkeys/begin", session.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusOK)
	if !bytes.Contains(begin.Body, []byte(`"id":"localhost"`)) {
		t.Errorf("registration options name another relying party: %s", begin.Body)
	}
	// Another origin's answer is refused, and its challenge is spent.
	evil, _, _ := passkeytest.New("http://evil.localhost:"+u.Port()).Register(begin.Body, "")
	api.do("POST", "/v1/users/me/passkeys/finish", session.AccessToken, map[string]any{"credential": json.RawMessage(evil)}).want(t, http.StatusBadRequest, "invalid_webauthn_response")
	reg, _, err := passkeytest.New(origin).Register(begin.Body, "")
	if err != nil {
		t.Fatal(err)
	}
	api.do("POST", "/v1/users/me/passkeys/finish", session.AccessToken, map[string]any{"credential": json.RawMessage(reg)}).want(t, http.StatusBadRequest, "invalid_webauthn_challenge")

	begin = api.do("POST", "/v1/users/me/passkeys/begin", session.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusOK)
	reg, cred, err := a.Register(begin.Body, "")
	if err != nil {
		t.Fatal(err)
	}
	var registered struct {
		Passkey map[string]any `json:"passkey"`
		Codes   []string       `json:"recovery_codes"`
	}
	api.do("POST", "/v1/users/me/passkeys/finish", session.AccessToken, map[string]any{"name": "Test key", "credential": json.RawMessage(reg)}).
		want(t, http.StatusCreated).decode(t, &registered)
	if registered.Passkey["name"] != "Test key" || len(registered.Codes) != 10 {
		t.Fatalf("registration %+v", registered)
	}
	s.forbid(registered.Codes...)

	// Second factor.
	token := api.passwordStep(email, password)
	s.forbid(token)
	opts := api.do("POST", "/v1/auth/mfa/webauthn/begin", "", map[string]string{"mfa_token": token}).want(t, http.StatusOK)
	assertion, err := a.Assert(opts.Body, cred)
	if err != nil {
		t.Fatal(err)
	}
	tokens := api.do("POST", "/v1/auth/mfa", "", map[string]any{"mfa_token": token, "webauthn": json.RawMessage(assertion)}).want(t, http.StatusOK).tokens(t)
	s.forbid(tokens.AccessToken, tokens.RefreshToken)
	if got := amrClaim(t, tokens.AccessToken); got != "pwd hwk mfa" {
		t.Errorf("amr = %q", got)
	}

	// Passwordless; the same answer again is a replayed challenge.
	opts = api.do("POST", "/v1/auth/passkey/begin", "", nil).want(t, http.StatusOK)
	assertion, _ = a.Assert(opts.Body, nil)
	pl := api.do("POST", "/v1/auth/passkey/finish", "", map[string]any{"credential": json.RawMessage(assertion)}).want(t, http.StatusOK).tokens(t)
	s.forbid(pl.AccessToken, pl.RefreshToken)
	if got := amrClaim(t, pl.AccessToken); got != "hwk mfa" {
		t.Errorf("passwordless amr = %q", got)
	}
	api.do("POST", "/v1/auth/passkey/finish", "", map[string]any{"credential": json.RawMessage(assertion)}).want(t, http.StatusBadRequest, "invalid_webauthn_challenge")

	// A signature counter that went back: refused, audited.
	opts = api.do("POST", "/v1/auth/passkey/begin", "", nil).want(t, http.StatusOK)
	cloned, _ := a.AssertWithCounter(opts.Body, cred, 1)
	api.do("POST", "/v1/auth/passkey/finish", "", map[string]any{"credential": json.RawMessage(cloned)}).want(t, http.StatusUnauthorized, "invalid_credentials")
	if stored := tableText(t, dsn); !strings.Contains(stored, "passkey_counter_regressed") {
		t.Error("the counter regression was not audited")
	}

	var list struct {
		Passkeys []map[string]any `json:"passkeys"`
	}
	api.do("GET", "/v1/users/me/passkeys", session.AccessToken, nil).want(t, http.StatusOK).decode(t, &list)
	if len(list.Passkeys) != 1 || list.Passkeys[0]["last_used_at"] == nil {
		t.Fatalf("passkeys %+v", list.Passkeys)
	}
	id := list.Passkeys[0]["id"].(string)
	api.do("DELETE", "/v1/users/me/passkeys/"+id, session.AccessToken, nil).want(t, http.StatusUnprocessableEntity, "validation_failed")
	api.do("DELETE", "/v1/users/me/passkeys/"+id, session.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusNoContent)
	api.login(email, password)
}

// TestStartupNeedsAnEncryptionKey: a missing key file, a missing key and a
// key of the wrong size each stop start-up naming the variable.
func TestStartupNeedsAnEncryptionKey(t *testing.T) {
	t.Parallel()
	key := genKeyFile(t)
	for name, value := range map[string]string{
		"unset":        "",
		"missing file": "/nonexistent/encryption.key",
		"16 bytes":     writeFile(t, "AAAAAAAAAAAAAAAAAAAAAA==\n"),
		"not base64":   writeFile(t, "not a key\n"),
		"empty file":   writeFile(t, ""),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := startFailing(t, "DATABASE_URL=postgres://postgres@127.0.0.1:1/authd?sslmode=disable", "AUTHD_JWT_PRIVATE_KEY_FILE="+key, "HTTP_ADDR="+freeAddr(t), "AUTHD_ENCRYPTION_KEY_FILE="+value)
			if !strings.Contains(out, "AUTHD_ENCRYPTION_KEY_FILE") {
				t.Errorf("the failure does not name AUTHD_ENCRYPTION_KEY_FILE:\n%s", out)
			}
			if strings.Contains(out, "AAAAAAAAAAAAAAAA") {
				t.Errorf("the failure quotes the key:\n%s", out)
			}
		})
	}
	// gen-encryption-key appends: the file then holds two keys, and serves.
	path := writeFile(t, "")
	_ = os.Remove(path)
	for range 2 {
		if _, stderr, code := runAuthd(t, nil, "", "gen-encryption-key", "--out", path); code != 0 {
			t.Fatalf("gen-encryption-key: %s", stderr)
		}
	}
	if b, _ := os.ReadFile(path); strings.Count(string(b), "\n") != 2 {
		t.Errorf("key file after two gen-encryption-key has %d lines, want 2", strings.Count(string(b), "\n"))
	}
	startServer(t, serverOptions{DSN: migratedDatabase(t), Env: []string{"AUTHD_ENCRYPTION_KEY_FILE=" + path}})
}
