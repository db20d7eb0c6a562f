package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"authd/domain"
)

const (
	resetPath   = "/v1/auth/password-reset"
	confirmPath = "/v1/auth/password-reset/confirm"
	verifyPath  = "/v1/auth/verify-email"
	resendPath  = "/v1/auth/verify-email/resend"
	changePath  = "/v1/users/me/email"
	confirmChg  = "/v1/auth/confirm-email-change"
)

func resetJSON(email string) string { return jsonOf(map[string]string{"email": email}) }

func tokenJSON(token string) string { return jsonOf(map[string]string{"token": token}) }

func confirmJSON(token, pw string) string {
	return jsonOf(map[string]string{"token": token, "new_password": pw})
}

// sameAnswer fails the test unless a and b have the same status, body and
// headers, X-Request-ID and Date aside.
func sameAnswer(t *testing.T, what string, a, b response) {
	t.Helper()
	if a.status != b.status || !bytes.Equal(a.body, b.body) {
		t.Errorf("%s: %d %s and %d %s differ", what, a.status, a.body, b.status, b.body)
	}
	ha, hb := a.header.Clone(), b.header.Clone()
	for _, h := range []http.Header{ha, hb} {
		h.Del("X-Request-Id")
		h.Del("Date")
	}
	if len(ha) != len(hb) {
		t.Errorf("%s: headers %v and %v differ", what, ha, hb)
	}
	for k := range ha {
		if strings.Join(ha[k], ",") != strings.Join(hb[k], ",") {
			t.Errorf("%s: header %s is %q and %q", what, k, ha[k], hb[k])
		}
	}
}

func TestPasswordResetAnswersAlikeForEveryAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "known@example.com", strongPassword)
	off := f.register(t, "off@example.com", strongPassword)
	f.setUser(t, off.ID, domain.UserChange{Active: ptr(false)})
	known := f.do(t, "POST", resetPath, resetJSON("known@example.com"), "")
	unknown := f.do(t, "POST", resetPath, resetJSON("unknown@example.com"), "")
	disabled := f.do(t, "POST", resetPath, resetJSON("off@example.com"), "")
	if known.status != http.StatusAccepted || string(known.body) != `{"status":"accepted"}` {
		t.Fatalf("reset request: %d %s, want 202 {\"status\":\"accepted\"}", known.status, known.body)
	}
	sameAnswer(t, "known and unknown", known, unknown)
	sameAnswer(t, "known and disabled", known, disabled)
	if len(f.mails(t, "known@example.com", domain.MailResetPassword)) != 1 ||
		len(f.mails(t, "off@example.com", domain.MailResetPassword)) != 0 {
		t.Error("reset mails were not queued for exactly the active account")
	}
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"no email", `{}`, http.StatusUnprocessableEntity, "validation_failed"},
		{"not an address", resetJSON("nope"), http.StatusUnprocessableEntity, "validation_failed"},
		{"a zero-width space", resetJSON("known\u200b@example.com"), http.StatusUnprocessableEntity, "validation_failed"},
		{"a bidi override", resetJSON("\u202eknown@example.com"), http.StatusUnprocessableEntity, "validation_failed"},
		{"a 10 KB address", resetJSON(strings.Repeat("a", 10<<10) + "@example.com"), http.StatusUnprocessableEntity, "validation_failed"},
		{"unknown field", `{"email":"a@example.com","x":1}`, http.StatusBadRequest, "malformed_request"},
		{"not JSON", `email=a@example.com`, http.StatusBadRequest, "malformed_request"},
	} {
		f.do(t, "POST", resetPath, c.body, "").problem(t, c.status, c.code)
	}
	f.send(t, request{method: "POST", path: resetPath, body: resetJSON("a@example.com"), contentType: "text/plain"}).
		problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
}

func TestPasswordResetPerIPLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
		p.MailRequestsPerIP = domain.Limit{Max: 2, Window: time.Hour}
		p.Registrations.Max = 1000
	})})
	for _, email := range []string{"a@example.com", "b@example.com"} {
		f.do(t, "POST", resetPath, resetJSON(email), "").wantStatus(t, http.StatusAccepted)
	}
	r := f.do(t, "POST", resetPath, resetJSON("c@example.com"), "")
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "3600" {
		t.Errorf("Retry-After = %q, want 3600", r.header.Get("Retry-After"))
	}
}

func TestPasswordResetConfirm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "rita@example.com")
	f.do(t, "POST", resetPath, resetJSON("rita@example.com"), "").wantStatus(t, http.StatusAccepted)
	token := f.mailed(t, "rita@example.com", domain.MailResetPassword)
	verification := f.mailed(t, "rita@example.com", domain.MailVerifyEmail)

	f.do(t, "POST", confirmPath, confirmJSON(token, "short"), "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
	for _, c := range []struct{ name, token string }{
		{"garbled", "%%%"},
		{"10 KB", strings.Repeat("A", 10<<10)},
		{"unknown", strings.Repeat("A", 43)},
		{"of another purpose", verification},
	} {
		f.do(t, "POST", confirmPath, confirmJSON(c.token, otherPassword), "").problem(t, http.StatusBadRequest, "invalid_or_expired_token")
	}
	f.do(t, "POST", confirmPath, `{"token":"x"}`, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
	f.do(t, "POST", confirmPath, confirmJSON(token, otherPassword), "").wantStatus(t, http.StatusNoContent)
	f.do(t, "POST", confirmPath, confirmJSON(token, strongPassword), "").problem(t, http.StatusBadRequest, "invalid_or_expired_token")
	// Every session ended; the new password works; the address is verified.
	f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	b := f.login(t, "rita@example.com", otherPassword)
	if me := decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", b.AccessToken), http.StatusOK); !me.EmailVerified {
		t.Error("email_verified is false after a reset")
	}
}

func TestVerifyEmailAndResend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "vera@example.com")
	first := f.mailed(t, "vera@example.com", domain.MailVerifyEmail)
	f.do(t, "POST", resendPath, "", "").problem(t, http.StatusUnauthorized, "invalid_token")
	r := f.do(t, "POST", resendPath, "", a.tokens.AccessToken)
	if r.status != http.StatusAccepted || string(r.body) != `{"status":"accepted"}` {
		t.Fatalf("resend: %d %s", r.status, r.body)
	}
	second := f.mailed(t, "vera@example.com", domain.MailVerifyEmail)
	f.do(t, "POST", verifyPath, tokenJSON(first), "").problem(t, http.StatusBadRequest, "invalid_or_expired_token")
	f.do(t, "POST", verifyPath, tokenJSON(second), "").wantStatus(t, http.StatusNoContent)
	if me := decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken), http.StatusOK); !me.EmailVerified {
		t.Error("email_verified is false after the verification")
	}
	f.do(t, "POST", verifyPath, tokenJSON(second), "").problem(t, http.StatusBadRequest, "invalid_or_expired_token")
	f.do(t, "POST", verifyPath, `{"token":1}`, "").problem(t, http.StatusBadRequest, "malformed_request")
}

func TestEmailChangeOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "old@example.com")
	other := f.login(t, "old@example.com", strongPassword)
	f.newAccount(t, "taken@example.com")
	change := func(newEmail, pw string) response {
		return f.do(t, "POST", changePath, jsonOf(map[string]string{"new_email": newEmail, "current_password": pw}), a.tokens.AccessToken)
	}
	change("new@example.com", otherPassword).problem(t, http.StatusForbidden, "invalid_credentials")
	change("old@example.com", strongPassword).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	change("bad address", strongPassword).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	f.do(t, "POST", changePath, `{"new_email":"x@example.com"}`, a.tokens.AccessToken).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	f.do(t, "POST", changePath, jsonOf(map[string]string{"new_email": "x@example.com", "current_password": strongPassword}), "").
		problem(t, http.StatusUnauthorized, "invalid_token")

	// A taken address is answered like a free one.
	sameAnswer(t, "taken and free addresses", change("taken@example.com", strongPassword), change("new@example.com", strongPassword))
	if n := len(f.mails(t, "taken@example.com", domain.MailEmailChangeConfirm)); n != 0 {
		t.Errorf("%d confirmation links to a taken address", n)
	}
	if n := len(f.mails(t, "old@example.com", domain.MailEmailChangeNotice)); n != 2 {
		t.Errorf("%d notices to the old address, want one per request", n)
	}
	token := f.mailed(t, "new@example.com", domain.MailEmailChangeConfirm)
	f.do(t, "POST", confirmChg, tokenJSON(token), "").wantStatus(t, http.StatusNoContent)
	f.do(t, "POST", confirmChg, tokenJSON(token), "").problem(t, http.StatusBadRequest, "invalid_or_expired_token")
	me := decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken), http.StatusOK)
	if me.Email != "new@example.com" || !me.EmailVerified {
		t.Errorf("after the change: %+v", me)
	}
	f.refresh(t, other.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	if n := len(f.mails(t, "old@example.com", domain.MailEmailChanged)); n != 1 {
		t.Errorf("%d email-changed notices to the old address, want 1", n)
	}

	// An address taken between the request and the confirmation: 409.
	change("later@example.com", strongPassword).wantStatus(t, http.StatusAccepted)
	later := f.mailed(t, "later@example.com", domain.MailEmailChangeConfirm)
	f.register(t, "later@example.com", strongPassword)
	f.do(t, "POST", confirmChg, tokenJSON(later), "").problem(t, http.StatusConflict, "email_taken")
}

func TestAdminPasswordReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.newAdmin(t, "root@example.com")
	u := f.newAccount(t, "usr@example.com")
	path := "/v1/admin/users/" + jsonOf(u.user.ID) + "/password-reset"
	f.do(t, "POST", path, "", u.tokens.AccessToken).problem(t, http.StatusForbidden, "forbidden")
	r := f.do(t, "POST", path, "", admin.tokens.AccessToken)
	if r.status != http.StatusAccepted || string(r.body) != `{"status":"accepted"}` {
		t.Fatalf("admin reset: %d %s", r.status, r.body)
	}
	token := f.mailed(t, "usr@example.com", domain.MailResetPassword)
	f.do(t, "POST", confirmPath, confirmJSON(token, otherPassword), "").wantStatus(t, http.StatusNoContent)
	f.do(t, "POST", "/v1/admin/users/999/password-reset", "", admin.tokens.AccessToken).problem(t, http.StatusNotFound, "not_found")
	f.do(t, "POST", "/v1/admin/users/abc/password-reset", "", admin.tokens.AccessToken).problem(t, http.StatusNotFound, "not_found")
}

func TestEmailRoutesAreNotFoundWithEmailOff(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, emailOff: true})
	a := f.newAccount(t, "quiet@example.com")
	for _, r := range []request{
		{method: "POST", path: resetPath, body: resetJSON("quiet@example.com")},
		{method: "POST", path: confirmPath, body: confirmJSON(strings.Repeat("A", 43), otherPassword)},
		{method: "POST", path: verifyPath, body: tokenJSON(strings.Repeat("A", 43))},
		{method: "POST", path: resendPath, bearer: a.tokens.AccessToken},
		{method: "POST", path: changePath, body: `{"new_email":"x@example.com","current_password":"y"}`, bearer: a.tokens.AccessToken},
		{method: "POST", path: confirmChg, body: tokenJSON(strings.Repeat("A", 43))},
		{method: "POST", path: "/v1/admin/users/1/password-reset", bearer: a.tokens.AccessToken},
		{method: "GET", path: "/account/reset-password?token=" + strings.Repeat("A", 43)},
		{method: "POST", path: "/account/verify-email", body: "token=x", contentType: "application/x-www-form-urlencoded"},
		{method: "GET", path: "/account/confirm-email-change"},
	} {
		f.send(t, r).problem(t, http.StatusNotFound, "not_found")
	}
	if n := len(f.mails(t, "quiet@example.com", domain.MailVerifyEmail)); n != 0 {
		t.Errorf("email off, yet %d verification mails were queued", n)
	}
}

func TestRequireVerifiedEmail(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: generousLimits, requireVerified: true})
	newcomer := f.do(t, "POST", "/v1/auth/register", credentials("neu@example.com", strongPassword), "")
	taken := f.do(t, "POST", "/v1/auth/register", credentials("NEU@example.com", otherPassword), "")
	if newcomer.status != http.StatusAccepted || string(newcomer.body) != `{"status":"verification_sent"}` {
		t.Fatalf("register: %d %s, want 202 verification_sent", newcomer.status, newcomer.body)
	}
	sameAnswer(t, "new and taken addresses", newcomer, taken)
	if n := len(f.mails(t, "neu@example.com", domain.MailRegistrationAttempt)); n != 1 {
		t.Errorf("%d registration-attempt notices to the owner, want 1", n)
	}
	f.do(t, "POST", "/v1/auth/login", credentials("neu@example.com", otherPassword), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
	f.do(t, "POST", "/v1/auth/login", credentials("neu@example.com", strongPassword), "").problem(t, http.StatusForbidden, "email_not_verified")
	f.do(t, "POST", verifyPath, tokenJSON(f.mailed(t, "neu@example.com", domain.MailVerifyEmail)), "").wantStatus(t, http.StatusNoContent)
	f.login(t, "neu@example.com", strongPassword)
	// Off, registration keeps 201 and 409.
	g := newFixture(t)
	g.register(t, "alt@example.com", strongPassword)
	g.do(t, "POST", "/v1/auth/register", credentials("alt@example.com", strongPassword), "").problem(t, http.StatusConflict, "email_taken")
}
