package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"authd/adapters/postgres"
)

// The email flows through the real binary, PostgreSQL and a real Mailpit:
// mails are read from Mailpit's API, links followed as a user would.

// mailLink is a link of a mail: an http(s) URL with a token parameter.
var mailLink = regexp.MustCompile(`https?://[^\s"<>]+[?#]token=([A-Za-z0-9_-]{43})`)

// mailWith waits for the n-th message (counting from 1) to address whose
// subject is subject, and returns its text.
func (m *mailpit) mailWith(t testing.TB, address, subject string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var found []mailpitMessage
		for _, msg := range m.messagesTo(t, address) {
			if msg.Subject == subject {
				found = append(found, msg)
			}
		}
		if len(found) >= n {
			// Mailpit lists the newest first.
			d, _ := m.message(t, found[len(found)-n].ID)
			return d.Text
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message %d %q to %s in Mailpit after 20s", n, subject, address)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkOf returns the link a mail's text carries and its token.
func linkOf(t testing.TB, text string) (link, token string) {
	t.Helper()
	m := mailLink.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the mail carries no link:\n%s", text)
	}
	return m[0], m[1]
}

// count returns how many messages with subject Mailpit holds for address.
func (m *mailpit) count(t testing.TB, address, subject string) int {
	t.Helper()
	n := 0
	for _, msg := range m.messagesTo(t, address) {
		if msg.Subject == subject {
			n++
		}
	}
	return n
}

// The subjects of the embedded templates.
const (
	subjectReset        = "Reset your password"
	subjectVerify       = "Confirm your email address"
	subjectChangeLink   = "Confirm your new email address"
	subjectChangeNotice = "Your email address is being changed"
	subjectChanged      = "Your email address was changed"
	subjectPassword     = "Your password was changed"
	subjectAttempt      = "Someone tried to register with your email address"
)

// tokenUsedAt returns when the token was used, or "" while it is not.
func tokenUsedAt(t testing.TB, dsn, token string) string {
	t.Helper()
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sum := sha256.Sum256([]byte(token))
	var used []string
	if err := db.NewRaw("SELECT coalesce(used_at::text, '') FROM one_time_tokens WHERE token_hash = ?", hex.EncodeToString(sum[:])).
		Scan(context.Background(), &used); err != nil || len(used) != 1 {
		t.Fatalf("read the token's row: %v (%d rows)", err, len(used))
	}
	return used[0]
}

// execSQL runs a statement on the database at dsn, as an operator would.
func execSQL(t testing.TB, dsn, query string, args ...any) {
	t.Helper()
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.NewRaw(query, args...).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordResetEndToEnd: forgot password through the real binary and
// Mailpit. The link works once, even when two confirmations race; every
// session of the user ends, its refresh tokens die; a notice follows.
func TestPasswordResetEndToEnd(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	email, password := newEmail(t, "forgot"), newPassword(t)
	s.forbid(password)
	s.API.register(email, password)
	laptop, phone := s.API.login(email, password), s.API.login(email, password)

	r := s.API.do("POST", "/v1/auth/password-reset", "", map[string]string{"email": email}).want(t, http.StatusAccepted)
	if string(r.Body) != `{"status":"accepted"}` {
		t.Errorf("body %s", r.Body)
	}
	link, token := linkOf(t, mp.mailWith(t, email, subjectReset, 1))
	s.forbid(token)
	if !strings.HasPrefix(link, s.URL+"/account/reset-password?token=") {
		t.Errorf("link %s, want the hosted page on %s", link, s.URL)
	}
	if !strings.Contains(mp.mailWith(t, email, subjectReset, 1), "30 minutes") {
		t.Error("the mail does not say how long the link works")
	}

	// Two confirmations race: exactly one wins.
	next := newPassword(t)
	s.forbid(next)
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = s.API.do("POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": next}).Status
		})
	}
	wg.Wait()
	if slices.Sort(statuses); statuses[0] != http.StatusNoContent || statuses[1] != http.StatusBadRequest {
		t.Fatalf("concurrent confirmations answered %v, want one 204 and one 400", statuses)
	}
	s.API.do("POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": newPassword(t)}).
		want(t, http.StatusBadRequest, "invalid_or_expired_token")

	// Every session ended: refresh tokens and access tokens are dead.
	for _, tr := range []tokenResponse{laptop, phone} {
		s.API.refresh(tr.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
		s.API.do("GET", "/v1/users/me", tr.AccessToken, nil).want(t, http.StatusUnauthorized, "invalid_token")
	}
	s.API.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).want(t, http.StatusUnauthorized, "invalid_credentials")
	me := s.API.login(email, next)
	var u userJSON
	s.API.do("GET", "/v1/users/me", me.AccessToken, nil).want(t, http.StatusOK).decode(t, &u)
	if !u.EmailVerified {
		t.Error("email_verified is false after a reset")
	}
	if text := mp.mailWith(t, email, subjectPassword, 1); !strings.Contains(text, "127.0.0.1") {
		t.Errorf("the password-changed notice does not say where the reset came from:\n%s", text)
	}
	if tokenUsedAt(t, dsn, token) == "" {
		t.Error("the used token is not marked used")
	}
}

// TestEmailVerificationEndToEnd: a registration mails a verification
// link; using it verifies the address; a resend mails a new link only
// while the address is unverified.
func TestEmailVerificationEndToEnd(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	email, password := newEmail(t, "verify"), newPassword(t)
	u := s.API.register(email, password)
	if u.EmailVerified {
		t.Fatal("a new account is verified")
	}
	tr := s.API.login(email, password)
	_, first := linkOf(t, mp.mailWith(t, email, subjectVerify, 1))
	s.API.do("POST", "/v1/auth/verify-email/resend", tr.AccessToken, nil).want(t, http.StatusAccepted)
	_, second := linkOf(t, mp.mailWith(t, email, subjectVerify, 2))
	s.forbid(first, second)
	s.API.do("POST", "/v1/auth/verify-email", "", map[string]string{"token": first}).want(t, http.StatusBadRequest, "invalid_or_expired_token")
	s.API.do("POST", "/v1/auth/verify-email", "", map[string]string{"token": second}).want(t, http.StatusNoContent)
	var me userJSON
	s.API.do("GET", "/v1/users/me", tr.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if !me.EmailVerified {
		t.Error("email_verified is false after the verification")
	}
	s.API.do("POST", "/v1/auth/verify-email/resend", tr.AccessToken, nil).want(t, http.StatusAccepted)
	time.Sleep(time.Second)
	if n := mp.count(t, email, subjectVerify); n != 2 {
		t.Errorf("Mailpit holds %d verification mails, want 2 (none once verified)", n)
	}
}

// TestEmailChangeEndToEnd: a change mails a link to the new address and a
// notice to the old; the link moves the account, keeps the asking session,
// ends the others, and tells the old address.
func TestEmailChangeEndToEnd(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	old, password := newEmail(t, "mover"), newPassword(t)
	s.API.register(old, password)
	asking, other := s.API.login(old, password), s.API.login(old, password)
	next := newEmail(t, "moved")
	s.API.do("POST", "/v1/users/me/email", asking.AccessToken, map[string]string{"new_email": next, "current_password": password + "x"}).
		want(t, http.StatusForbidden, "invalid_credentials")
	s.API.do("POST", "/v1/users/me/email", asking.AccessToken, map[string]string{"new_email": next, "current_password": password}).
		want(t, http.StatusAccepted)
	link, token := linkOf(t, mp.mailWith(t, next, subjectChangeLink, 1))
	s.forbid(token)
	if !strings.HasPrefix(link, s.URL+"/account/confirm-email-change?token=") {
		t.Errorf("link %s", link)
	}
	if notice := mp.mailWith(t, old, subjectChangeNotice, 1); !strings.Contains(notice, next) || mailLink.MatchString(notice) {
		t.Errorf("the notice to the old address:\n%s", notice)
	}
	s.API.do("POST", "/v1/auth/confirm-email-change", "", map[string]string{"token": token}).want(t, http.StatusNoContent)
	var me userJSON
	s.API.do("GET", "/v1/users/me", asking.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if me.Email != next || !me.EmailVerified {
		t.Errorf("after the change: %+v", me)
	}
	s.API.refresh(asking.RefreshToken).want(t, http.StatusOK)
	s.API.refresh(other.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	s.API.login(next, password)
	s.API.do("POST", "/v1/auth/login", "", map[string]string{"email": old, "password": password}).want(t, http.StatusUnauthorized, "invalid_credentials")
	if text := mp.mailWith(t, old, subjectChanged, 1); !strings.Contains(text, next) {
		t.Errorf("the email-changed notice to the old address:\n%s", text)
	}
	s.API.do("POST", "/v1/auth/confirm-email-change", "", map[string]string{"token": token}).want(t, http.StatusBadRequest, "invalid_or_expired_token")
}

// TestAdminPasswordResetEndToEnd: an admin mails a user a reset link; the
// event names the admin.
func TestAdminPasswordResetEndToEnd(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	adminEmail, adminPassword := newEmail(t, "root"), newPassword(t)
	if _, stderr, code := runAuthd(t, append([]string{"DATABASE_URL=" + dsn}, cheapEnv...), adminPassword+"\n",
		"create-admin", "--email", adminEmail); code != 0 {
		t.Fatalf("create-admin exited %d: %s", code, stderr)
	}
	admin := s.API.login(adminEmail, adminPassword)
	email, password := newEmail(t, "helped"), newPassword(t)
	u := s.API.register(email, password)
	user := s.API.login(email, password)
	path := fmt.Sprintf("/v1/admin/users/%d/password-reset", u.ID)
	s.API.do("POST", path, user.AccessToken, nil).want(t, http.StatusForbidden, "forbidden")
	s.API.do("POST", path, admin.AccessToken, nil).want(t, http.StatusAccepted)
	s.API.do("POST", "/v1/admin/users/999999/password-reset", admin.AccessToken, nil).want(t, http.StatusNotFound, "not_found")
	_, token := linkOf(t, mp.mailWith(t, email, subjectReset, 1))
	s.forbid(token)
	s.API.refresh(user.RefreshToken).want(t, http.StatusOK) // nothing changes until the link is used
	next := newPassword(t)
	s.API.do("POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": next}).want(t, http.StatusNoContent)
	s.API.login(email, next)
	var events struct {
		Events []struct {
			Type    string `json:"type"`
			ActorID *int64 `json:"actor_id"`
		} `json:"events"`
	}
	s.API.do("GET", "/v1/admin/audit?user_id="+strconv.FormatInt(u.ID, 10), admin.AccessToken, nil).want(t, http.StatusOK).decode(t, &events)
	var requested, reset bool
	for _, e := range events.Events {
		requested = requested || (e.Type == "password_reset_requested" && e.ActorID != nil)
		reset = reset || e.Type == "password_reset"
	}
	if !requested || !reset {
		t.Errorf("audit trail %+v lacks password_reset_requested with an actor, or password_reset", events.Events)
	}
}

// TestRequireVerifiedEmailEndToEnd: with AUTHD_REQUIRE_VERIFIED_EMAIL=on,
// registration answers alike for new and taken addresses (the owner of a
// taken one is mailed a notice), and an unverified account logs in only
// once it has used its link.
func TestRequireVerifiedEmailEndToEnd(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: append(mailEnv(mp), "AUTHD_REQUIRE_VERIFIED_EMAIL=on")})
	email, password := newEmail(t, "strict"), newPassword(t)
	register := func(e, pw string) *apiResponse {
		return s.API.do("POST", "/v1/auth/register", "", map[string]string{"email": e, "password": pw}).want(t, http.StatusAccepted)
	}
	fresh := register(email, password)
	taken := register(strings.ToUpper(email), newPassword(t))
	if string(fresh.Body) != `{"status":"verification_sent"}` || string(taken.Body) != string(fresh.Body) {
		t.Errorf("registration answers %s and %s", fresh.Body, taken.Body)
	}
	sameHeaders(t, fresh.Header, taken.Header)
	mp.mailWith(t, email, subjectAttempt, 1)
	s.API.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password + "x"}).want(t, http.StatusUnauthorized, "invalid_credentials")
	s.API.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).want(t, http.StatusForbidden, "email_not_verified")
	_, token := linkOf(t, mp.mailWith(t, email, subjectVerify, 1))
	s.API.do("POST", "/v1/auth/verify-email", "", map[string]string{"token": token}).want(t, http.StatusNoContent)
	s.API.login(email, password)
}

// sameHeaders fails the test unless a and b are equal but for the request
// id and the date.
func sameHeaders(t testing.TB, a, b http.Header) {
	t.Helper()
	a, b = a.Clone(), b.Clone()
	for _, h := range []http.Header{a, b} {
		h.Del("X-Request-Id")
		h.Del("Date")
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("headers differ:\n%v\n%v", a, b)
	}
}

// TestPasswordResetAnswersAreIdentical: known, unknown and disabled
// addresses get byte-identical answers from the real server: status,
// every header but the request id, and body. (Their latencies are
// compared by the reset phase of make bench, not by a timed test.)
func TestPasswordResetAnswersAreIdentical(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	known, disabled, password := newEmail(t, "known"), newEmail(t, "disabled"), newPassword(t)
	s.API.register(known, password)
	s.API.register(disabled, password)
	execSQL(t, dsn, "UPDATE users SET is_active = false WHERE email = ?", disabled)
	addresses := []string{known, newEmail(t, "unknown"), disabled}
	// The Date header has a resolution of a second: take three answers
	// given within one second.
	for attempt := 1; ; attempt++ {
		var answers []*apiResponse
		for _, a := range addresses {
			answers = append(answers, s.API.do("POST", "/v1/auth/password-reset", "", map[string]string{"email": a}).want(t, http.StatusAccepted))
		}
		if answers[0].Header.Get("Date") != answers[2].Header.Get("Date") && attempt < 5 {
			continue
		}
		for i, r := range answers[1:] {
			if string(r.Body) != string(answers[0].Body) {
				t.Errorf("%s answered %s, %s answered %s", addresses[0], answers[0].Body, addresses[i+1], r.Body)
			}
			a, b := answers[0].Header.Clone(), r.Header.Clone()
			a.Del("X-Request-Id")
			b.Del("X-Request-Id")
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("headers for %s and %s differ:\n%v\n%v", addresses[0], addresses[i+1], a, b)
			}
		}
		break
	}
	mp.mailWith(t, known, subjectReset, 1)
	time.Sleep(time.Second)
	if n := mp.count(t, disabled, subjectReset); n != 0 {
		t.Errorf("a disabled account was mailed %d reset links", n)
	}
	// Garbage is a clear 4xx, never a 5xx.
	for _, body := range []any{
		map[string]string{"email": known + "\u200b"},
		map[string]string{"email": "\u202e" + known},
		map[string]string{"email": strings.Repeat("x", 10<<10)},
		map[string]int{"email": 1},
		url.Values{"email": {known}},
	} {
		if r := s.API.do("POST", "/v1/auth/password-reset", "", body); r.Status < 400 || r.Status >= 500 {
			t.Errorf("reset with %v answered %d", body, r.Status)
		}
	}
	for _, tok := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 10<<10), "%00%00"} {
		for _, path := range []string{"/v1/auth/password-reset/confirm", "/v1/auth/verify-email", "/v1/auth/confirm-email-change"} {
			r := s.API.do("POST", path, "", map[string]string{"token": tok, "new_password": newPassword(t)})
			if path != "/v1/auth/password-reset/confirm" {
				r = s.API.do("POST", path, "", map[string]string{"token": tok})
			}
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s with token %.20q answered %d %s, want 400", path, tok, r.Status, r.Body)
			}
		}
	}
}

// TestEmailOffEndToEnd: with AUTHD_EMAIL=off the email routes are 404s.
func TestEmailOffEndToEnd(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{DSN: migratedDatabase(t)})
	s.API.do("POST", "/v1/auth/password-reset", "", map[string]string{"email": "a@example.com"}).want(t, http.StatusNotFound, "not_found")
	s.API.do("GET", "/account/reset-password?token="+strings.Repeat("A", 43), "", nil).want(t, http.StatusNotFound, "not_found")
}
