package application_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"authd/application"
	"authd/domain"
)

func TestRegistrationMailsAVerificationLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "fin@example.com", goodPassword)
	if u.EmailVerified() {
		t.Fatal("a new account counts as verified")
	}
	ms := f.mailsTo(t, "fin@example.com", domain.MailVerifyEmail)
	if len(ms) != 1 || !strings.Contains(ms[0].Content.Text, "https://authd.test/account/verify-email?token=") || !strings.Contains(ms[0].Content.Text, "24 hours") {
		t.Fatalf("verification mails: %+v", ms)
	}
	secret := tokenOf(t, ms[0])
	f.clock.Advance(24*time.Hour - time.Microsecond)
	client := domain.NewClientInfo("Chromium", "198.51.100.3")
	if err := f.verifyEmail().Do(t.Context(), secret, client); err != nil {
		t.Fatal(err)
	}
	if got := f.storedUser(t, u.ID()); !got.EmailVerified() || !got.EmailVerifiedAt().Equal(f.clock.Now()) {
		t.Errorf("verified %v at %s", got.EmailVerified(), got.EmailVerifiedAt())
	}
	if ev, ok := f.lastEvent(t, u.ID(), domain.EventEmailVerified); !ok || ev.Client != client {
		t.Errorf("email_verified: %+v (found %v)", ev, ok)
	}
	wantInvalidToken(t, "second use", f.verifyEmail().Do(t.Context(), secret, client))
}

func TestVerificationRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "gus@example.com", goodPassword)
	secret := f.onlyToken(t, "gus@example.com", domain.MailVerifyEmail)
	_ = f.reset(t, "gus@example.com", domain.ClientInfo{})
	reset := f.onlyToken(t, "gus@example.com", domain.MailResetPassword)
	for _, c := range []struct{ name, token string }{
		{"garbled", "%%%"},
		{"10 KB", strings.Repeat("x", 10<<10)},
		{"unknown", strings.Repeat("B", 43)},
		{"a reset token", reset},
	} {
		wantInvalidToken(t, c.name, f.verifyEmail().Do(t.Context(), c.token, domain.ClientInfo{}))
	}
	f.clock.Advance(24 * time.Hour)
	wantInvalidToken(t, "at the expiry", f.verifyEmail().Do(t.Context(), secret, domain.ClientInfo{}))
}

func TestResendVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := domain.DefaultLimitPolicy
	p.MailRequestsPerIP = domain.Limit{Max: 4, Window: time.Hour}
	p.MailsPerAddress = domain.Limit{Max: 3, Window: time.Hour}
	f.limitTo(t, p)
	f.mustRegister(t, "hal@example.com", goodPassword)
	first := f.onlyToken(t, "hal@example.com", domain.MailVerifyEmail)
	tp := f.mustLogin(t, "hal@example.com", goodPassword, domain.ClientInfo{})
	caller := f.caller(t, "hal@example.com", goodPassword)
	client := domain.NewClientInfo("", "192.0.2.77")
	resend := func() error {
		return f.resendVerification().Do(t.Context(), caller, f.principal(t, tp), client)
	}
	if err := resend(); err != nil {
		t.Fatal(err)
	}
	f.onlyToken(t, "hal@example.com", domain.MailVerifyEmail)
	wantInvalidToken(t, "the first link after a resend", f.verifyEmail().Do(t.Context(), first, domain.ClientInfo{}))
	// The registration's link and two resends are the address's 3 mails;
	// a third resend is accepted and sends nothing.
	if err := resend(); err != nil {
		t.Fatal(err)
	}
	f.queuedMails(t)
	if err := resend(); err != nil {
		t.Fatalf("a resend past the address's limit: %v, want it accepted", err)
	}
	if n := len(f.mailsTo(t, "hal@example.com", domain.MailVerifyEmail)); n != 0 {
		t.Errorf("%d links mailed past the address's limit", n)
	}
	// The fourth request from the IP is its last; the fifth is refused.
	if err := resend(); err != nil {
		t.Fatal(err)
	}
	_ = rateLimited(t, resend())
	// Once verified, a resend sends nothing.
	g := newFixture(t)
	v := g.mustRegister(t, "ivy@example.com", goodPassword)
	if err := g.verifyEmail().Do(t.Context(), g.onlyToken(t, "ivy@example.com", domain.MailVerifyEmail), domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	gtp := g.mustLogin(t, "ivy@example.com", goodPassword, domain.ClientInfo{})
	if err := g.resendVerification().Do(t.Context(), g.storedUser(t, v.ID()), g.principal(t, gtp), domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	if n := len(g.mailsTo(t, "ivy@example.com", domain.MailVerifyEmail)); n != 0 {
		t.Errorf("a verified address was mailed %d links", n)
	}
}

func TestRequireVerifiedEmailAtLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.requireVerified()
	u := f.mustRegister(t, "jo@example.com", goodPassword)
	secret := f.onlyToken(t, "jo@example.com", domain.MailVerifyEmail)
	// A wrong password says nothing about verification.
	if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "jo@example.com", Password: otherPassword}); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v, want ErrInvalidCredentials", err)
	}
	if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "jo@example.com", Password: goodPassword}); !errors.Is(err, domain.ErrEmailNotVerified) {
		t.Errorf("right password, unverified: %v, want ErrEmailNotVerified", err)
	}
	if len(f.liveSessions(t, u.ID())) != 0 {
		t.Error("an unverified login opened a session")
	}
	if err := f.verifyEmail().Do(t.Context(), secret, domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	f.mustLogin(t, "jo@example.com", goodPassword, domain.ClientInfo{})
	// Without the requirement, unverified accounts log in.
	g := newFixture(t)
	g.mustRegister(t, "kit@example.com", goodPassword)
	g.mustLogin(t, "kit@example.com", goodPassword, domain.ClientInfo{})
}

func TestRequireVerifiedEmailAtRegistration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.requireVerified()
	owner := f.mustRegister(t, "lea@example.com", goodPassword)
	f.queuedMails(t)
	u, err := f.register().Do(t.Context(), application.RegisterInput{Email: "LEA@example.com", Password: otherPassword,
		Client: domain.NewClientInfo("curl", "203.0.113.8")})
	if err != nil || u != nil {
		t.Fatalf("register a taken address: %v, %v; want nil, nil (answered like a new one)", u, err)
	}
	ms := f.queuedMails(t)
	if len(ms) != 1 || ms[0].To != "lea@example.com" || ms[0].Template != domain.MailRegistrationAttempt || linkToken.MatchString(ms[0].Content.Text) {
		t.Fatalf("mails: %+v, want one registration-attempt notice, without a link, to the owner", ms)
	}
	if ok, _, _ := f.hasher.Verify(t.Context(), goodPassword, f.storedUser(t, owner.ID()).PasswordHash()); !ok {
		t.Error("the attempt changed the owner's password")
	}
	// Without the requirement a taken address is ErrEmailTaken, and nobody is mailed.
	g := newFixture(t)
	g.mustRegister(t, "mo@example.com", goodPassword)
	g.queuedMails(t)
	if _, err := g.register().Do(t.Context(), application.RegisterInput{Email: "mo@example.com", Password: otherPassword}); !errors.Is(err, domain.ErrEmailTaken) {
		t.Errorf("register a taken address: %v, want ErrEmailTaken", err)
	}
	if n := len(g.queuedMails(t)); n != 0 {
		t.Errorf("%d mails queued for a refused registration", n)
	}
}
