package application_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

func TestRequestPasswordResetMailsAnActiveAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "rae@example.com", goodPassword)
	client := domain.NewClientInfo("Firefox/140", "203.0.113.9")
	if err := f.reset(t, "  RAE@example.com ", client); err != nil {
		t.Fatal(err)
	}
	ms := f.mailsTo(t, "rae@example.com", domain.MailResetPassword)
	if len(ms) != 1 {
		t.Fatalf("%d reset mails, want 1", len(ms))
	}
	m := ms[0]
	if !strings.Contains(m.Content.Text, "https://authd.test/account/reset-password?token=") ||
		!strings.Contains(m.Content.Text, "30 minutes") || !strings.Contains(m.Content.Text, "203.0.113.9") {
		t.Errorf("the reset mail lacks its link, its lifetime or the requesting IP:\n%s", m.Content.Text)
	}
	secret := tokenOf(t, m)
	tok, err := f.store.OneTimeTokens().Find(t.Context(), domain.HashOneTimeToken(secret), domain.PurposePasswordReset, f.clock.Now())
	if err != nil || tok.UserID() != u.ID() || tok.Email() != u.Email() || !tok.ExpiresAt().Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("stored token: %+v, %v", tok.Record(), err)
	}
	if rec, ok := f.store.OneTimeTokenState(domain.HashOneTimeToken(secret)); !ok || strings.Contains(rec.Hash.String(), secret) {
		t.Error("the token is not stored by its digest")
	}
	ev, ok := f.lastEvent(t, u.ID(), domain.EventPasswordResetRequested)
	if !ok || ev.Client != client || ev.ActorID != 0 {
		t.Errorf("password_reset_requested event: %+v (found %v)", ev, ok)
	}
}

// blockingUsers holds every ByEmail until release is closed.
type blockingUsers struct {
	ports.UserRepository
	release chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (b *blockingUsers) ByEmail(ctx context.Context, e domain.Email) (*domain.User, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.UserRepository.ByEmail(ctx, e)
}

func TestRequestPasswordResetAnswersBeforeLookingTheAddressUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "sol@example.com", goodPassword)
	users := &blockingUsers{UserRepository: f.users, release: make(chan struct{}), entered: make(chan struct{})}
	uc := application.NewRequestPasswordReset(users, f.limiter, f.env, f.deferred())
	// Do returns while the lookup cannot have finished: the answer never
	// depends on whether the address has an account.
	if err := uc.Do(t.Context(), application.RequestPasswordResetInput{Email: "sol@example.com"}); err != nil {
		t.Fatal(err)
	}
	<-users.entered
	if n := len(f.mailsTo(t, "sol@example.com", domain.MailResetPassword)); n != 0 {
		t.Fatalf("a reset mail was queued before the lookup finished")
	}
	close(users.release)
	f.settleDeferred(t)
	if n := len(f.mailsTo(t, "sol@example.com", domain.MailResetPassword)); n != 1 {
		t.Errorf("%d reset mails after the deferred work, want 1", n)
	}
}

func TestRequestPasswordResetAnswersAlikeForEveryAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "known@example.com", goodPassword)
	off := f.mustRegister(t, "off@example.com", goodPassword)
	f.setActive(t, off.ID(), false)
	before := f.hasher.calls()
	for _, email := range []string{"known@example.com", "unknown@example.com", "off@example.com"} {
		if err := f.reset(t, email, domain.ClientInfo{}); err != nil {
			t.Errorf("reset for %s: %v, want nil like every address", email, err)
		}
	}
	if f.hasher.calls() != before {
		t.Error("a reset request hashed something")
	}
	var resets []string
	for _, m := range f.queuedMails(t) {
		if m.Template == domain.MailResetPassword {
			resets = append(resets, m.To)
		}
	}
	if len(resets) != 1 || resets[0] != "known@example.com" {
		t.Errorf("reset mails went to %v, want only the active account", resets)
	}
	// An address that is not one says nothing about accounts.
	for _, email := range []string{"not an email", "root\u200b@example.com", "\u202eroot@example.com", strings.Repeat("a", 300) + "@x.io"} {
		err := f.reset(t, email, domain.ClientInfo{})
		if _, ok := errors.AsType[*domain.ValidationError](err); !ok {
			t.Errorf("reset for %+q: %v, want a validation error", email, err)
		}
	}
}

func TestRequestPasswordResetLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := domain.DefaultLimitPolicy
	p.MailRequestsPerIP = domain.Limit{Max: 3, Window: time.Hour}
	p.MailsPerAddress = domain.Limit{Max: 2, Window: time.Hour}
	f.limitTo(t, p)
	f.mustRegister(t, "tia@example.com", goodPassword)
	// Per address: past two mails, requests are accepted and send nothing.
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if err := f.reset(t, "tia@example.com", domain.NewClientInfo("", ip)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		f.clock.Advance(time.Second)
	}
	if n := len(f.mailsTo(t, "tia@example.com", domain.MailResetPassword)); n != 2 {
		t.Errorf("%d reset mails, want 2 (the limit per address)", n)
	}
	// Per IP: the fourth request from one IP is refused, whatever the
	// address, and the first refusal is audited.
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := f.reset(t, email, domain.NewClientInfo("", "198.51.100.1")); err != nil {
			t.Fatal(err)
		}
	}
	for i, email := range []string{"tia@example.com", "nobody@example.com"} {
		rl := rateLimited(t, f.reset(t, email, domain.NewClientInfo("", "198.51.100.1")))
		if rl.RetryAfter <= 0 || rl.FirstRefusal != (i == 0) {
			t.Errorf("refusal %d: %+v", i, rl)
		}
	}
	if n := f.countEvents(t, domain.EventRateLimited); n != 1 {
		t.Errorf("%d rate_limited events, want the first refusal only", n)
	}
}

func TestConfirmPasswordReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "uma@example.com", goodPassword)
	a := f.mustLogin(t, "uma@example.com", goodPassword, domain.ClientInfo{})
	b := f.mustLogin(t, "uma@example.com", goodPassword, domain.ClientInfo{})
	if err := f.reset(t, "uma@example.com", domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	secret := f.onlyToken(t, "uma@example.com", domain.MailResetPassword)
	f.clock.Advance(10 * time.Minute)
	client := domain.NewClientInfo("Safari", "203.0.113.44")
	if err := f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: secret, NewPassword: otherPassword, Client: client}); err != nil {
		t.Fatal(err)
	}
	// Every session ended: both refresh tokens are dead, the access tokens too.
	for _, tp := range []application.TokenPair{a, b} {
		if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: tp.RefreshToken}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Errorf("refresh after the reset: %v, want ErrInvalidRefreshToken", err)
		}
		if _, err := f.currentUser().Do(t.Context(), f.principal(t, tp)); !errors.Is(err, domain.ErrInvalidAccessToken) {
			t.Errorf("access token after the reset: %v", err)
		}
	}
	if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "uma@example.com", Password: goodPassword}); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Errorf("login with the old password: %v", err)
	}
	f.mustLogin(t, "uma@example.com", otherPassword, domain.ClientInfo{})
	if stored := f.storedUser(t, u.ID()); !stored.EmailVerified() {
		t.Error("a reset did not count the address as verified")
	}
	ev, ok := f.lastEvent(t, u.ID(), domain.EventPasswordReset)
	if !ok || ev.Client != client || !ev.At.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("password_reset event %+v (found %v)", ev, ok)
	}
	notices := f.mailsTo(t, "uma@example.com", domain.MailPasswordChanged)
	if len(notices) != 1 || !strings.Contains(notices[0].Content.Text, "203.0.113.44") {
		t.Errorf("password-changed notices: %+v", notices)
	}
	// The token works once.
	wantInvalidToken(t, "second use", f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: secret, NewPassword: adminPassword}))
}

func TestConfirmPasswordResetRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "vik@example.com", goodPassword)
	confirm := func(token, pw string) error {
		return f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: token, NewPassword: pw})
	}
	if err := f.reset(t, "vik@example.com", domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	secret := f.onlyToken(t, "vik@example.com", domain.MailResetPassword)
	verification := f.onlyToken(t, "vik@example.com", domain.MailVerifyEmail)

	before := f.hasher.calls()
	for _, c := range []struct{ name, token string }{
		{"empty", ""},
		{"garbled", "not a token"},
		{"10 KB", strings.Repeat("A", 10<<10)},
		{"one character short", secret[1:]},
		{"unknown", strings.Repeat("A", 43)},
		{"of another purpose", verification},
	} {
		wantInvalidToken(t, c.name, confirm(c.token, otherPassword))
	}
	if f.hasher.calls() != before {
		t.Error("a refused token cost a password hash")
	}
	// A weak password is refused without spending the token.
	if _, ok := errors.AsType[*domain.ValidationError](confirm(secret, "short")); !ok {
		t.Error("a weak new password was not refused as invalid")
	}
	if err := confirm(secret, "password1234"); err == nil {
		t.Fatal("a common new password was accepted")
	}
	// The expiry is exact: valid for 30 minutes from the request.
	f.clock.Set(t0.Add(30 * time.Minute))
	wantInvalidToken(t, "at the expiry", confirm(secret, otherPassword))
	f.clock.Set(t0.Add(30*time.Minute - time.Microsecond))
	if err := confirm(secret, otherPassword); err != nil {
		t.Fatalf("just before the expiry: %v", err)
	}
	if ok, _, _ := f.hasher.Verify(t.Context(), otherPassword, f.storedUser(t, u.ID()).PasswordHash()); !ok {
		t.Error("the password was not replaced")
	}
}

func TestANewResetLinkRevokesTheOlderOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "wyn@example.com", goodPassword)
	_ = f.reset(t, "wyn@example.com", domain.ClientInfo{})
	older := f.onlyToken(t, "wyn@example.com", domain.MailResetPassword)
	f.clock.Advance(time.Minute)
	_ = f.reset(t, "wyn@example.com", domain.ClientInfo{})
	newer := f.onlyToken(t, "wyn@example.com", domain.MailResetPassword)
	wantInvalidToken(t, "the older link", f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: older, NewPassword: otherPassword}))
	if err := f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: newer, NewPassword: otherPassword}); err != nil {
		t.Errorf("the newer link: %v", err)
	}
}

func TestResetLinkOfAnAddressTheUserNoLongerHas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "xan@example.com", goodPassword)
	tp := f.mustLogin(t, "xan@example.com", goodPassword, domain.ClientInfo{})
	_ = f.reset(t, "xan@example.com", domain.ClientInfo{})
	secret := f.onlyToken(t, "xan@example.com", domain.MailResetPassword)
	f.moveEmail(t, tp, goodPassword, "xan.new@example.com")
	wantInvalidToken(t, "a reset link of the old address", f.confirmReset().Do(t.Context(),
		application.ConfirmPasswordResetInput{Token: secret, NewPassword: otherPassword}))
}

func TestResetOfADisabledAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "yul@example.com", goodPassword)
	_ = f.reset(t, "yul@example.com", domain.ClientInfo{})
	secret := f.onlyToken(t, "yul@example.com", domain.MailResetPassword)
	f.setActive(t, u.ID(), false)
	wantInvalidToken(t, "a disabled account's link", f.confirmReset().Do(t.Context(),
		application.ConfirmPasswordResetInput{Token: secret, NewPassword: otherPassword}))
}

func TestConcurrentResetConfirmationsOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "zed@example.com", goodPassword)
	_ = f.reset(t, "zed@example.com", domain.ClientInfo{})
	secret := f.onlyToken(t, "zed@example.com", domain.MailResetPassword)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: secret, NewPassword: otherPassword})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, domain.ErrInvalidOneTimeToken):
			t.Errorf("confirm: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent confirmations succeeded, want 1", wins, n)
	}
}

func TestAdminSendsAPasswordReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.mustCreateAdmin(t, "root@example.com")
	u := f.mustRegister(t, "ada@example.com", goodPassword)
	tp := f.mustLogin(t, "ada@example.com", goodPassword, domain.ClientInfo{})
	client := domain.NewClientInfo("admin console", "198.51.100.2")
	if err := f.sendReset().Do(t.Context(), adminPrincipal(admin), u.ID(), client); err != nil {
		t.Fatal(err)
	}
	secret := f.onlyToken(t, "ada@example.com", domain.MailResetPassword)
	ev, ok := f.lastEvent(t, u.ID(), domain.EventPasswordResetRequested)
	if !ok || ev.ActorID != admin.ID() || ev.Client != client {
		t.Errorf("password_reset_requested: %+v (found %v), want the admin as actor", ev, ok)
	}
	// Nothing changes until the link is used.
	f.mustRefresh(t, tp.RefreshToken)
	if err := f.confirmReset().Do(t.Context(), application.ConfirmPasswordResetInput{Token: secret, NewPassword: otherPassword}); err != nil {
		t.Fatal(err)
	}
	if err := f.sendReset().Do(t.Context(), adminPrincipal(admin), 999, client); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("reset of an unknown user: %v, want ErrUserNotFound", err)
	}
}
