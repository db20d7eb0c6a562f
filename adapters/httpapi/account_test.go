package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"authd/domain"
)

// sessionBody is one entry of the session list.
type sessionBody struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
}

// sessions lists the caller's sessions.
func (f *fixture) sessions(t testing.TB, access string) []sessionBody {
	t.Helper()
	return decode[struct {
		Sessions []sessionBody `json:"sessions"`
	}](t, f.do(t, "GET", "/v1/users/me/sessions", "", access), http.StatusOK).Sessions
}

func TestMe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "me@example.com")
	r := f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken)
	me := decode[userBody](t, r, http.StatusOK)
	if me != a.user {
		t.Errorf("me = %+v, want %+v", me, a.user)
	}
	var raw map[string]any
	_ = json.Unmarshal(r.body, &raw)
	if len(raw) != 7 || raw["mfa"] == nil || raw["email_verified"] != false {
		t.Errorf("user object has fields %v, want id, email, role, is_active, created_at, email_verified (false) and mfa", raw)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "sessions@example.com", strongPassword)
	login := func(agent string) tokenBody {
		t.Helper()
		r := f.send(t, request{method: "POST", path: "/v1/auth/login", body: credentials("sessions@example.com", strongPassword),
			header: map[string]string{"User-Agent": agent}})
		return decode[tokenBody](t, r, http.StatusOK)
	}
	first := login("first-agent/1.0")
	f.clock.Advance(time.Minute)
	second := login("second-agent/2.0")
	f.clock.Advance(time.Minute)
	third := login("third-agent/3.0")
	other := f.newAccount(t, "other@example.com")

	// Sessions are told apart by the sid of their access tokens.
	sid := func(tok tokenBody) string {
		t.Helper()
		p, err := f.issuer.Verify(tok.AccessToken, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p.SessionID.String()
	}
	ss := f.sessions(t, second.AccessToken)
	if len(ss) != 3 {
		t.Fatalf("sessions = %+v, want 3", ss)
	}
	for i, want := range []tokenBody{third, second, first} {
		if ss[i].ID != sid(want) {
			t.Errorf("sessions[%d].id = %s, want %s (newest first)", i, ss[i].ID, sid(want))
		}
		if ss[i].Current != (i == 1) {
			t.Errorf("sessions[%d].current = %v", i, ss[i].Current)
		}
		if ss[i].IP == "" || ss[i].UserAgent == "" || !ss[i].ExpiresAt.After(ss[i].CreatedAt) {
			t.Errorf("sessions[%d] = %+v: want an IP, a user agent and an end after the start", i, ss[i])
		}
	}
	if !ss[0].CreatedAt.After(ss[1].CreatedAt) || !ss[1].CreatedAt.After(ss[2].CreatedAt) {
		t.Error("sessions are not ordered newest first")
	}

	// Rotation shows as last use.
	f.clock.Advance(time.Minute)
	decode[tokenBody](t, f.refresh(t, first.RefreshToken), http.StatusOK)
	if got := f.sessions(t, second.AccessToken)[2]; !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("last_used_at = %s, want %s", got.LastUsedAt, f.clock.Now())
	}

	// Another user's session, a missing one and a non-uuid id all look the same.
	otherID := f.sessions(t, other.tokens.AccessToken)[0].ID
	for name, id := range map[string]string{
		"other user's": otherID,
		"missing":      "6f1c3c2e-5d0a-4b7e-9a51-2b8a0f3c9d11",
		"not a uuid":   "not-a-uuid",
		"sql-ish":      "1%20OR%201=1",
	} {
		t.Run(name, func(t *testing.T) {
			f.do(t, "DELETE", "/v1/users/me/sessions/"+id, "", second.AccessToken).problem(t, http.StatusNotFound, "not_found")
		})
	}
	decode[tokenBody](t, f.refresh(t, other.tokens.RefreshToken), http.StatusOK)

	// Ending the third session.
	f.do(t, "DELETE", "/v1/users/me/sessions/"+ss[0].ID, "", second.AccessToken).wantStatus(t, http.StatusNoContent)
	f.refresh(t, third.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	if got := f.sessions(t, second.AccessToken); len(got) != 2 {
		t.Errorf("sessions after DELETE = %d, want 2", len(got))
	}
	// An ended session is not found any more.
	f.do(t, "DELETE", "/v1/users/me/sessions/"+ss[0].ID, "", second.AccessToken).problem(t, http.StatusNotFound, "not_found")
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "change@example.com")
	elsewhere := f.login(t, a.email, strongPassword)
	body := func(current, next string) string {
		b, _ := json.Marshal(map[string]string{"current_password": current, "new_password": next})
		return string(b)
	}
	const newPassword = "Nw5&tG1^cX8z%eU3"

	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"wrong current password", body(otherPassword, newPassword), http.StatusForbidden, "invalid_credentials", ""},
		{"absurd current password", body(string(make([]byte, 10000)), newPassword), http.StatusForbidden, "invalid_credentials", ""},
		{"short new password", body(strongPassword, "short"), http.StatusUnprocessableEntity, "validation_failed", "new_password"},
		{"common new password", body(strongPassword, "password1234"), http.StatusUnprocessableEntity, "validation_failed", "new_password"},
		{"missing fields", `{}`, http.StatusUnprocessableEntity, "validation_failed", "current_password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := f.do(t, "POST", "/v1/users/me/password", c.body, a.tokens.AccessToken).problem(t, c.status, c.code)
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Errorf("errors = %+v, want the first about %s", p.Errors, c.field)
			}
		})
	}
	// Nothing changed so far.
	decode[tokenBody](t, f.refresh(t, elsewhere.RefreshToken), http.StatusOK)
	elsewhere = f.login(t, a.email, strongPassword)

	f.do(t, "POST", "/v1/users/me/password", body(strongPassword, newPassword), a.tokens.AccessToken).wantStatus(t, http.StatusNoContent)
	// Other sessions are ended; the caller's own keeps working.
	f.refresh(t, elsewhere.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
	f.do(t, "POST", "/v1/auth/login", credentials(a.email, strongPassword), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
	f.login(t, a.email, newPassword)
}

// TestChangePasswordRateLimited: wrong current passwords count like failed
// logins, and past the limit the route answers 429 with Retry-After.
func TestChangePasswordRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
		p.PerAccountIP = domain.Limit{Max: 3, Window: 15 * time.Minute}
	})})
	a := f.newAccount(t, "guessed@example.com")
	body := func(current string) string {
		b, _ := json.Marshal(map[string]string{"current_password": current, "new_password": "Nw5&tG1^cX8z%eU3"})
		return string(b)
	}
	for range 3 {
		f.do(t, "POST", "/v1/users/me/password", body(otherPassword), a.tokens.AccessToken).problem(t, http.StatusForbidden, "invalid_credentials")
	}
	r := f.do(t, "POST", "/v1/users/me/password", body(strongPassword), a.tokens.AccessToken)
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	if got := r.header.Get("Retry-After"); got != "900" {
		t.Errorf("Retry-After = %q, want 900", got)
	}
	// The same limit holds for logins to the account from that IP.
	f.do(t, "POST", "/v1/auth/login", credentials(a.email, strongPassword), "").problem(t, http.StatusTooManyRequests, "rate_limited")
}
