package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"authd/adapters/postgres/pgtest"
)

// TestEndToEnd drives a real authd process through a session's whole life
// and then checks what it stored and logged.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn})
	api := s.API
	email, password := newEmail(t, "alice"), newPassword(t)
	s.forbid(password)

	u := api.register(email, password)
	if u.Email != email || u.Role != "user" || !u.IsActive || u.ID <= 0 {
		t.Fatalf("registered user = %+v", u)
	}

	var received []string // every refresh token the server handed out
	issued := func(tr tokenResponse) tokenResponse {
		received = append(received, tr.RefreshToken)
		s.forbid(tr.RefreshToken, tr.AccessToken)
		return tr
	}

	t1 := issued(api.login(email, password))
	jwks := fetchJWKS(t, api, s.URL+"/.well-known/jwks.json")
	c1 := verifyAccessToken(t, jwks, t1.AccessToken, s.URL)
	if c1.Sub != strconv.FormatInt(u.ID, 10) || c1.Role != "user" {
		t.Errorf("claims sub=%q role=%q, want %d user", c1.Sub, c1.Role, u.ID)
	}
	if t1.ExpiresIn != 900 {
		t.Errorf("expires_in = %d, want 900", t1.ExpiresIn)
	}

	var me userJSON
	api.do("GET", "/v1/users/me", t1.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if me.ID != u.ID || me.Email != email {
		t.Errorf("/v1/users/me = %+v, want %+v", me, u)
	}
	r := api.do("GET", "/v1/users/me", "not-a-token", nil).want(t, http.StatusUnauthorized, "invalid_token")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}

	// Rotation: the successor belongs to the same session.
	t2 := issued(api.refresh(t1.RefreshToken).want(t, http.StatusOK).tokens(t))
	if t2.RefreshToken == t1.RefreshToken {
		t.Fatal("refresh did not rotate the refresh token")
	}
	c2 := verifyAccessToken(t, jwks, t2.AccessToken, s.URL)
	if c2.Sid != c1.Sid || c2.Sub != c1.Sub || c2.Jti == c1.Jti {
		t.Errorf("rotated token: sid %q→%q sub %q→%q jti %q→%q", c1.Sid, c2.Sid, c1.Sub, c2.Sub, c1.Jti, c2.Jti)
	}

	// Theft detection: replaying the rotated token ends the whole family.
	api.refresh(t1.RefreshToken).want(t, http.StatusUnauthorized, "refresh_token_reused")
	api.refresh(t2.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	api.refresh("never-issued-"+randomHex(t, 16)).want(t, http.StatusUnauthorized, "invalid_refresh_token")

	// A new login is a new session; logging out ends it.
	t3 := issued(api.login(email, password))
	if c3 := verifyAccessToken(t, jwks, t3.AccessToken, s.URL); c3.Sid == c1.Sid {
		t.Error("a new login reused the old session id")
	}
	api.do("POST", "/v1/auth/logout", "", map[string]string{"refresh_token": t3.RefreshToken}).want(t, http.StatusNoContent)
	api.do("POST", "/v1/auth/logout", "", map[string]string{"refresh_token": t3.RefreshToken}).want(t, http.StatusNoContent)
	api.refresh(t3.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")

	// Storage: only digests of refresh tokens, only argon2id hashes of passwords.
	db := pgtest.Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stored []string
	if err := db.NewSelect().Table("refresh_tokens").Column("token").Scan(ctx, &stored); err != nil {
		t.Fatal(err)
	}
	digest := regexp.MustCompile(`^[0-9a-f]{64}$`)
	have := map[string]bool{}
	for _, tok := range stored {
		have[tok] = true
		if !digest.MatchString(tok) {
			t.Errorf("refresh_tokens.token %.10q… is not a SHA-256 hex digest", tok)
		}
	}
	for _, rt := range received {
		if have[rt] {
			t.Errorf("refresh_tokens holds a refresh token in plain text")
		}
		sum := sha256.Sum256([]byte(rt))
		if !have[hex.EncodeToString(sum[:])] {
			t.Errorf("refresh_tokens has no row for the digest of a token the server issued")
		}
	}
	var hashed string
	if err := db.NewSelect().Table("users").Column("hashed_password").Where("email = ?", email).Scan(ctx, &hashed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hashed, "$argon2id$") || strings.Contains(hashed, password) {
		t.Errorf("users.hashed_password = %.20q…, want an argon2id PHC string without the password", hashed)
	}

	// The logs are checked again after shutdown by the server's cleanup.
	s.checkLogs(t)
	s.waitForLog(t, "authd listening")
}

// TestAdminEndToEnd creates an admin with the real `create-admin` command
// and uses the admin API against a running server.
func TestAdminEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn})
	api := s.API

	email, password := newEmail(t, "bob"), newPassword(t)
	bob := api.register(email, password)
	bobTokens := api.login(email, password)

	adminEmail, adminPassword := newEmail(t, "root"), newPassword(t)
	s.forbid(password, password+"x", adminPassword, bobTokens.RefreshToken, bobTokens.AccessToken)
	env := append([]string{"DATABASE_URL=" + dsn}, cheapEnv...)
	stdout, stderr, code := runAuthd(t, env, adminPassword+"\n", "create-admin", "--email", adminEmail)
	if code != 0 || !strings.Contains(stdout, "created admin "+adminEmail) {
		t.Fatalf("create-admin exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, adminPassword) {
		t.Error("create-admin printed the password")
	}
	// A password the policy rejects is refused with a readable message.
	_, stderr, code = runAuthd(t, env, "short\n", "create-admin", "--email", newEmail(t, "weak"))
	if code == 0 || !strings.Contains(stderr, "create-admin") {
		t.Errorf("create-admin with a short password exited %d: %s", code, stderr)
	}

	admin := api.login(adminEmail, adminPassword)
	s.forbid(admin.RefreshToken, admin.AccessToken)
	jwks := fetchJWKS(t, api, s.URL+"/.well-known/jwks.json")
	if c := verifyAccessToken(t, jwks, admin.AccessToken, s.URL); c.Role != "admin" {
		t.Errorf("admin token role = %q", c.Role)
	}

	// A plain user is not an admin.
	api.do("GET", "/v1/admin/users", bobTokens.AccessToken, nil).want(t, http.StatusForbidden, "forbidden")

	var list struct {
		Users     []userJSON `json:"users"`
		NextAfter *int64     `json:"next_after"`
	}
	api.do("GET", "/v1/admin/users", admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &list)
	var adminID int64
	found := false
	for _, u := range list.Users {
		switch u.Email {
		case email:
			found = u.ID == bob.ID
		case adminEmail:
			adminID = u.ID
			if u.Role != "admin" || !u.IsActive {
				t.Errorf("admin listed as %+v", u)
			}
		}
	}
	if !found || adminID == 0 || len(list.Users) != 2 {
		t.Fatalf("admin user list = %+v", list)
	}
	var one userJSON
	api.do("GET", fmt.Sprintf("/v1/admin/users/%d", bob.ID), admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &one)
	if one.ID != bob.ID || one.Email != email {
		t.Errorf("GET user = %+v", one)
	}
	api.do("GET", "/v1/admin/users/999999999", admin.AccessToken, nil).want(t, http.StatusNotFound)

	// Deactivating a user ends their sessions and stops their logins.
	var patched userJSON
	api.do("PATCH", fmt.Sprintf("/v1/admin/users/%d", bob.ID), admin.AccessToken, map[string]any{"is_active": false}).
		want(t, http.StatusOK).decode(t, &patched)
	if patched.IsActive || patched.ID != bob.ID {
		t.Errorf("deactivated user = %+v", patched)
	}
	api.refresh(bobTokens.RefreshToken).want(t, http.StatusForbidden, "account_disabled")
	api.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).
		want(t, http.StatusForbidden, "account_disabled")
	api.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password + "x"}).
		want(t, http.StatusUnauthorized, "invalid_credentials")

	// The last active admin can be neither demoted nor deactivated.
	self := fmt.Sprintf("/v1/admin/users/%d", adminID)
	api.do("PATCH", self, admin.AccessToken, map[string]any{"role": "user"}).want(t, http.StatusConflict, "last_admin")
	api.do("PATCH", self, admin.AccessToken, map[string]any{"is_active": false}).want(t, http.StatusConflict, "last_admin")
	api.do("GET", self, admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &one)
	if one.Role != "admin" || !one.IsActive {
		t.Errorf("after refused changes the admin is %+v", one)
	}
}

// TestRateLimitsFromEnvironment checks that the limits configured in the
// environment reach the running server, and that switching them off is
// logged as a warning.
func TestRateLimitsFromEnvironment(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: []string{
		"AUTHD_RATE_LIMITS=on",
		"AUTHD_FAILED_LOGINS_PER_ACCOUNT_IP=3/1m",
		"AUTHD_REGISTRATIONS_PER_IP=2/1m",
	}})
	if strings.Contains(s.Logs(), "rate limits are off") {
		t.Error("rate limits are on but the start-up log says they are off")
	}
	email, password := newEmail(t, "ivan"), newPassword(t)
	s.API.register(email, password)
	s.forbid(password)
	for range 3 {
		s.API.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "wrong-" + password}).
			want(t, http.StatusUnauthorized, "invalid_credentials")
	}
	r := s.API.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).
		want(t, http.StatusTooManyRequests, "rate_limited")
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", r.Header.Get("Retry-After"))
	}
	s.API.register(newEmail(t, "judy"), newPassword(t))
	s.API.do("POST", "/v1/auth/register", "", map[string]string{"email": newEmail(t, "ken"), "password": newPassword(t)}).
		want(t, http.StatusTooManyRequests, "rate_limited")

	off := startServer(t, serverOptions{DSN: dsn})
	if !strings.Contains(off.Logs(), "rate limits are off") {
		t.Errorf("AUTHD_RATE_LIMITS=off is not logged as a warning:\n%s", off.Logs())
	}
	// Off means off, even for the counters the other server wrote, and for
	// more failures than any default allows.
	for range 12 {
		off.API.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "wrong-" + password}).
			want(t, http.StatusUnauthorized, "invalid_credentials")
	}
	off.API.login(email, password)
	for range 12 {
		off.API.register(newEmail(t, "lee"), newPassword(t))
	}
}
