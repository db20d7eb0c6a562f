package application_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"testing"
	"time"

	"authd/adapters/keyring"
	"authd/adapters/memory"
	"authd/adapters/passkey"
	"authd/adapters/passkey/passkeytest"
	"authd/adapters/totp"
	"authd/application"
	"authd/domain"
)

// mfaCases wires the multi-factor use cases to the fixture's store, with
// the real keyring, TOTP and relying party.
func (f *fixture) mfaCases(t *testing.T) *application.UseCases {
	t.Helper()
	k, err := keyring.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.Parse([]byte(k))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := passkey.New(passkey.Config{RPID: "localhost", RPName: "authd", Origins: []string{"http://localhost:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	return application.New(application.Deps{
		Users: f.users, Families: f.families, Audit: f.audit, Hasher: f.hasher, Common: sharedCommon(), Tokens: f.issuer,
		Clock: f.clock, Random: f.random, Policy: domain.DefaultSessionPolicy, Limiter: f.limiter, Mail: sharedRenderer(),
		MFA: f.store.MFA(), Challenges: f.store.Challenges(), Secrets: ring, Codes: ring, TOTP: totp.Codes{Issuer: "authd"}, WebAuthn: rp,
	})
}

// mailTemplates lists the templates of every mail queued so far.
func mailTemplates(s *memory.Store) []domain.MailTemplate {
	var out []domain.MailTemplate
	for id := int64(1); ; id++ {
		m, ok := s.MailState(id)
		if !ok {
			return out
		}
		out = append(out, m.Template)
	}
}

func count[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// TestMFANotificationsAndAudit: each security-relevant change to the
// factors is audited and mailed in its own transaction.
func TestMFANotificationsAndAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	uc := f.mfaCases(t)
	ctx := context.Background()
	u := f.mustRegister(t, "notify@example.com", goodPassword)
	p := f.principal(t, f.mustLogin(t, "notify@example.com", goodPassword, domain.ClientInfo{}))

	// A wrong current password is a failed password attempt, audited.
	if _, err := uc.EnrollTOTP.Do(ctx, p, otherPassword, domain.ClientInfo{}); !errors.Is(err, application.ErrWrongCurrentPassword) {
		t.Fatalf("EnrollTOTP with a wrong password = %v", err)
	}
	evs := f.events(t, u.ID())
	if last := evs[len(evs)-1]; last.Type != domain.EventPasswordChangeFailed || last.Detail["step_up"] != "totp_enrol" {
		t.Errorf("last event %+v, want password_change_failed for the enrolment", last)
	}
	e, err := uc.EnrollTOTP.Do(ctx, p, goodPassword, domain.ClientInfo{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := decodeBase32(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(secret, domain.TOTPStep(f.clock.Now()))
	codes, err := uc.ConfirmTOTP.Do(ctx, p, code, domain.ClientInfo{})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	_, err = f.login().Do(ctx, application.LoginInput{Email: "notify@example.com", Password: goodPassword})
	var required *application.MFARequiredError
	if !errors.As(err, &required) || !errors.Is(err, domain.ErrMFARequired) {
		t.Fatalf("login = %v, want *MFARequiredError", err)
	}
	if _, err := uc.CompleteMFALogin.Do(ctx, application.CompleteMFAInput{MFAToken: required.Token, RecoveryCode: &codes[0]}); err != nil {
		t.Fatal(err)
	}
	if err := uc.RemoveTOTP.Do(ctx, p, goodPassword, domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	admin := f.mustCreateAdmin(t, "admin@example.com")
	// Passkey, then an admin's reset.
	a := passkeytest.New("http://localhost:8080")
	opts, err := uc.BeginPasskeyRegistration.Do(ctx, p, goodPassword, domain.ClientInfo{})
	if err != nil {
		t.Fatal(err)
	}
	resp, _, _ := a.Register(opts, "")
	reg, err := uc.FinishPasskeyRegistration.Do(ctx, p, application.FinishPasskeyRegistrationInput{Response: resp})
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.RecoveryCodes) != 10 {
		t.Errorf("the first factor after TOTP's removal got %d recovery codes", len(reg.RecoveryCodes))
	}
	if err := uc.ResetMFA.Do(ctx, domain.Principal{UserID: admin.ID()}, u.ID(), domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	if s, _ := uc.MFASummary.Do(ctx, u.ID()); s != (domain.MFASummary{}) {
		t.Errorf("after the reset: %+v", s)
	}

	mails := mailTemplates(f.store)
	for tmpl, want := range map[domain.MailTemplate]int{domain.MailMFAEnrolled: 2, domain.MailRecoveryCodeUsed: 1, domain.MailMFARemoved: 2} {
		if got := count(mails, tmpl); got != want {
			t.Errorf("%d %s mails, want %d (all: %v)", got, tmpl, want, mails)
		}
	}
	types := f.eventTypes(t, u.ID())
	for _, want := range []domain.EventType{domain.EventMFAEnrolled, domain.EventRecoveryCodeUsed, domain.EventMFARemoved, domain.EventPasskeyAdded, domain.EventMFAResetByAdmin} {
		if count(types, want) != 1 {
			t.Errorf("%d %s events (all: %v)", count(types, want), want, types)
		}
	}
	for _, ev := range f.events(t, u.ID()) {
		if ev.Type == domain.EventMFAResetByAdmin && ev.ActorID != admin.ID() {
			t.Errorf("the reset names actor %d, want %d", ev.ActorID, admin.ID())
		}
		if ev.Type == domain.EventLoginSucceeded && ev.Detail["amr"] == "pwd otp mfa" {
			return
		}
	}
	t.Error("no login_succeeded event names the amr of the MFA login")
}

// TestPasswordChangeBetweenTheStepsEndsThePendingLogin: a pending login
// remembers the session epoch its password was checked at.
func TestPasswordChangeBetweenTheStepsEndsThePendingLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	uc := f.mfaCases(t)
	ctx := context.Background()
	f.mustRegister(t, "epoch@example.com", goodPassword)
	tp := f.mustLogin(t, "epoch@example.com", goodPassword, domain.ClientInfo{})
	p := f.principal(t, tp)
	e, _ := uc.EnrollTOTP.Do(ctx, p, goodPassword, domain.ClientInfo{})
	secret, _ := decodeBase32(e.Secret)
	code, _ := totp.Code(secret, domain.TOTPStep(f.clock.Now()))
	if _, err := uc.ConfirmTOTP.Do(ctx, p, code, domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.login().Do(ctx, application.LoginInput{Email: "epoch@example.com", Password: goodPassword})
	var required *application.MFARequiredError
	if !errors.As(err, &required) {
		t.Fatal(err)
	}
	if err := f.changePassword().Do(ctx, p, application.ChangePasswordInput{CurrentPassword: goodPassword, NewPassword: otherPassword}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	next, _ := totp.Code(secret, domain.TOTPStep(f.clock.Now()))
	if _, err := uc.CompleteMFALogin.Do(ctx, application.CompleteMFAInput{MFAToken: required.Token, TOTPCode: &next}); !errors.Is(err, domain.ErrInvalidMFAToken) {
		t.Errorf("completing a login whose password changed meanwhile = %v, want ErrInvalidMFAToken", err)
	}
}

func decodeBase32(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}
