package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"authd/adapters/postgres"
)

// smtpSecret is the SMTP password the mail tests give authd; no log may show it.
const smtpSecret = "Smtp-Secret-E2E-7"

// mailEnv switches email on, towards mp, with a short poll interval.
func mailEnv(mp *mailpit) []string {
	return []string{
		"AUTHD_EMAIL=on",
		"AUTHD_SMTP_URL=" + mp.SMTPURL("authd", smtpSecret),
		"AUTHD_MAIL_FROM=authd <no-reply@example.com>",
		"AUTHD_MAIL_POLL_INTERVAL=50ms",
		"AUTHD_SMTP_TIMEOUT=5s",
	}
}

// outboxRow is what the tests read of mail_outbox.
type outboxRow struct {
	Status    string
	Attempts  int
	LastError string
	Body      string // subject, text and HTML together
}

// outbox reads the outbox rows of recipient with template, oldest first.
func outbox(t testing.TB, dsn, recipient, template string) []outboxRow {
	t.Helper()
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rows []outboxRow
	if err := db.NewRaw(`SELECT status::text AS status, attempts, last_error, subject || text_body || html_body AS body
		FROM mail_outbox WHERE recipient = ? AND template = ? ORDER BY id`, recipient, template).Scan(ctx, &rows); err != nil {
		t.Fatalf("read mail_outbox: %v", err)
	}
	return rows
}

func changePassword(t testing.TB, api *apiClient, access, current, next string) {
	t.Helper()
	api.do("POST", "/v1/users/me/password", access, map[string]string{"current_password": current, "new_password": next}).
		want(t, http.StatusNoContent)
}

// TestPasswordChangeMailsTheUser: through the real binary and a real
// Mailpit, a password change mails the user a multipart notice with the
// expected headers, and the outbox keeps no body once it is sent.
func TestPasswordChangeMailsTheUser(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	s.forbid(smtpSecret)
	email, password := newEmail(t, "mail"), newPassword(t)
	s.API.register(email, password)
	tokens := s.API.login(email, password)
	changePassword(t, s.API, tokens.AccessToken, password, newPassword(t))

	msgs := mp.waitForSubject(t, email, "Your password was changed", 1, 15*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("Mailpit holds %d messages for %s, want 1", len(msgs), email)
	}
	d, h := mp.message(t, msgs[0].ID)
	if d.Subject != "Your password was changed" || d.From.Address != "no-reply@example.com" || d.From.Name != "authd" {
		t.Errorf("subject %q from %q <%s>", d.Subject, d.From.Name, d.From.Address)
	}
	if !strings.Contains(d.Text, "password of your account was changed") || !strings.Contains(d.HTML, "<p>the password of your account was changed") {
		t.Errorf("the message lacks its text or HTML body:\ntext: %s\nhtml: %s", d.Text, d.HTML)
	}
	if got := h["Auto-Submitted"]; len(got) != 1 || got[0] != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if got := h["Message-Id"]; len(got) != 1 || !regexp.MustCompile(`^<[0-9a-f-]{36}@example\.com>$`).MatchString(got[0]) {
		t.Errorf("Message-ID = %q, want <uuid@example.com>", got)
	}
	if len(h["Date"]) != 1 {
		t.Errorf("Date = %q", h["Date"])
	}
	if ct := strings.Join(h["Content-Type"], ""); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	rows := outbox(t, dsn, email, "password_changed")
	waitUntil(t, 5*time.Second, func() bool {
		rows = outbox(t, dsn, email, "password_changed")
		return len(rows) == 1 && rows[0].Status == "sent"
	})
	if rows[0].Body != "" || rows[0].Attempts != 1 {
		t.Errorf("outbox row after sending: %+v, want no body, 1 attempt", rows[0])
	}
}

// TestMailSurvivesSMTPOutage: with Mailpit down, a password reset request
// still answers 202 at once; the mail waits in the outbox, retried with backoff, and
// arrives exactly once after Mailpit returns.
func TestMailSurvivesSMTPOutage(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	s.forbid(smtpSecret)
	email, password := newEmail(t, "outage"), newPassword(t)
	s.API.register(email, password)

	mp.stop(t)
	start := time.Now()
	s.API.do("POST", "/v1/auth/password-reset", "", map[string]string{"email": email}).want(t, http.StatusAccepted)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the reset request took %s while SMTP was down", took)
	}
	// Let a few attempts fail: 1 s, then 2 s apart.
	var rows []outboxRow
	waitUntil(t, 20*time.Second, func() bool {
		rows = outbox(t, dsn, email, "reset_password")
		return len(rows) == 1 && rows[0].Attempts >= 3
	})
	if rows[0].Status != "pending" || rows[0].LastError == "" || rows[0].Body == "" {
		t.Fatalf("outbox row during the outage: %+v, want pending with a reason and its body", rows[0])
	}
	if strings.Contains(rows[0].LastError, smtpSecret) {
		t.Errorf("the recorded reason shows the SMTP password: %s", rows[0].LastError)
	}
	outage := time.Since(start)

	mp.start(t)
	back := time.Now()
	mp.waitForSubject(t, email, subjectReset, 1, 30*time.Second)
	arrived := time.Now()
	t.Logf("SMTP down for %s (%d failed attempts); the mail arrived %s after Mailpit returned, %s after the request",
		outage.Round(time.Millisecond), rows[0].Attempts, arrived.Sub(back).Round(time.Millisecond), arrived.Sub(start).Round(time.Millisecond))
	// Exactly once: nothing more arrives while the dispatcher keeps polling.
	time.Sleep(2 * time.Second)
	if msgs := mp.messagesWith(t, email, subjectReset); len(msgs) != 1 {
		t.Fatalf("Mailpit holds %d messages for %s, want exactly 1", len(msgs), email)
	}
	rows = outbox(t, dsn, email, "reset_password")
	if len(rows) != 1 || rows[0].Status != "sent" || rows[0].Body != "" {
		t.Errorf("outbox after the outage: %+v, want one sent row without body", rows)
	}
	if n := strings.Count(s.Logs(), "mail delivery failed; will retry"); n < 2 {
		t.Errorf("logged %d retries, want one per failed attempt", n)
	}
}

// TestTwoInstancesSendEachMailOnce: two authd processes on one database
// both dispatch; every mail arrives exactly once.
func TestTwoInstancesSendEachMailOnce(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	key := genKeyFile(t)
	env := append(mailEnv(mp), "AUTHD_MAIL_POLL_INTERVAL=20ms")
	servers := []*server{
		startServer(t, serverOptions{DSN: dsn, KeyFile: key, Env: env}),
		startServer(t, serverOptions{DSN: dsn, KeyFile: key, Env: env}),
	}
	email, password := newEmail(t, "twice"), newPassword(t)
	servers[0].API.register(email, password)

	// Each round opens a session, rotates it and presents the spent token
	// again: the reuse ends the session and mails the user.
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			api := servers[i%2].API
			first := api.login(email, password)
			api.refresh(first.RefreshToken).want(t, http.StatusOK)
			servers[(i+1)%2].API.refresh(first.RefreshToken).want(t, http.StatusUnauthorized, "refresh_token_reused")
		})
	}
	wg.Wait()
	const notice = "We ended a session that may have been stolen"
	mp.waitForSubject(t, email, notice, n, 30*time.Second)
	time.Sleep(2 * time.Second)
	msgs := mp.messagesWith(t, email, notice)
	ids := map[string]int{}
	for _, m := range msgs {
		ids[m.MessageID]++
		if m.Subject != notice {
			t.Errorf("unexpected message %q", m.Subject)
		}
	}
	if len(msgs) != n || len(ids) != n {
		t.Fatalf("Mailpit holds %d messages (%d distinct Message-IDs) for %s, want %d, each once", len(msgs), len(ids), email, n)
	}
	sent := regexp.MustCompile(`"msg":"mail sent"[^\n]*"template":"refresh_token_reused"`)
	a, b := len(sent.FindAllString(servers[0].Logs(), -1)), len(sent.FindAllString(servers[1].Logs(), -1))
	t.Logf("the two instances sent %d and %d of the %d mails", a, b, n)
	if a+b != n {
		t.Errorf("the instances logged %d sends, want %d", a+b, n)
	}
}

// TestMailStartupFailures: email that cannot work stops start-up with a
// message naming the variable, never showing the SMTP password.
func TestMailStartupFailures(t *testing.T) {
	t.Parallel()
	key := genKeyFile(t)
	brokenDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(brokenDir, "layout.html.tmpl"), []byte("{{define \"layout\"}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	smtpOK := []string{"AUTHD_SMTP_URL=smtp://127.0.0.1:1", "AUTHD_MAIL_FROM=a@example.com"}
	tests := []struct {
		name  string
		env   []string
		names string
	}{
		{"prod without SMTP", []string{"AUTHD_EMAIL=on"}, "AUTHD_SMTP_URL"},
		{"bad SMTP URL", []string{"AUTHD_EMAIL=on", "AUTHD_SMTP_URL=smtp://u:" + smtpSecret + "@mail.example.com:0", "AUTHD_MAIL_FROM=a@example.com"}, "AUTHD_SMTP_URL"},
		{"SMTP without sender", []string{"AUTHD_EMAIL=on", "AUTHD_SMTP_URL=smtp://u:" + smtpSecret + "@127.0.0.1:1"}, "AUTHD_MAIL_FROM"},
		{"broken templates", append([]string{"AUTHD_EMAIL=on", "AUTHD_MAIL_TEMPLATES_DIR=" + brokenDir}, smtpOK...), "AUTHD_MAIL_TEMPLATES_DIR"},
		{"missing templates", append([]string{"AUTHD_EMAIL=on", "AUTHD_MAIL_TEMPLATES_DIR=/nonexistent/templates"}, smtpOK...), "AUTHD_MAIL_TEMPLATES_DIR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := []string{"DATABASE_URL=postgres://postgres@127.0.0.1:1/authd?sslmode=disable", "AUTHD_JWT_PRIVATE_KEY_FILE=" + key, "HTTP_ADDR=" + freeAddr(t)}
			out := startFailing(t, append(env, tc.env...)...)
			if !strings.Contains(out, tc.names) {
				t.Errorf("the failure does not name %s:\n%s", tc.names, out)
			}
			if strings.Contains(out, smtpSecret) {
				t.Errorf("the failure shows the SMTP password:\n%s", out)
			}
		})
	}
}

// waitUntil polls cond until it holds or fails the test after timeout.
func waitUntil(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !eventually(timeout, cond) {
		t.Fatalf("condition not met within %s", timeout)
	}
}

// eventually polls cond every 50 ms until it holds, and reports whether it
// did within timeout.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
