package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// sessionJSON is one entry of GET /v1/users/me/sessions.
type sessionJSON struct {
	ID      string `json:"id"`
	Current bool   `json:"current"`
}

// TestAccountsEndToEnd drives the self-service and admin session routes of
// a real authd process on PostgreSQL: the session list, ending one session,
// a password change, log out everywhere, an admin's revocation of a user's
// sessions and the audit trail.
func TestAccountsEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn})
	api := s.API
	jwks := fetchJWKS(t, api, s.URL+"/.well-known/jwks.json")

	email, password := newEmail(t, "carol"), newPassword(t)
	s.forbid(password)
	carol := api.register(email, password)
	phone, laptop, tablet := api.login(email, password), api.login(email, password), api.login(email, password)
	s.forbid(phone.RefreshToken, phone.AccessToken, laptop.RefreshToken, laptop.AccessToken, tablet.RefreshToken, tablet.AccessToken)
	sid := func(tr tokenResponse) string { return verifyAccessToken(t, jwks, tr.AccessToken, s.URL).Sid }

	// The list shows the three sessions, newest first, and which one is asking.
	var list struct {
		Sessions []sessionJSON `json:"sessions"`
	}
	api.do("GET", "/v1/users/me/sessions", laptop.AccessToken, nil).want(t, http.StatusOK).decode(t, &list)
	if len(list.Sessions) != 3 || list.Sessions[0].ID != sid(tablet) || list.Sessions[2].ID != sid(phone) {
		t.Fatalf("sessions = %+v, want tablet, laptop, phone", list.Sessions)
	}
	for _, x := range list.Sessions {
		if x.Current != (x.ID == sid(laptop)) {
			t.Errorf("session %s current = %v", x.ID, x.Current)
		}
	}

	// Ending the phone's session from the laptop kills the phone's refresh token.
	api.do("DELETE", "/v1/users/me/sessions/"+sid(phone), laptop.AccessToken, nil).want(t, http.StatusNoContent)
	api.do("DELETE", "/v1/users/me/sessions/"+sid(phone), laptop.AccessToken, nil).want(t, http.StatusNotFound, "not_found")
	api.refresh(phone.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	// Its access token, unexpired, is refused at once on authd's own routes.
	refused := func(tokens ...tokenResponse) {
		t.Helper()
		for _, tr := range tokens {
			api.do("GET", "/v1/users/me", tr.AccessToken, nil).want(t, http.StatusUnauthorized, "invalid_token")
		}
	}
	refused(phone)

	// Another user cannot see or end carol's sessions.
	dave := api.login(api.register(newEmail(t, "dave"), password).Email, password)
	s.forbid(dave.RefreshToken, dave.AccessToken)
	api.do("DELETE", "/v1/users/me/sessions/"+sid(laptop), dave.AccessToken, nil).want(t, http.StatusNotFound, "not_found")

	// A password change checks the current password and the policy, then
	// ends every other session while the caller's own keeps working.
	newPass := newPassword(t)
	s.forbid(newPass)
	change := func(current, next string) *apiResponse {
		return api.do("POST", "/v1/users/me/password", laptop.AccessToken,
			map[string]string{"current_password": current, "new_password": next})
	}
	change(password+"x", newPass).want(t, http.StatusForbidden, "invalid_credentials")
	change(password, "short").want(t, http.StatusUnprocessableEntity, "validation_failed")
	change(password, newPass).want(t, http.StatusNoContent)
	api.refresh(tablet.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	refused(tablet)
	api.do("GET", "/v1/users/me", laptop.AccessToken, nil).want(t, http.StatusOK)
	laptop = api.refresh(laptop.RefreshToken).want(t, http.StatusOK).tokens(t)
	s.forbid(laptop.RefreshToken, laptop.AccessToken)
	api.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).
		want(t, http.StatusUnauthorized, "invalid_credentials")
	desk := api.login(email, newPass)
	s.forbid(desk.RefreshToken, desk.AccessToken)

	// Log out everywhere ends the laptop and the desk sessions.
	api.do("POST", "/v1/auth/logout-all", laptop.AccessToken, nil).want(t, http.StatusNoContent)
	api.refresh(laptop.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	api.refresh(desk.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	refused(laptop, desk)
	api.do("POST", "/v1/auth/logout-all", "", nil).want(t, http.StatusUnauthorized, "invalid_token")

	// An admin ends every session of a user and reads the audit trail.
	adminEmail, adminPassword := newEmail(t, "root"), newPassword(t)
	s.forbid(adminPassword)
	if _, stderr, code := runAuthd(t, append([]string{"DATABASE_URL=" + dsn}, cheapEnv...), adminPassword+"\n",
		"create-admin", "--email", adminEmail); code != 0 {
		t.Fatalf("create-admin exited %d: %s", code, stderr)
	}
	admin := api.login(adminEmail, adminPassword)
	s.forbid(admin.RefreshToken, admin.AccessToken)
	adminID, _ := strconv.ParseInt(verifyAccessToken(t, jwks, admin.AccessToken, s.URL).Sub, 10, 64)
	again, another := api.login(email, newPass), api.login(email, newPass)
	s.forbid(again.RefreshToken, again.AccessToken, another.RefreshToken, another.AccessToken)
	var revoked struct {
		Revoked int `json:"revoked"`
	}
	revoke := fmt.Sprintf("/v1/admin/users/%d/sessions/revoke", carol.ID)
	api.do("POST", revoke, again.AccessToken, nil).want(t, http.StatusForbidden, "forbidden")
	api.do("POST", revoke, admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &revoked)
	if revoked.Revoked != 2 {
		t.Errorf("revoked %d sessions, want 2", revoked.Revoked)
	}
	api.refresh(again.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	api.refresh(another.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	refused(again, another)

	var audit struct {
		Events []struct {
			Type    string `json:"type"`
			UserID  *int64 `json:"user_id"`
			ActorID *int64 `json:"actor_id"`
		} `json:"events"`
		NextAfter *int64 `json:"next_after"`
	}
	api.do("GET", fmt.Sprintf("/v1/admin/audit?user_id=%d&limit=100", carol.ID), admin.AccessToken, nil).
		want(t, http.StatusOK).decode(t, &audit)
	seen := map[string]int{}
	for _, e := range audit.Events {
		if e.UserID == nil || *e.UserID != carol.ID {
			t.Errorf("audit filtered by user %d returned %+v", carol.ID, e)
		}
		seen[e.Type]++
		if e.Type == "sessions_revoked_by_admin" && (e.ActorID == nil || *e.ActorID != adminID) {
			t.Errorf("sessions_revoked_by_admin event names actor %v, want the admin %d", e.ActorID, adminID)
		}
	}
	want := map[string]int{"user_registered": 1, "login_succeeded": 6, "login_failed": 1, "logout": 1,
		"password_changed": 1, "logout_all": 1, "sessions_revoked_by_admin": 1}
	for typ, n := range want {
		if seen[typ] != n {
			t.Errorf("audit has %d %s events, want %d (all: %v)", seen[typ], typ, n, seen)
		}
	}
	api.do("GET", "/v1/admin/audit?limit=0", admin.AccessToken, nil).want(t, http.StatusUnprocessableEntity, "validation_failed")
	api.do("GET", "/openapi.json", "", nil).want(t, http.StatusOK)
}
