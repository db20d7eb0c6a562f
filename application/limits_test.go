package application_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

// The abuse limits of DESIGN.md, one test (or more) per property, on the
// memory limiter and the fixture's fixed clock.

// tryLogin logs in to email with pw from ip.
func (f *fixture) tryLogin(t *testing.T, email, pw, ip string) error {
	t.Helper()
	_, err := f.login().Do(t.Context(), application.LoginInput{Email: email, Password: pw, Client: domain.NewClientInfo("test", ip)})
	return err
}

// wantLogin fails the test unless a login answers want (nil: succeeds).
func (f *fixture) wantLogin(t *testing.T, email, pw, ip string, want error) {
	t.Helper()
	if err := f.tryLogin(t, email, pw, ip); !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("login to %s from %s at +%s: %v, want %v", email, ip, f.clock.Now().Sub(t0), err, want)
	}
}

// rateLimited fails the test unless err is a refusal, and returns it.
func rateLimited(t *testing.T, err error) *domain.RateLimitError {
	t.Helper()
	rl, ok := errors.AsType[*domain.RateLimitError](err)
	if !ok || !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("%v, want a *domain.RateLimitError", err)
	}
	return rl
}

// countEvents counts the audit events of type typ.
func (f *fixture) countEvents(t *testing.T, typ domain.EventType) int {
	t.Helper()
	n := 0
	for _, e := range f.events(t, 0) {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// Property 1: failed logins are counted, successful ones are not.
func TestLoginCountsFailuresNotSuccesses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "ada@example.com", goodPassword)
	for range 20 {
		f.wantLogin(t, "ada@example.com", goodPassword, "192.0.2.1", nil)
	}
	for range 5 {
		f.wantLogin(t, "ada@example.com", otherPassword, "192.0.2.1", domain.ErrInvalidCredentials)
	}
	f.wantLogin(t, "ada@example.com", goodPassword, "192.0.2.1", domain.ErrRateLimited)
}

// Property 1: per (account, IP), 5 failures per 15 minutes, then 429 with
// an accurate Retry-After, decided before the password is hashed.
func TestLoginLimitPerAccountAndIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "ben@example.com", goodPassword)
	f.mustRegister(t, "cat@example.com", goodPassword)
	for range 5 {
		f.wantLogin(t, "ben@example.com", otherPassword, "192.0.2.7", domain.ErrInvalidCredentials)
		f.clock.Advance(time.Minute)
	}
	before := f.hasher.calls()
	right := rateLimited(t, f.tryLogin(t, "ben@example.com", goodPassword, "192.0.2.7"))
	wrong := rateLimited(t, f.tryLogin(t, "BEN@example.com ", otherPassword, "192.0.2.7"))

	if got := f.hasher.calls(); got != before {
		t.Errorf("refused logins used the hasher: %v → %v", before, got)
	}
	if right.RetryAfter != wrong.RetryAfter {
		t.Errorf("the right password waits %s, a wrong one %s: a 429 tells them apart", right.RetryAfter, wrong.RetryAfter)
	}
	// The first failure, at t0, leaves the 15-minute window at t0+15m.
	if want := 10 * time.Minute; right.RetryAfter != want {
		t.Errorf("RetryAfter = %s, want %s", right.RetryAfter, want)
	}
	f.wantLogin(t, "ben@example.com", goodPassword, "192.0.2.8", nil)
	f.wantLogin(t, "cat@example.com", goodPassword, "192.0.2.7", nil)

	f.clock.Advance(right.RetryAfter - time.Second)
	f.wantLogin(t, "ben@example.com", goodPassword, "192.0.2.7", domain.ErrRateLimited)
	f.clock.Advance(time.Second)
	f.wantLogin(t, "ben@example.com", goodPassword, "192.0.2.7", nil)
}

// Property 1 (limits key IPv6 by its /64; sessions and audit keep the
// address).
func TestLoginLimitsKeyIPv6ByItsNetwork(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "dan@example.com", goodPassword)
	for i := range 5 {
		f.wantLogin(t, "dan@example.com", otherPassword, fmt.Sprintf("2001:db8:7:7::%x", i+1), domain.ErrInvalidCredentials)
	}
	f.wantLogin(t, "dan@example.com", goodPassword, "2001:db8:7:7:ffff::1", domain.ErrRateLimited)
	f.wantLogin(t, "dan@example.com", goodPassword, "2001:db8:7:8::1", nil)

	var ips []string
	for _, e := range f.events(t, 0) {
		if e.Type == domain.EventLoginFailed || e.Type == domain.EventRateLimited {
			ips = append(ips, e.Client.IP())
		}
	}
	want := []string{"2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7::3", "2001:db8:7:7::4", "2001:db8:7:7::5", "2001:db8:7:7:ffff::1"}
	if diff := cmp.Diff(want, ips); diff != "" {
		t.Errorf("audited addresses (-want +got):\n%s", diff)
	}
}

// Property 2: past the account's budget, IPs that logged in to it within
// 30 days still get in (an admin's too); other IPs are refused.
func TestAccountBudgetDoesNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	admin := f.mustCreateAdmin(t, "root@example.com")
	f.wantLogin(t, "root@example.com", adminPassword, "203.0.113.10", nil)
	f.clock.Advance(29 * day)

	// 50 wrong passwords from 10 IPs, each within its own limit of 5.
	for i := range 50 {
		f.wantLogin(t, "root@example.com", otherPassword, fmt.Sprintf("198.51.100.%d", i/5), domain.ErrInvalidCredentials)
	}
	f.wantLogin(t, "root@example.com", otherPassword, "198.51.100.200", domain.ErrRateLimited)
	f.wantLogin(t, "root@example.com", adminPassword, "192.0.2.99", domain.ErrRateLimited)

	f.wantLogin(t, "root@example.com", adminPassword, "203.0.113.10", nil)
	// The session is an admin's.
	if s := f.liveSessions(t, admin.ID()); len(s) != 2 {
		t.Errorf("%d live sessions, want 2", len(s))
	}
	// Logging in again made the IP known for 30 more days; the budget is
	// still spent (by the failures of the last hour) for everyone else.
	f.clock.Advance(59 * time.Minute)
	f.wantLogin(t, "root@example.com", adminPassword, "203.0.113.10", nil)
	f.wantLogin(t, "root@example.com", adminPassword, "192.0.2.99", domain.ErrRateLimited)
}

// Property 2: an IP is known for 30 days after its last login only.
func TestAccountBudgetForgetsIPsAfter30Days(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "eve@example.com", goodPassword)
	f.wantLogin(t, "eve@example.com", goodPassword, "203.0.113.20", nil)
	f.clock.Advance(30 * day)
	for i := range 50 {
		f.wantLogin(t, "eve@example.com", otherPassword, fmt.Sprintf("198.51.100.%d", i/5), domain.ErrInvalidCredentials)
	}
	f.wantLogin(t, "eve@example.com", goodPassword, "203.0.113.20", domain.ErrRateLimited)
}

// Property 3: per IP across accounts (credential stuffing), 100 failures
// per hour.
func TestLoginLimitPerIPAcrossAccounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "fay@example.com", goodPassword)
	for i := range 100 {
		f.wantLogin(t, fmt.Sprintf("victim%d@example.com", i), goodPassword, "203.0.113.66", domain.ErrInvalidCredentials)
		f.clock.Advance(30 * time.Second)
	}
	err := f.tryLogin(t, "fay@example.com", goodPassword, "203.0.113.66")
	// The first failure leaves the hour at t0+1h; it is now t0+50m.
	if rl := rateLimited(t, err); rl.RetryAfter != 10*time.Minute {
		t.Errorf("RetryAfter = %s, want 10m", rl.RetryAfter)
	}
	f.wantLogin(t, "fay@example.com", goodPassword, "203.0.113.67", nil)
}

// Property 4: wrong current passwords of a password change count toward
// the account's budget, like failed logins, and are audited.
func TestWrongCurrentPasswordsCountTowardTheAccountBudget(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := domain.DefaultLimitPolicy
	p.PerAccount.Max = 4
	f.limitTo(t, p)
	u := f.mustRegister(t, "gus@example.com", goodPassword)
	tp := f.mustLogin(t, "gus@example.com", goodPassword, domain.NewClientInfo("home", "203.0.113.30"))
	// Someone holding the access token guesses from elsewhere.
	thief := domain.NewClientInfo("thief", "192.0.2.66")
	change := func(current string) error {
		return f.changePassword().Do(t.Context(), f.principal(t, tp), application.ChangePasswordInput{
			CurrentPassword: current, NewPassword: adminPassword, Client: thief,
		})
	}
	f.wantLogin(t, "gus@example.com", otherPassword, "192.0.2.67", domain.ErrInvalidCredentials)
	for range 3 {
		if err := change(otherPassword); !errors.Is(err, application.ErrWrongCurrentPassword) {
			t.Fatalf("change with a wrong current password: %v", err)
		}
	}
	before := f.hasher.calls()
	if rl := rateLimited(t, change(goodPassword)); rl.RetryAfter != time.Hour {
		t.Errorf("RetryAfter = %s, want 1h", rl.RetryAfter)
	}
	if got := f.hasher.calls(); got != before {
		t.Errorf("a refused change used the hasher: %v → %v", before, got)
	}
	f.wantLogin(t, "gus@example.com", goodPassword, "192.0.2.68", domain.ErrRateLimited)
	f.wantLogin(t, "gus@example.com", goodPassword, "203.0.113.30", nil)

	var failed []domain.AuthEvent
	for _, e := range f.events(t, u.ID()) {
		if e.Type == domain.EventPasswordChangeFailed {
			e.ID = 0
			failed = append(failed, e)
		}
	}
	want := slices.Repeat([]domain.AuthEvent{{Type: domain.EventPasswordChangeFailed, UserID: u.ID(), SessionID: tp.SessionID, Client: thief, At: t0}}, 3)
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("password_change_failed events (-want +got):\n%s", diff)
	}
}

// Property 4: a right current password does not count.
func TestRightCurrentPasswordsDoNotCount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "hal@example.com", goodPassword)
	tp := f.mustLogin(t, "hal@example.com", goodPassword, domain.ClientInfo{})
	passwords := []string{goodPassword, otherPassword}
	for i := range 10 {
		err := f.changePassword().Do(t.Context(), f.principal(t, tp), application.ChangePasswordInput{
			CurrentPassword: passwords[i%2], NewPassword: passwords[(i+1)%2], Client: domain.NewClientInfo("", "192.0.2.5"),
		})
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
}

// Property 5: a refusal is the same for an existing and an unknown
// account, by the pair's limit and by the account's budget.
func TestRefusalsAreAlikeForExistingAndUnknownAccounts(t *testing.T) {
	t.Parallel()
	// answer is everything a refused login shows: its error (the HTTP edge
	// answers from it alone) and what it cost.
	type answer struct {
		Refusal   domain.RateLimitError
		HashCalls [3]int64
	}
	refusal := func(t *testing.T, email string, spread bool) answer {
		f := newFixture(t)
		f.limitTo(t, domain.DefaultLimitPolicy)
		f.mustRegister(t, "ivo@example.com", goodPassword)
		failures, ip := 5, "198.51.100.0"
		if spread {
			failures, ip = 50, "192.0.2.1"
		}
		for i := range failures {
			f.wantLogin(t, email, otherPassword, fmt.Sprintf("198.51.100.%d", i/5), domain.ErrInvalidCredentials)
			f.clock.Advance(time.Second)
		}
		before := f.hasher.calls()
		rl := rateLimited(t, f.tryLogin(t, email, goodPassword, ip))
		after := f.hasher.calls()
		return answer{Refusal: *rl, HashCalls: [3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}}
	}
	for _, tt := range []struct {
		name   string
		spread bool
	}{{"per account and IP", false}, {"account budget", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			existing, unknown := refusal(t, "ivo@example.com", tt.spread), refusal(t, "nobody@example.com", tt.spread)
			if diff := cmp.Diff(existing, unknown); diff != "" {
				t.Errorf("refusal for an existing account (-) and an unknown one (+):\n%s", diff)
			}
		})
	}
}

// Property 5: registrations, 10 per minute per IP, whatever their outcome.
func TestRegisterLimitPerIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	register := func(email, ip string) error {
		_, err := f.register().Do(t.Context(), application.RegisterInput{Email: email, Password: goodPassword, Client: domain.NewClientInfo("", ip)})
		return err
	}
	for i := range 10 {
		email := fmt.Sprintf("r%d@example.com", i)
		if i == 3 {
			email = "not an email" // refused, and counted
		}
		if err := register(email, "203.0.113.7"); errors.Is(err, domain.ErrRateLimited) {
			t.Fatalf("registration %d refused", i)
		}
		f.clock.Advance(time.Second)
	}
	hashes := f.hasher.hashes.Load()
	rl := rateLimited(t, register("r10@example.com", "203.0.113.7"))
	if rl.RetryAfter != 50*time.Second {
		t.Errorf("RetryAfter = %s, want 50s", rl.RetryAfter)
	}
	if got := f.hasher.hashes.Load(); got != hashes {
		t.Error("a refused registration hashed the password")
	}
	if err := register("r10@example.com", "203.0.113.8"); err != nil {
		t.Errorf("registration from another IP: %v", err)
	}
	f.clock.Advance(rl.RetryAfter)
	if err := register("r11@example.com", "203.0.113.7"); err != nil {
		t.Errorf("registration after Retry-After: %v", err)
	}
}

// A refusal is audited as rate_limited once per block, not per attempt,
// naming the account when it exists.
func TestRefusalsAreAuditedOncePerBlock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.limitTo(t, domain.DefaultLimitPolicy)
	u := f.mustRegister(t, "jo@example.com", goodPassword)
	for range 5 {
		f.wantLogin(t, "jo@example.com", otherPassword, "192.0.2.40", domain.ErrInvalidCredentials)
	}
	for range 100 {
		f.wantLogin(t, "jo@example.com", otherPassword, "192.0.2.40", domain.ErrRateLimited)
	}
	// An unknown account's refusals are audited alike, without a user.
	for range 5 {
		f.wantLogin(t, "ghost@example.com", otherPassword, "192.0.2.40", domain.ErrInvalidCredentials)
	}
	for range 100 {
		f.wantLogin(t, "ghost@example.com", otherPassword, "192.0.2.40", domain.ErrRateLimited)
	}
	var got []domain.AuthEvent
	for _, e := range f.events(t, 0) {
		if e.Type == domain.EventRateLimited {
			e.ID = 0
			got = append(got, e)
		}
	}
	client := domain.NewClientInfo("test", "192.0.2.40")
	want := []domain.AuthEvent{
		{Type: domain.EventRateLimited, UserID: u.ID(), Client: client, At: t0},
		{Type: domain.EventRateLimited, UserID: 0, Client: client, At: t0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rate_limited events (-want +got):\n%s", diff)
	}
	// A new block is audited again.
	f.clock.Advance(15 * time.Minute)
	for range 5 {
		f.wantLogin(t, "jo@example.com", otherPassword, "192.0.2.40", domain.ErrInvalidCredentials)
	}
	f.wantLogin(t, "jo@example.com", otherPassword, "192.0.2.40", domain.ErrRateLimited)
	f.wantLogin(t, "jo@example.com", otherPassword, "192.0.2.40", domain.ErrRateLimited)
	if n := f.countEvents(t, domain.EventRateLimited); n != 3 {
		t.Errorf("%d rate_limited events after three blocks, want 3", n)
	}
}

// The limits fail closed: when the limiter cannot be reached, no password
// is checked.
func TestLimiterOutageRefusesLogins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.limitTo(t, domain.DefaultLimitPolicy)
	f.mustRegister(t, "kim@example.com", goodPassword)
	l.SetUnavailable(true)
	before := f.hasher.calls()
	f.wantLogin(t, "kim@example.com", goodPassword, "192.0.2.1", ports.ErrUnavailable)
	if _, err := f.register().Do(t.Context(), application.RegisterInput{Email: "lee@example.com", Password: goodPassword}); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("register during the outage: %v, want ErrUnavailable", err)
	}
	if got := f.hasher.calls(); got != before {
		t.Errorf("the hasher was used during the outage: %v → %v", before, got)
	}
	l.SetUnavailable(false)
	f.wantLogin(t, "kim@example.com", goodPassword, "192.0.2.1", nil)
}

// Property 6, the off switch: NoLimits admits everything.
func TestNoLimitsAdmitsEverything(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustRegister(t, "max@example.com", goodPassword)
	for range 200 {
		f.wantLogin(t, "max@example.com", otherPassword, "192.0.2.1", domain.ErrInvalidCredentials)
	}
	f.wantLogin(t, "max@example.com", goodPassword, "192.0.2.1", nil)
	for i := range 30 {
		if _, err := f.register().Do(t.Context(), application.RegisterInput{Email: fmt.Sprintf("n%d@example.com", i), Password: goodPassword}); err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
}
