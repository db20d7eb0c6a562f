package main

import (
	"net/http"
	"testing"
	"time"
)

// TestMFANoticesThroughMailpit: enrolling TOTP, signing in with a
// recovery code and removing TOTP each mail the user, read from a real
// Mailpit; the removal ends the session the recovery code opened and keeps
// the caller's.
func TestMFANoticesThroughMailpit(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	s := startServer(t, serverOptions{DSN: migratedDatabase(t), Env: mailEnv(mp)})
	api := s.API
	email, password := newEmail(t, "mfamail"), newPassword(t)
	api.register(email, password)
	session := api.login(email, password)

	var enrol struct {
		Secret string `json:"secret"`
	}
	api.do("POST", "/v1/users/me/mfa/totp", session.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusOK).decode(t, &enrol)
	var confirmed struct {
		Codes []string `json:"recovery_codes"`
	}
	api.do("POST", "/v1/users/me/mfa/totp/confirm", session.AccessToken, map[string]string{"code": totpCode(t, enrol.Secret, time.Now(), 0)}).
		want(t, http.StatusOK).decode(t, &confirmed)
	mp.waitForSubject(t, email, "A second factor was added to your account", 1, 20*time.Second)

	token := api.passwordStep(email, password)
	recovered := api.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": token, "recovery_code": confirmed.Codes[0]}).want(t, http.StatusOK).tokens(t)
	mp.waitForSubject(t, email, "A recovery code was used to sign in", 1, 20*time.Second)

	api.do("DELETE", "/v1/users/me/mfa/totp", session.AccessToken, map[string]string{"current_password": password}).want(t, http.StatusNoContent)
	mp.waitForSubject(t, email, "A second factor was removed from your account", 1, 20*time.Second)
	api.refresh(recovered.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	api.do("GET", "/v1/users/me", session.AccessToken, nil).want(t, http.StatusOK)
}
