package httpapi_test

import (
	"context"
	"encoding/json"
	"regexp"
	"sync"
	"testing"
	"time"

	"authd/adapters/mailtemplate"
	"authd/application"
	"authd/domain"
	"authd/ports"
)

// sharedRenderer renders the embedded mail templates; built once.
var sharedRenderer = sync.OnceValue(func() *mailtemplate.Renderer {
	r, err := mailtemplate.Default()
	if err != nil {
		panic(err)
	}
	return r
})

// testLinks lead to the hosted pages of the test issuer.
func testLinks(t testing.TB) application.Links {
	t.Helper()
	l, err := application.NewLinks(testIssuer, "")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var mailedToken = regexp.MustCompile(`[?#]token=([A-Za-z0-9_-]{43})`)

// mailed returns the token of the last mail with template tmpl queued to
// address, waiting for the deferred work of reset requests first. Every
// mail it sees is marked sent, so each is returned once.
func (f *fixture) mailed(t testing.TB, address string, tmpl domain.MailTemplate) string {
	t.Helper()
	ms := f.mails(t, address, tmpl)
	if len(ms) == 0 {
		t.Fatalf("no %s mail to %s", tmpl, address)
	}
	m := mailedToken.FindStringSubmatch(ms[len(ms)-1].Content.Text)
	if m == nil {
		t.Fatalf("the %s mail to %s carries no link:\n%s", tmpl, address, ms[len(ms)-1].Content.Text)
	}
	return m[1]
}

// mails returns the mails with template tmpl queued to address since the
// last call, after the deferred work of reset requests is done.
func (f *fixture) mails(t testing.TB, address string, tmpl domain.MailTemplate) []ports.ClaimedMail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.uc.Deferred.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	claimed, err := f.store.Outbox().Claim(ctx, f.clock.Now(), time.Hour, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range claimed {
		if err := f.store.Outbox().MarkSent(ctx, m, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	f.mailbox = append(f.mailbox, claimed...)
	var out, rest []ports.ClaimedMail
	for _, m := range f.mailbox {
		if m.To == address && m.Template == tmpl {
			out = append(out, m)
		} else {
			rest = append(rest, m)
		}
	}
	f.mailbox = rest
	return out
}

// jsonOf marshals v.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
