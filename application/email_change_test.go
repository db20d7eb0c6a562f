package application_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"authd/application"
	"authd/domain"
)

// moveEmail moves the account of tp to newEmail: it asks for the change
// with password and uses the link mailed to the new address.
func (f *fixture) moveEmail(t *testing.T, tp application.TokenPair, password, newEmail string) {
	t.Helper()
	if err := f.requestEmailChange().Do(t.Context(), f.principal(t, tp), application.RequestEmailChangeInput{
		NewEmail: newEmail, CurrentPassword: password,
	}); err != nil {
		t.Fatalf("request email change: %v", err)
	}
	secret := f.onlyToken(t, newEmail, domain.MailEmailChangeConfirm)
	if err := f.confirmEmailChange().Do(t.Context(), secret, domain.ClientInfo{}); err != nil {
		t.Fatalf("confirm email change: %v", err)
	}
}

func TestEmailChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "old@example.com", goodPassword)
	asking := f.mustLogin(t, "old@example.com", goodPassword, domain.ClientInfo{})
	other := f.mustLogin(t, "old@example.com", goodPassword, domain.ClientInfo{})
	_ = f.reset(t, "old@example.com", domain.ClientInfo{})
	resetLink := f.onlyToken(t, "old@example.com", domain.MailResetPassword)
	client := domain.NewClientInfo("Firefox", "203.0.113.5")

	if err := f.requestEmailChange().Do(t.Context(), f.principal(t, asking), application.RequestEmailChangeInput{
		NewEmail: " New@Example.com", CurrentPassword: goodPassword, Client: client,
	}); err != nil {
		t.Fatal(err)
	}
	mails := f.queuedMails(t)
	var confirm, notice []string
	for _, m := range mails {
		switch {
		case m.To == "new@example.com" && m.Template == domain.MailEmailChangeConfirm:
			confirm = append(confirm, tokenOf(t, m))
			if !strings.Contains(m.Content.Text, "https://authd.test/account/confirm-email-change?token=") || !strings.Contains(m.Content.Text, "1 hour") {
				t.Errorf("confirmation mail:\n%s", m.Content.Text)
			}
		case m.To == "old@example.com" && m.Template == domain.MailEmailChangeNotice:
			notice = append(notice, m.Content.Text)
			if !strings.Contains(m.Content.Text, "new@example.com") || linkToken.MatchString(m.Content.Text) {
				t.Errorf("the notice to the old address does not name the new one, or carries a link:\n%s", m.Content.Text)
			}
		}
	}
	if len(confirm) != 1 || len(notice) != 1 {
		t.Fatalf("%d confirmations to the new address and %d notices to the old, want 1 and 1", len(confirm), len(notice))
	}
	if ev, ok := f.lastEvent(t, u.ID(), domain.EventEmailChangeRequested); !ok || ev.Detail["to"] != "new@example.com" {
		t.Errorf("email_change_requested: %+v", ev)
	}
	// Until the link is used nothing changes.
	if got := f.storedUser(t, u.ID()); got.Email().String() != "old@example.com" {
		t.Fatalf("the address changed before the confirmation: %s", got.Email())
	}

	f.clock.Advance(59 * time.Minute)
	if err := f.confirmEmailChange().Do(t.Context(), confirm[0], client); err != nil {
		t.Fatal(err)
	}
	got := f.storedUser(t, u.ID())
	if got.Email().String() != "new@example.com" || !got.EmailVerified() {
		t.Errorf("after the change: %s verified %v", got.Email(), got.EmailVerified())
	}
	// The session that asked survives; the others end.
	f.mustRefresh(t, asking.RefreshToken)
	if _, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: other.RefreshToken}); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Errorf("the other session after the change: %v", err)
	}
	f.mustLogin(t, "new@example.com", goodPassword, domain.ClientInfo{})
	if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "old@example.com", Password: goodPassword}); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Errorf("login with the old address: %v", err)
	}
	changed := f.mailsTo(t, "old@example.com", domain.MailEmailChanged)
	if len(changed) != 1 || !strings.Contains(changed[0].Content.Text, "new@example.com") {
		t.Errorf("email-changed notices to the old address: %+v", changed)
	}
	if ev, ok := f.lastEvent(t, u.ID(), domain.EventEmailChanged); !ok || ev.Detail["from"] != "old@example.com" || ev.Detail["to"] != "new@example.com" {
		t.Errorf("email_changed: %+v", ev)
	}
	// Links of the old address are void, and the change link works once.
	wantInvalidToken(t, "a reset link of the old address", f.confirmReset().Do(t.Context(),
		application.ConfirmPasswordResetInput{Token: resetLink, NewPassword: otherPassword}))
	wantInvalidToken(t, "the change link again", f.confirmEmailChange().Do(t.Context(), confirm[0], client))
}

func TestEmailChangeRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "bea@example.com", goodPassword)
	f.mustRegister(t, "taken@example.com", goodPassword)
	tp := f.mustLogin(t, "bea@example.com", goodPassword, domain.ClientInfo{})
	request := func(newEmail, pw string) error {
		return f.requestEmailChange().Do(t.Context(), f.principal(t, tp), application.RequestEmailChangeInput{NewEmail: newEmail, CurrentPassword: pw})
	}
	for _, c := range []struct{ name, email string }{
		{"not an address", "nope"},
		{"a zero-width space", "bea\u200b@example.com"},
		{"the account's own", "BEA@example.com"},
	} {
		verr, ok := errors.AsType[*domain.ValidationError](request(c.email, goodPassword))
		if !ok || verr.Fields[0].Field != "new_email" {
			t.Errorf("%s: %v, want a validation error on new_email", c.name, verr)
		}
	}
	if err := request("fresh@example.com", otherPassword); !errors.Is(err, application.ErrWrongCurrentPassword) {
		t.Errorf("wrong current password: %v", err)
	}
	ev, ok := f.lastEvent(t, f.storedUserByEmail(t, "bea@example.com").ID(), domain.EventPasswordChangeFailed)
	if !ok || ev.Detail["step_up"] != "email_change" {
		t.Errorf("password_change_failed: %+v (found %v)", ev, ok)
	}
	if n := len(f.queuedMails(t)); n != 2 {
		t.Errorf("the refused requests queued mail (%d in all, want the two registrations' links)", n)
	}
	// A taken address gets no link, silently; the owner is told all the same.
	if err := request("taken@example.com", goodPassword); err != nil {
		t.Fatalf("change to a taken address: %v, want it accepted", err)
	}
	if n := len(f.mailsTo(t, "taken@example.com", domain.MailEmailChangeConfirm)); n != 0 {
		t.Errorf("%d confirmation links mailed to an address another account has", n)
	}
	if n := len(f.mailsTo(t, "bea@example.com", domain.MailEmailChangeNotice)); n != 1 {
		t.Errorf("%d notices to the old address, want 1", n)
	}
}

func TestEmailChangeToAnAddressTakenMeanwhile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "cal@example.com", goodPassword)
	tp := f.mustLogin(t, "cal@example.com", goodPassword, domain.ClientInfo{})
	if err := f.requestEmailChange().Do(t.Context(), f.principal(t, tp), application.RequestEmailChangeInput{
		NewEmail: "soon@example.com", CurrentPassword: goodPassword,
	}); err != nil {
		t.Fatal(err)
	}
	secret := f.onlyToken(t, "soon@example.com", domain.MailEmailChangeConfirm)
	squatter := f.mustRegister(t, "soon@example.com", goodPassword)
	if err := f.confirmEmailChange().Do(t.Context(), secret, domain.ClientInfo{}); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("confirm to a taken address: %v, want ErrEmailTaken", err)
	}
	// Once the address is free again, the link (still unused) works.
	f.moveEmailOf(t, squatter.ID(), "squatter.moved@example.com")
	if err := f.confirmEmailChange().Do(t.Context(), secret, domain.ClientInfo{}); err != nil {
		t.Errorf("confirm once the address is free: %v", err)
	}
	f.clock.Advance(time.Hour)
	wantInvalidToken(t, "a used change link", f.confirmEmailChange().Do(t.Context(), secret, domain.ClientInfo{}))
}

func TestEmailChangeLinkExpiresAfterAnHour(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "dov@example.com", goodPassword)
	tp := f.mustLogin(t, "dov@example.com", goodPassword, domain.ClientInfo{})
	if err := f.requestEmailChange().Do(t.Context(), f.principal(t, tp), application.RequestEmailChangeInput{
		NewEmail: "dov2@example.com", CurrentPassword: goodPassword,
	}); err != nil {
		t.Fatal(err)
	}
	secret := f.onlyToken(t, "dov2@example.com", domain.MailEmailChangeConfirm)
	f.clock.Advance(time.Hour)
	wantInvalidToken(t, "at the expiry", f.confirmEmailChange().Do(t.Context(), secret, domain.ClientInfo{}))
	wantInvalidToken(t, "a garbled link", f.confirmEmailChange().Do(t.Context(), secret+"x", domain.ClientInfo{}))
}

func TestWrongCurrentPasswordsOfEmailChangesCountTowardTheAccountBudget(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := domain.DefaultLimitPolicy
	p.PerAccountIP = domain.Limit{Max: 3, Window: time.Hour}
	f.limitTo(t, p)
	f.mustRegister(t, "eli@example.com", goodPassword)
	tp := f.mustLogin(t, "eli@example.com", goodPassword, domain.NewClientInfo("", "192.0.2.5"))
	for range 3 {
		err := f.requestEmailChange().Do(t.Context(), f.principal(t, tp), application.RequestEmailChangeInput{
			NewEmail: "eli2@example.com", CurrentPassword: otherPassword, Client: domain.NewClientInfo("", "192.0.2.5"),
		})
		if !errors.Is(err, application.ErrWrongCurrentPassword) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// The account and IP are at their limit: a login from there is refused.
	_ = rateLimited(t, f.tryLogin(t, "eli@example.com", goodPassword, "192.0.2.5"))
}

// storedUserByEmail reads the user with email back from the store.
func (f *fixture) storedUserByEmail(t *testing.T, email string) *domain.User {
	t.Helper()
	u, err := f.users.ByEmail(t.Context(), domain.MustParseEmail(email))
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// moveEmailOf moves the user with id to newEmail through the repository,
// as a confirmed change would.
func (f *fixture) moveEmailOf(t *testing.T, id domain.UserID, newEmail string) {
	t.Helper()
	tp := f.mustLogin(t, f.storedUser(t, id).Email().String(), goodPassword, domain.ClientInfo{})
	f.moveEmail(t, tp, goodPassword, newEmail)
}
