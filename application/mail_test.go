package application_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/mailtemplate"
	"authd/adapters/memory"
	"authd/application"
	"authd/domain"
	"authd/ports"
)

var sharedRenderer = sync.OnceValue(func() *mailtemplate.Renderer {
	r, err := mailtemplate.Default()
	if err != nil {
		panic(err)
	}
	return r
})

// queuedMails claims every mail of the fixture's store that is due by the
// fixture's clock (so each is then leased for a minute).
func (f *fixture) queuedMails(t *testing.T) []ports.ClaimedMail {
	t.Helper()
	got, err := f.store.Outbox().Claim(t.Context(), f.clock.Now(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// notices claims the queued mails as queuedMails does and returns those
// that are not verification links (which every registration queues).
func (f *fixture) notices(t *testing.T) []ports.ClaimedMail {
	t.Helper()
	var out []ports.ClaimedMail
	for _, m := range f.queuedMails(t) {
		if m.Template != domain.MailVerifyEmail {
			out = append(out, m)
		}
	}
	return out
}

func TestChangePasswordMailsTheUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "mia@example.com", goodPassword)
	tp := f.mustLogin(t, "mia@example.com", goodPassword, domain.ClientInfo{})
	client := domain.NewClientInfo("Firefox/140", "203.0.113.5")
	if err := f.changePassword().Do(t.Context(), f.principal(t, tp), application.ChangePasswordInput{
		CurrentPassword: goodPassword, NewPassword: otherPassword, Client: client,
	}); err != nil {
		t.Fatal(err)
	}
	mails := f.notices(t)
	if len(mails) != 1 {
		t.Fatalf("queued %d notices, want 1", len(mails))
	}
	m := mails[0]
	if m.To != u.Email().String() || m.Template != domain.MailPasswordChanged {
		t.Errorf("mail to %s (%s), want %s to %s", m.To, m.Template, domain.MailPasswordChanged, u.Email())
	}
	if !strings.Contains(m.Content.Text, "203.0.113.5") || !strings.Contains(m.Content.HTML, "203.0.113.5") {
		t.Errorf("the notice does not say where the change came from:\n%s", m.Content.Text)
	}

	// A refused change (wrong current password) mails nothing.
	if err := f.changePassword().Do(t.Context(), f.principal(t, tp), application.ChangePasswordInput{
		CurrentPassword: "wrong password entirely", NewPassword: goodPassword,
	}); !errors.Is(err, application.ErrWrongCurrentPassword) {
		t.Fatalf("change with a wrong password: %v", err)
	}
	f.clock.Advance(2 * time.Minute)
	if n, _ := f.store.Outbox().Pending(t.Context()); n != 2 {
		t.Errorf("%d mails pending, want only the verification link and the first notice", n)
	}
}

func TestRefreshReuseMailsTheUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "noa@example.com", goodPassword)
	first := f.mustLogin(t, "noa@example.com", goodPassword, domain.ClientInfo{})
	f.mustRefresh(t, first.RefreshToken)
	if got := f.notices(t); len(got) != 0 {
		t.Fatalf("a rotation queued %d mails", len(got))
	}
	thief := domain.NewClientInfo("curl/8", "198.51.100.66")
	if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: first.RefreshToken, Client: thief}); !errors.Is(err, domain.ErrRefreshTokenReused) {
		t.Fatalf("reuse: %v", err)
	}
	// Presenting it once more finds the session ended: no second notice.
	_, _ = f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: first.RefreshToken, Client: thief})
	mails := f.queuedMails(t)
	if len(mails) != 1 || mails[0].To != u.Email().String() || mails[0].Template != domain.MailRefreshTokenReused {
		t.Fatalf("queued %+v, want one reuse notice to %s", mails, u.Email())
	}
	if !strings.Contains(mails[0].Content.Text, "198.51.100.66") {
		t.Errorf("the notice does not name the client that presented the token:\n%s", mails[0].Content.Text)
	}
}

func TestCreateAdminMailsAnExistingUserWhosePasswordItSets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustCreateAdmin(t, "root@example.com")
	if got := f.queuedMails(t); len(got) != 0 {
		t.Fatalf("creating a new admin queued %d mails", len(got))
	}
	u := f.mustRegister(t, "ops@example.com", goodPassword)
	f.mustCreateAdmin(t, "ops@example.com")
	mails := f.notices(t)
	if len(mails) != 1 || mails[0].To != u.Email().String() || mails[0].Template != domain.MailPasswordChanged {
		t.Fatalf("queued %+v, want one password notice to %s", mails, u.Email())
	}
}

func TestNoMailWithoutRenderer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.env = application.NewEnv(f.clock, f.random, f.store.Audit(), nil)
	f.mustRegister(t, "ola@example.com", goodPassword)
	tp := f.mustLogin(t, "ola@example.com", goodPassword, domain.ClientInfo{})
	if err := f.changePassword().Do(t.Context(), f.principal(t, tp), application.ChangePasswordInput{
		CurrentPassword: goodPassword, NewPassword: otherPassword,
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.queuedMails(t); len(got) != 0 {
		t.Errorf("email off, yet %d mails were queued", len(got))
	}
}

// brokenRenderer fails every render.
type brokenRenderer struct{}

func (brokenRenderer) Render(domain.MailTemplate, ports.MailData) (domain.MailContent, error) {
	return domain.MailContent{}, errors.New("template exploded")
}

func TestANoticeThatCannotBeRenderedDoesNotStopTheChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs bytes.Buffer
	f.env = application.NewEnv(f.clock, f.random, f.store.Audit(), slog.New(slog.NewTextHandler(&logs, nil))).WithMail(brokenRenderer{})
	u := f.mustRegister(t, "pia@example.com", goodPassword)
	tp := f.mustLogin(t, "pia@example.com", goodPassword, domain.ClientInfo{})
	if err := f.changePassword().Do(t.Context(), f.principal(t, tp), application.ChangePasswordInput{
		CurrentPassword: goodPassword, NewPassword: otherPassword,
	}); err != nil {
		t.Fatalf("change password: %v", err)
	}
	if ok, _, _ := f.hasher.Verify(t.Context(), otherPassword, f.storedUser(t, u.ID()).PasswordHash()); !ok {
		t.Error("the password was not changed")
	}
	if !strings.Contains(logs.String(), "notification not queued") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
}

// queueMails queues n password notices to a new user of store at now.
func queueMails(t *testing.T, store *memory.Store, n int, now time.Time) {
	t.Helper()
	users := store.Users()
	u, err := users.Create(t.Context(), mustNewUser(t, "u-"+uuid.NewString()[:8]+"@example.com", now))
	if err != nil {
		t.Fatal(err)
	}
	r := sharedRenderer()
	if _, err := users.Update(t.Context(), u.ID(), func(u *domain.User) error {
		for range n {
			c, err := r.Render(domain.MailResetPassword, ports.MailData{Link: "https://authd.test/account/reset-password?token=Very-Secret-Link", At: now})
			if err != nil {
				return err
			}
			u.Send(domain.OutgoingMail{To: domain.MailToUser(0), Template: domain.MailResetPassword, Content: c, At: now})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func mustNewUser(t *testing.T, email string, now time.Time) *domain.User {
	t.Helper()
	u, err := domain.NewUser(domain.MustParseEmail(email), "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", now)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fakeSender records deliveries and fails while fail returns an error.
type fakeSender struct {
	mu   sync.Mutex
	sent []ports.ClaimedMail
	fail func(ctx context.Context, m ports.ClaimedMail) error
}

func (s *fakeSender) Send(ctx context.Context, m ports.ClaimedMail) error {
	if s.fail != nil {
		if err := s.fail(ctx, m); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}

func (s *fakeSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// countingStats counts what the dispatcher reports.
type countingStats struct{ sent, failed atomic.Int64 }

func (c *countingStats) MailSent(domain.MailTemplate)   { c.sent.Add(1) }
func (c *countingStats) MailFailed(domain.MailTemplate) { c.failed.Add(1) }

func TestDispatcherDeliversAndClearsTheBody(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	queueMails(t, store, 1, t0)
	sender, stats := &fakeSender{}, &countingStats{}
	d := application.NewMailDispatcher(store.Outbox(), sender, stats, clock, nil, application.DispatchOptions{})
	ok, err := d.DeliverOne(t.Context())
	if err != nil || !ok {
		t.Fatalf("DeliverOne = %v, %v; want a delivery", ok, err)
	}
	if sender.count() != 1 || !strings.Contains(sender.sent[0].Content.Text, "Very-Secret-Link") {
		t.Fatalf("sent %+v, want the queued mail with its body", sender.sent)
	}
	st, _ := store.MailState(sender.sent[0].ID)
	if st.Status != "sent" || st.Content != (domain.MailContent{}) || stats.sent.Load() != 1 {
		t.Errorf("after delivery: %+v, %d counted; want sent with no body, counted once", st, stats.sent.Load())
	}
	if ok, err := d.DeliverOne(t.Context()); ok || err != nil {
		t.Errorf("a second DeliverOne = %v, %v; want nothing left", ok, err)
	}
}

// TestDispatcherRetriesThenGivesUp: an SMTP server that keeps failing gets
// ten attempts, 1 s, 2 s, 4 s ... apart, then the mail is given up,
// counted, logged without its body, and its body cleared.
func TestDispatcherRetriesThenGivesUp(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	queueMails(t, store, 1, t0)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sender := &fakeSender{fail: func(context.Context, ports.ClaimedMail) error {
		return errors.New("554 5.7.1 relay access denied")
	}}
	stats := &countingStats{}
	d := application.NewMailDispatcher(store.Outbox(), sender, stats, clock, log, application.DispatchOptions{})
	wait := time.Second
	for attempt := 1; attempt <= domain.MaxMailAttempts; attempt++ {
		ok, err := d.DeliverOne(t.Context())
		if err != nil || !ok {
			t.Fatalf("attempt %d: DeliverOne = %v, %v", attempt, ok, err)
		}
		if attempt == domain.MaxMailAttempts {
			break
		}
		clock.Advance(wait - time.Millisecond)
		if ok, _ := d.DeliverOne(t.Context()); ok {
			t.Fatalf("after attempt %d the mail was tried again before %s", attempt, wait)
		}
		clock.Advance(time.Millisecond)
		wait *= 2
	}
	st, _ := store.MailState(1)
	if st.Status != "failed" || st.Attempts != domain.MaxMailAttempts || st.Content != (domain.MailContent{}) || !strings.Contains(st.LastError, "554") {
		t.Errorf("after the last attempt: %+v, want failed after %d attempts with no body and the reason", st, domain.MaxMailAttempts)
	}
	if stats.failed.Load() != 1 || stats.sent.Load() != 0 {
		t.Errorf("counted %d failed, %d sent; want 1, 0", stats.failed.Load(), stats.sent.Load())
	}
	clock.Advance(48 * time.Hour)
	if ok, _ := d.DeliverOne(t.Context()); ok {
		t.Error("a given-up mail was attempted again")
	}
	out := logs.String()
	if strings.Count(out, "will retry") != domain.MaxMailAttempts-1 || strings.Count(out, "given up") != 1 {
		t.Errorf("want %d retry lines and one given-up line:\n%s", domain.MaxMailAttempts-1, out)
	}
	if strings.Contains(out, "Very-Secret-Link") {
		t.Errorf("the logs show the mail's one-time link:\n%s", out)
	}
}

// TestDispatcherOutlastsAnOutage: while the mail server cannot be reached,
// the mail is retried, ever more rarely, far past MaxMailAttempts, and
// delivered once the server is back: an outage delays mail, loses none.
func TestDispatcherOutlastsAnOutage(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	queueMails(t, store, 1, t0)
	down := true
	sender := &fakeSender{fail: func(context.Context, ports.ClaimedMail) error {
		if down {
			return fmt.Errorf("dial tcp 127.0.0.1:25: %w", ports.ErrMailServerUnreachable)
		}
		return nil
	}}
	stats := &countingStats{}
	d := application.NewMailDispatcher(store.Outbox(), sender, stats, clock, nil, application.DispatchOptions{})
	tries := 0
	for clock.Now().Sub(t0) < 24*time.Hour {
		if ok, err := d.DeliverOne(t.Context()); err != nil {
			t.Fatal(err)
		} else if ok {
			tries++
		}
		clock.Advance(time.Minute)
	}
	if tries <= domain.MaxMailAttempts || tries > 60 {
		t.Errorf("%d attempts in a day of outage, want more than %d and backing off to hourly", tries, domain.MaxMailAttempts)
	}
	if st, _ := store.MailState(1); st.Status != "pending" || stats.failed.Load() != 0 {
		t.Fatalf("after a day of outage: %+v, %d failed; want it still pending", st, stats.failed.Load())
	}
	down = false
	clock.Advance(time.Hour)
	if ok, err := d.DeliverOne(t.Context()); !ok || err != nil {
		t.Fatalf("after the outage: DeliverOne = %v, %v", ok, err)
	}
	if st, _ := store.MailState(1); st.Status != "sent" || stats.sent.Load() != 1 {
		t.Errorf("after the outage: %+v, want sent", st)
	}
}

// TestDispatcherSendTimeout: a server that never answers costs one
// attempt of SendTimeout, retried later.
func TestDispatcherSendTimeout(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	queueMails(t, store, 1, t0)
	sender := &fakeSender{fail: func(ctx context.Context, _ ports.ClaimedMail) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	d := application.NewMailDispatcher(store.Outbox(), sender, nil, clock, nil, application.DispatchOptions{SendTimeout: 50 * time.Millisecond})
	start := time.Now()
	if ok, err := d.DeliverOne(t.Context()); !ok || err != nil {
		t.Fatalf("DeliverOne = %v, %v", ok, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the attempt took %s, want about the send timeout", took)
	}
	st, _ := store.MailState(1)
	if st.Status != "pending" || !strings.Contains(st.LastError, "deadline") || st.Content == (domain.MailContent{}) {
		t.Errorf("after a timeout: %+v, want pending with the reason and its body", st)
	}
}

// TestDispatcherStopsAfterTheSendInFlight: stopping the dispatcher while a
// mail is being sent lets the send finish and records it.
func TestDispatcherStopsAfterTheSendInFlight(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	queueMails(t, store, 2, t0)
	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sender := &fakeSender{fail: func(context.Context, ports.ClaimedMail) error {
		once.Do(func() { close(inFlight) })
		<-release
		return nil
	}}
	d := application.NewMailDispatcher(store.Outbox(), sender, nil, clock, nil, application.DispatchOptions{Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	<-inFlight
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a send was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the send finished")
	}
	if sender.count() != 1 {
		t.Errorf("sent %d mails, want only the one in flight", sender.count())
	}
	if st, _ := store.MailState(sender.sent[0].ID); st.Status != "sent" {
		t.Errorf("the mail in flight is %s, want sent", st.Status)
	}
	if n, _ := store.Outbox().Pending(t.Context()); n != 1 {
		t.Errorf("%d mails pending, want the other one", n)
	}
}

// TestDispatchersShareTheOutbox: several dispatchers on one store deliver
// every mail exactly once.
func TestDispatchersShareTheOutbox(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	const n = 60
	queueMails(t, store, n, t0)
	sender := &fakeSender{}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		d := application.NewMailDispatcher(store.Outbox(), sender, nil, clock, nil, application.DispatchOptions{Poll: time.Millisecond})
		wg.Go(func() { d.Run(ctx) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for sender.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	seen := map[int64]int{}
	for _, m := range sender.sent {
		seen[m.ID]++
	}
	if len(seen) != n || sender.count() != n {
		t.Fatalf("delivered %d mails (%d distinct), want %d once each", sender.count(), len(seen), n)
	}
}

// TestDispatcherWaitsOutAnUnavailableDatabase: claims failing because the
// database is down are logged as warnings and retried.
func TestDispatcherWaitsOutAnUnavailableDatabase(t *testing.T) {
	t.Parallel()
	store, clock := memory.NewStore(), memory.NewClock(t0)
	queueMails(t, store, 1, t0)
	store.SetUnavailable(true)
	var logs syncBuffer
	sender := &fakeSender{}
	d := application.NewMailDispatcher(store.Outbox(), sender, nil, clock, slog.New(slog.NewTextHandler(&logs, nil)), application.DispatchOptions{Poll: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	store.SetUnavailable(false)
	deadline := time.Now().Add(5 * time.Second)
	for sender.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if sender.count() != 1 {
		t.Fatalf("sent %d mails after the database returned, want 1", sender.count())
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Errorf("want the outage logged as warnings only:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
