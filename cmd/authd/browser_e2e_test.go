package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// ChromiumEnvVar names the Chromium the browser tests drive; without it
// they look for Debian's chromium, which make test installs.
const ChromiumEnvVar = "AUTHD_TEST_CHROMIUM"

// chromiumBinary returns the Chromium to run. Without one the test is
// skipped, except in CI (CI=true), where it fails.
func chromiumBinary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv(ChromiumEnvVar), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Chromium: set %s or install Debian's chromium (make test runs .ci/deps.sh chromium)", ChromiumEnvVar)
	}
	t.Skipf("no Chromium (%s, /usr/bin/chromium): run make test", ChromiumEnvVar)
	return ""
}

// browserStarts lets one Chromium start at a time: two starting beside
// the rest of the suite on a small machine can each take longer than their
// deadline.
var browserStarts = make(chan struct{}, 1)

// newBrowser starts a headless Chromium with a profile of its own, for
// this sandbox (no sandbox, no GPU, no /dev/shm, nothing fetched in the
// background), and ends it with the test. A start that fails reports what
// Chromium printed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	output := &syncBuffer{}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumBinary(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(output),
		chromedp.WSURLReadTimeout(startDeadline),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	browserStarts <- struct{}{}
	defer func() { <-browserStarts }()
	// The first action starts the browser and ties it to its context, so
	// it gets one without a deadline; the steps get theirs (step).
	start, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	go func() {
		<-start.Done()
		if errors.Is(start.Err(), context.DeadlineExceeded) {
			cancelCtx()
		}
	}()
	began := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v after %s; it printed:\n%s", err, time.Since(began).Round(time.Millisecond), output.String())
	}
	t.Logf("Chromium started in %s", time.Since(began).Round(time.Millisecond))
	return ctx
}

// startDeadline bounds a Chromium start; stepDeadline one browser step.
const (
	startDeadline = 90 * time.Second
	stepDeadline  = 30 * time.Second
)

// step bounds one browser step.
func step(browser context.Context, t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, stepDeadline)
	t.Cleanup(cancel)
	return ctx
}

// header returns the value of a header the browser recorded.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// TestResetPasswordPageInABrowser drives the hosted reset page in headless
// Chromium with JavaScript disabled: the link read from Mailpit opens a
// form without using the token, under a strict CSP; typing a new password
// and pressing the button sets it, and the user logs in with it.
func TestResetPasswordPageInABrowser(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	dsn := migratedDatabase(t)
	s := startServer(t, serverOptions{DSN: dsn, Env: mailEnv(mp)})
	// Started last, so that it is closed first: the server's graceful stop
	// would otherwise wait for the browser's open connections.
	browser := newBrowser(t)
	email, password := newEmail(t, "browser"), newPassword(t)
	s.API.register(email, password)
	session := s.API.login(email, password)
	s.API.do("POST", "/v1/auth/password-reset", "", map[string]string{"email": email}).want(t, http.StatusAccepted)
	link, token := linkOf(t, mp.mailWith(t, email, subjectReset, 1))
	s.forbid(token)

	if _, err := chromedp.Call(step(browser, t), emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable JavaScript: %v", err)
	}
	resp, err := chromedp.Run(step(browser, t), chromedp.NavigateResponse(link))
	if err != nil {
		t.Fatalf("open the mailed link: %v", err)
	}
	html, err := chromedp.Run(step(browser, t), chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil || resp.Status != http.StatusOK || !strings.Contains(html, "<h1>Choose a new password</h1>") {
		t.Fatalf("the reset page: %d, %v\n%s", resp.Status, err, html)
	}
	if used := tokenUsedAt(t, dsn, token); used != "" {
		t.Fatalf("opening the link used the token (at %s)", used)
	}
	csp := header(resp.Headers, "Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q allows script or inline code", csp)
	}
	if rp := header(resp.Headers, "Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", rp)
	}

	next := newPassword(t)
	s.forbid(next)
	if err := chromedp.Do(step(browser, t),
		chromedp.SendKeys(chromedp.ID("new_password"), next),
		chromedp.SendKeys(chromedp.ID("new_password_again"), next),
	); err != nil {
		t.Fatalf("type the new password: %v", err)
	}
	done, err := chromedp.RunResponse(step(browser, t), chromedp.Click(chromedp.CSS("button[type=submit]")))
	if err != nil {
		t.Fatalf("submit the form: %v", err)
	}
	html, err = chromedp.Run(step(browser, t), chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil || done.Status != http.StatusOK || !strings.Contains(html, "<h1>Your password was changed</h1>") {
		t.Fatalf("after submitting: %d, %v\n%s", done.Status, err, html)
	}
	if tokenUsedAt(t, dsn, token) == "" {
		t.Error("the form post did not use the token")
	}
	s.API.refresh(session.RefreshToken).want(t, http.StatusUnauthorized, "invalid_refresh_token")
	s.API.login(email, next)
}
