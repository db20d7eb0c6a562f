package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MailpitEnvVar names the pinned Mailpit binary that make test builds
// into .data/bin; without it the tests look for that build themselves.
const MailpitEnvVar = "AUTHD_TEST_MAILPIT"

// mailpitVersion is the build the Makefile pins.
const mailpitVersion = "v1.33.1"

// mailpitBinary returns the Mailpit to run. Without one the test is skipped,
// except in CI (CI=true), where it fails: a test that needs Mailpit gets
// one in CI.
func mailpitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(MailpitEnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", MailpitEnvVar, err)
		}
		return p
	}
	// go test runs in the package directory, two levels below the root.
	if p, err := filepath.Abs(filepath.Join("..", "..", ".data", "bin", "mailpit-"+mailpitVersion)); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not set and no .data/bin/mailpit-%s (make test builds it)", MailpitEnvVar, mailpitVersion)
	}
	t.Skipf("%s not set and no .data/bin/mailpit-%s: run make test", MailpitEnvVar, mailpitVersion)
	return ""
}

// mailpit is a Mailpit process of one test, which the test may stop and
// start again on the same addresses and database.
type mailpit struct {
	bin, dir       string
	smtpAddr, http string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
}

// startMailpit starts Mailpit on free 127.0.0.1 ports with a database of
// its own, accepting any SMTP credentials over plain SMTP (as a loopback
// server may), and stops it when the test ends.
func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	m := &mailpit{bin: mailpitBinary(t), dir: t.TempDir(), smtpAddr: freeAddr(t), http: "http://" + freeAddr(t)}
	m.start(t)
	t.Cleanup(func() { m.stop(t) })
	return m
}

// SMTPURL is an AUTHD_SMTP_URL for this Mailpit, with credentials.
func (m *mailpit) SMTPURL(user, password string) string {
	return "smtp://" + url.UserPassword(user, password).String() + "@" + m.smtpAddr
}

func (m *mailpit) start(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logs = &syncBuffer{}
	m.cmd = exec.Command(m.bin,
		"--smtp", m.smtpAddr,
		"--listen", strings.TrimPrefix(m.http, "http://"),
		"--database", filepath.Join(m.dir, "mailpit.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
		"--smtp-disable-rdns", "--disable-version-check",
		"--max", "5000",
	)
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start Mailpit: %v", err)
	}
	done := make(chan struct{})
	m.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(m.cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(m.http + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("Mailpit exited before it was ready:\n%s", m.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit not ready in 20s:\n%s", m.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends Mailpit (SIGTERM) and waits for it; stopping a stopped one is
// nothing to do.
func (m *mailpit) stop(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	select {
	case <-m.done:
	default:
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	}
	m.cmd = nil
}

// mailpitMessage is a message as Mailpit's API lists it.
type mailpitMessage struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Created time.Time `json:"Created"`
}

func (m *mailpit) get(t testing.TB, path string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.http+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Mailpit GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("Mailpit GET %s: %v", path, err)
	}
}

// messagesTo returns every message Mailpit holds for address.
func (m *mailpit) messagesTo(t testing.TB, address string) []mailpitMessage {
	t.Helper()
	var page struct {
		Messages []mailpitMessage `json:"messages"`
	}
	m.get(t, "/api/v1/search?limit=5000&query="+url.QueryEscape(fmt.Sprintf("to:%q", address)), &page)
	var out []mailpitMessage
	for _, msg := range page.Messages {
		for _, to := range msg.To {
			if strings.EqualFold(to.Address, address) {
				out = append(out, msg)
				break
			}
		}
	}
	return out
}

// messagesWith returns the messages Mailpit holds for address whose
// subject is subject (a registration, for one, also mails a verification
// link).
func (m *mailpit) messagesWith(t testing.TB, address, subject string) []mailpitMessage {
	t.Helper()
	var out []mailpitMessage
	for _, msg := range m.messagesTo(t, address) {
		if msg.Subject == subject {
			out = append(out, msg)
		}
	}
	return out
}

// waitForSubject polls until Mailpit holds at least n messages with
// subject for address, or fails the test after timeout, and returns them.
func (m *mailpit) waitForSubject(t testing.TB, address, subject string, n int, timeout time.Duration) []mailpitMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := m.messagesWith(t, address, subject)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit holds %d messages %q for %s after %s, want %d", len(got), subject, address, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mailpitDetail is one message in full.
type mailpitDetail struct {
	Subject string `json:"Subject"`
	Text    string `json:"Text"`
	HTML    string `json:"HTML"`
	From    struct {
		Name    string `json:"Name"`
		Address string `json:"Address"`
	} `json:"From"`
}

func (m *mailpit) message(t testing.TB, id string) (mailpitDetail, map[string][]string) {
	t.Helper()
	var d mailpitDetail
	m.get(t, "/api/v1/message/"+url.PathEscape(id), &d)
	var h map[string][]string
	m.get(t, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return d, h
}
