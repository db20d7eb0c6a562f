package smtp_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/memory"
	"authd/adapters/smtp"
	"authd/application"
	"authd/domain"
	"authd/ports"
)

const secretLink = "https://authd.test/account/reset-password?token=Secret-One-Time-Token"

func claimed() ports.ClaimedMail {
	return ports.ClaimedMail{
		ID: 1, Lease: uuid.New(), To: "ada@example.com", Template: domain.MailResetPassword,
		Content: domain.MailContent{
			Subject: "Reset your password — authd",
			Text:    "Open " + secretLink + "\n",
			HTML:    `<p><a href="` + secretLink + `">Reset</a></p>`,
		},
		Attempt: 1, MessageID: uuid.MustParse("0b7c3d2e-8f5a-4c1e-9d6b-2a4f8e1c7b90"), QueuedAt: time.Now(),
	}
}

func mustParse(t *testing.T, raw string) smtp.Server {
	t.Helper()
	s, err := smtp.ParseURL(raw)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", raw, err)
	}
	return s
}

func newSender(t *testing.T, raw string, roots *x509.CertPool, redirect string) *smtp.Sender {
	t.Helper()
	s, err := smtp.New(smtp.Config{Server: mustParse(t, raw), From: "authd <no-reply@example.com>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if roots != nil || redirect != "" {
		smtp.WithTestNetwork(s, roots, func(ctx context.Context, network, addr string) (net.Conn, error) {
			if redirect != "" {
				addr = redirect
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		})
	}
	return s
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	good := []struct {
		raw, addr string
		loopback  bool
	}{
		{"smtp://mail.example.com", "mail.example.com:587", false},
		{"smtp://user:p%40ss@mail.example.com:2525", "mail.example.com:2525", false},
		{"smtps://user:pass@mail.example.com", "mail.example.com:465", false},
		{"smtp://127.0.0.1:1025", "127.0.0.1:1025", true},
		{"smtp://localhost:1025", "localhost:1025", true},
		{"smtp://[::1]:25", "[::1]:25", true},
		{"smtp://127.0.0.53:25/", "127.0.0.53:25", true},
	}
	for _, g := range good {
		s := mustParse(t, g.raw)
		if s.Address() != g.addr || s.Loopback() != g.loopback {
			t.Errorf("ParseURL(%q) = %s loopback=%v, want %s loopback=%v", g.raw, s.Address(), s.Loopback(), g.addr, g.loopback)
		}
	}
	for _, bad := range []string{
		"", "mail.example.com", "http://user:Smtp-Secret-1@mail.example.com", "smtp://user:Smtp-Secret-1@",
		"smtp://user:Smtp-Secret-1@mail.example.com:0", "smtp://user:Smtp-Secret-1@mail.example.com:99999",
		"smtp://user:Smtp-Secret-1@mail.example.com/path", "smtp://user:Smtp-Secret-1@mail.example.com?tls=off",
		"smtp://user:Smtp-Secret-1@[::1", "smtp:opaque",
	} {
		_, err := smtp.ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted it", bad)
			continue
		}
		if strings.Contains(err.Error(), "Smtp-Secret-1") {
			t.Errorf("ParseURL(%q): the error shows the password: %v", bad, err)
		}
	}
}

func TestNewNeedsASenderAddress(t *testing.T) {
	t.Parallel()
	for _, from := range []string{"", "not an address", "a@b, c@d"} {
		if _, err := smtp.New(smtp.Config{Server: mustParse(t, "smtp://127.0.0.1:25"), From: from}); err == nil {
			t.Errorf("New accepted the sender %q", from)
		}
	}
}

// TestSendMultipart delivers one mail to a loopback server without TLS and
// checks what it received.
func TestSendMultipart(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, nil)
	s := newSender(t, "smtp://"+srv.addr(), nil, "")
	if err := s.Send(t.Context(), claimed()); err != nil {
		t.Fatal(err)
	}
	got := srv.messages()
	if len(got) != 1 {
		t.Fatalf("the server received %d messages, want 1", len(got))
	}
	msg, err := mail.ReadMessage(strings.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	for name, want := range map[string]string{
		"From":           `"authd" <no-reply@example.com>`,
		"To":             "<ada@example.com>",
		"Message-ID":     "<0b7c3d2e-8f5a-4c1e-9d6b-2a4f8e1c7b90@example.com>",
		"Auto-Submitted": "auto-generated",
	} {
		if h.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, h.Get(name), want)
		}
	}
	if subject != "Reset your password — authd" {
		t.Errorf("Subject = %q", subject)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %q (%v), want now", h.Get("Date"), err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", h.Get("Content-Type"))
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, _ := io.ReadAll(p) // quoted-printable is decoded by the reader
		parts[ct] = string(body)
	}
	if !strings.Contains(parts["text/plain"], secretLink) || !strings.Contains(parts["text/html"], `href="`+secretLink+`"`) {
		t.Errorf("parts = %q, want the text and HTML bodies", parts)
	}
}

// TestSendFailures: each way an attempt can fail is an error, returned
// within the context's deadline, and the server received nothing.
func TestSendFailures(t *testing.T) {
	t.Parallel()
	badCert, _ := newCert(t, "127.0.0.1")
	tests := []struct {
		name      string
		configure func(*fakeServer)
		url       string // %s: the server's port
		creds     bool
		want      string
	}{
		{"5xx at MAIL FROM", func(s *fakeServer) { s.mode, s.failing = "reject-mail", 1 }, "smtp://127.0.0.1:%s", false, "554"},
		{"5xx after DATA", func(s *fakeServer) { s.mode, s.failing = "reject-data", 1 }, "smtp://127.0.0.1:%s", false, "550"},
		{"silent after connecting", func(s *fakeServer) { s.mode, s.failing = "hang-greeting", 1 }, "smtp://127.0.0.1:%s", false, "deadline"},
		{"silent after DATA", func(s *fakeServer) { s.mode, s.failing = "hang-data", 1 }, "smtp://127.0.0.1:%s", false, "deadline"},
		{"untrusted certificate on loopback", func(s *fakeServer) { s.cert = badCert }, "smtp://127.0.0.1:%s", false, "certificate"},
		{"untrusted certificate, implicit TLS", func(s *fakeServer) { s.cert, s.implicit = badCert, true }, "smtps://127.0.0.1:%s", false, "certificate"},
		{"credentials refused", func(s *fakeServer) { s.mode, s.failing = "reject-auth", 1 }, "smtp://ada:Smtp-Secret-2@127.0.0.1:%s", true, "535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tt.configure)
			s := newSender(t, strings.Replace(tt.url, "%s", srv.port(), 1), nil, "")
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, claimed())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Send took %s, want it bounded by its context", took)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Smtp-Secret-2") || strings.Contains(err.Error(), "Secret-One-Time-Token") {
				t.Errorf("the error shows a secret: %v", err)
			}
			if n := len(srv.messages()); n != 0 {
				t.Errorf("the server accepted %d messages", n)
			}
			if errors.Is(err, ports.ErrMailServerUnreachable) {
				t.Errorf("a server that answered counts as unreachable: %v", err)
			}
		})
	}
}

// TestSendToNoServer: nothing listens, so the server is unreachable (an
// outage the dispatcher waits out), not a refusal of the mail.
func TestSendToNoServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := newSender(t, "smtp://"+addr, nil, "")
	if err := s.Send(t.Context(), claimed()); !errors.Is(err, ports.ErrMailServerUnreachable) {
		t.Fatalf("Send to a closed port: %v, want ErrMailServerUnreachable", err)
	}
}

// TestTLSBeyondLoopback: towards a server that is not on this machine,
// STARTTLS is required and its certificate checked; smtps speaks TLS from
// the start. The fake server stands behind the name mail.example.test.
func TestTLSBeyondLoopback(t *testing.T) {
	t.Parallel()
	const host = "mail.example.test"
	goodCert, roots := newCert(t, host)
	badCert, _ := newCert(t, host)

	t.Run("no STARTTLS offered", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, nil)
		err := newSender(t, "smtp://"+host+":587", roots, srv.addr()).Send(t.Context(), claimed())
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || len(srv.messages()) != 0 {
			t.Fatalf("Send without STARTTLS: %v, %d delivered; want it refused", err, len(srv.messages()))
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(s *fakeServer) { s.cert = badCert })
		err := newSender(t, "smtp://"+host, roots, srv.addr()).Send(t.Context(), claimed())
		if err == nil || !strings.Contains(err.Error(), "certificate") || len(srv.messages()) != 0 {
			t.Fatalf("Send with an untrusted certificate: %v, %d delivered; want it refused", err, len(srv.messages()))
		}
	})
	t.Run("STARTTLS with credentials", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(s *fakeServer) { s.cert = goodCert })
		if err := newSender(t, "smtp://ada:pass@"+host, roots, srv.addr()).Send(t.Context(), claimed()); err != nil {
			t.Fatal(err)
		}
		if got := srv.messages(); len(got) != 1 || !got[0].tls || !got[0].authed {
			t.Fatalf("received %+v, want one message over TLS after AUTH", got)
		}
	})
	t.Run("implicit TLS with credentials", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, func(s *fakeServer) { s.cert, s.implicit = goodCert, true })
		if err := newSender(t, "smtps://ada:pass@"+host, roots, srv.addr()).Send(t.Context(), claimed()); err != nil {
			t.Fatal(err)
		}
		if got := srv.messages(); len(got) != 1 || !got[0].tls || !got[0].authed {
			t.Fatalf("received %+v, want one message over TLS after AUTH", got)
		}
	})
}

// TestFailuresAreRetriedOnce: behind the dispatcher, a server that first
// refuses with 5xx, hangs or shows a bad certificate costs logged retries,
// and the mail is delivered exactly once when the server recovers.
func TestFailuresAreRetriedOnce(t *testing.T) {
	t.Parallel()
	badCert, _ := newCert(t, "127.0.0.1")
	tests := []struct {
		name      string
		configure func(*fakeServer)
	}{
		{"5xx", func(s *fakeServer) { s.mode, s.failing = "reject-data", 2 }},
		{"hang", func(s *fakeServer) { s.mode, s.failing = "hang-data", 2 }},
		{"bad certificate", func(s *fakeServer) { s.mode, s.failing, s.cert = "bad-cert", 2, badCert }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer(t, tt.configure)
			store, clock := memory.NewStore(), memory.NewClock(time.Now())
			u, err := store.Users().Create(t.Context(), mustUser(t, clock.Now()))
			if err != nil {
				t.Fatal(err)
			}
			c := claimed().Content
			if _, err := store.Users().Update(t.Context(), u.ID(), func(u *domain.User) error {
				u.Send(domain.OutgoingMail{To: domain.MailToUser(0), Template: domain.MailResetPassword, Content: c, At: clock.Now()})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			d := application.NewMailDispatcher(store.Outbox(), newSender(t, "smtp://"+srv.addr(), nil, ""), nil, clock,
				slog.New(slog.NewTextHandler(&logs, nil)), application.DispatchOptions{SendTimeout: 300 * time.Millisecond})
			for range 10 {
				if ok, err := d.DeliverOne(t.Context()); err != nil || !ok {
					t.Fatalf("DeliverOne = %v, %v", ok, err)
				}
				if len(srv.messages()) > 0 {
					break
				}
				clock.Advance(time.Hour)
			}
			clock.Advance(time.Hour)
			if ok, _ := d.DeliverOne(t.Context()); ok {
				t.Error("the delivered mail was claimed again")
			}
			if got := srv.messages(); len(got) != 1 {
				t.Fatalf("the server received %d messages, want exactly 1", len(got))
			}
			if n := strings.Count(logs.String(), "will retry"); n != 2 {
				t.Errorf("logged %d retries, want 2:\n%s", n, logs.String())
			}
			if strings.Contains(logs.String(), "Secret-One-Time-Token") {
				t.Errorf("the logs show the one-time link:\n%s", logs.String())
			}
		})
	}
}

func mustUser(t *testing.T, now time.Time) *domain.User {
	t.Helper()
	u, err := domain.NewUser(domain.MustParseEmail("ada@example.com"), "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", now)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
