package application_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

// The email flows' use cases on the fixture's store; the password reset
// request's deferred work runs on f.later.

func (f *fixture) deferred() *application.Deferred {
	if f.later == nil {
		f.later = application.NewDeferred(application.DefaultDeferredSlots, time.Minute, nil)
	}
	return f.later
}

func (f *fixture) requestReset() *application.RequestPasswordReset {
	return application.NewRequestPasswordReset(f.users, f.limiter, f.env, f.deferred())
}

func (f *fixture) confirmReset() *application.ConfirmPasswordReset {
	return application.NewConfirmPasswordReset(f.store.OneTimeTokens(), f.hasher, sharedCommon(), f.env)
}

func (f *fixture) verifyEmail() *application.VerifyEmail {
	return application.NewVerifyEmail(f.store.OneTimeTokens(), f.env)
}

func (f *fixture) resendVerification() *application.ResendVerification {
	return application.NewResendVerification(f.users, f.limiter, f.env)
}

func (f *fixture) requestEmailChange() *application.RequestEmailChange {
	return application.NewRequestEmailChange(f.users, f.hasher, f.limiter, f.env)
}

func (f *fixture) confirmEmailChange() *application.ConfirmEmailChange {
	return application.NewConfirmEmailChange(f.store.OneTimeTokens(), f.env)
}

func (f *fixture) sendReset() *application.SendPasswordReset {
	return application.NewSendPasswordReset(f.users, f.env)
}

// requireVerified makes the fixture's use cases require verified addresses.
func (f *fixture) requireVerified() {
	f.env = f.env.WithEmailOptions(application.EmailOptions{Links: testLinks, RequireVerified: true})
}

// reset asks for a reset link to email from client and waits for the
// deferred work.
func (f *fixture) reset(t *testing.T, email string, client domain.ClientInfo) error {
	t.Helper()
	err := f.requestReset().Do(t.Context(), application.RequestPasswordResetInput{Email: email, Client: client})
	f.settleDeferred(t)
	return err
}

// settleDeferred waits until the deferred work started so far is done.
func (f *fixture) settleDeferred(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := f.deferred().Wait(ctx); err != nil {
		t.Fatalf("deferred work: %v", err)
	}
}

var linkToken = regexp.MustCompile(`[?#]token=([A-Za-z0-9_-]{43})`)

// mailsTo returns, and takes out of the fixture's inbox, the mails to
// address with template tmpl. The inbox holds every mail claimed from the
// outbox (and marked sent, so none comes back when the clock moves on)
// that no earlier call took.
func (f *fixture) mailsTo(t *testing.T, address string, tmpl domain.MailTemplate) []ports.ClaimedMail {
	t.Helper()
	for _, m := range f.queuedMails(t) {
		if err := f.store.Outbox().MarkSent(t.Context(), m, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.inbox = append(f.inbox, m)
	}
	var out, rest []ports.ClaimedMail
	for _, m := range f.inbox {
		if m.To == address && m.Template == tmpl {
			out = append(out, m)
		} else {
			rest = append(rest, m)
		}
	}
	f.inbox = rest
	return out
}

// tokenOf returns the one-time token in a mail's link, checking that the
// text and the HTML body carry the same link.
func tokenOf(t *testing.T, m ports.ClaimedMail) string {
	t.Helper()
	text, html := linkToken.FindStringSubmatch(m.Content.Text), linkToken.FindStringSubmatch(m.Content.HTML)
	if text == nil || html == nil || text[1] != html[1] {
		t.Fatalf("mail %s to %s carries no link, or two different ones:\n%s", m.Template, m.To, m.Content.Text)
	}
	return text[1]
}

// onlyToken claims the queued mails and returns the token of the one mail
// to address with template tmpl.
func (f *fixture) onlyToken(t *testing.T, address string, tmpl domain.MailTemplate) string {
	t.Helper()
	ms := f.mailsTo(t, address, tmpl)
	if len(ms) != 1 {
		t.Fatalf("%d %s mails to %s, want 1", len(ms), tmpl, address)
	}
	return tokenOf(t, ms[0])
}

// wantInvalidToken fails the test unless err is domain.ErrInvalidOneTimeToken.
func wantInvalidToken(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrInvalidOneTimeToken) {
		t.Errorf("%s: %v, want ErrInvalidOneTimeToken", what, err)
	}
}

// lastEvent returns the user's last audit event of type typ, and whether
// there is one.
func (f *fixture) lastEvent(t *testing.T, user domain.UserID, typ domain.EventType) (domain.AuthEvent, bool) {
	t.Helper()
	var last domain.AuthEvent
	found := false
	for _, e := range f.events(t, user) {
		if e.Type == typ {
			last, found = e, true
		}
	}
	return last, found
}
