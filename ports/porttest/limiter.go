package porttest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authd/domain"
	"authd/ports"
)

// Limits is a limiter over one isolated store, with the adapter operations
// the Limiter suite checks beside the port.
type Limits struct {
	Limiter ports.Limiter
	// Prune deletes what expired by now and returns how many entries
	// (counters and known IPs) it deleted.
	Prune func(ctx context.Context, now time.Time) (int, error)
	// Entries counts the counters and known IPs stored.
	Entries func(t *testing.T) int
}

// wide is a policy whose limits no subtest reaches unless it lowers them.
var wide = domain.LimitPolicy{
	PerAccountIP:           domain.Limit{Max: 1000, Window: time.Hour},
	PerAccount:             domain.Limit{Max: 1000, Window: time.Hour},
	PerIP:                  domain.Limit{Max: 1000, Window: time.Hour},
	KnownIPTTL:             30 * 24 * time.Hour,
	KnownIPsPerAccount:     20,
	Registrations:          domain.Limit{Max: 1000, Window: time.Hour},
	MailRequestsPerIP:      domain.Limit{Max: 1000, Window: time.Hour},
	MailsPerAddress:        domain.Limit{Max: 1000, Window: time.Hour},
	PasskeyCeremoniesPerIP: domain.Limit{Max: 1000, Window: time.Hour},
}

// limiterDriver makes password attempts against one limiter.
type limiterDriver struct {
	t *testing.T
	l ports.Limiter
}

func (d limiterDriver) attempt(email, ip string, at time.Time) domain.PasswordAttempt {
	return domain.NewPasswordAttempt(domain.MustParseEmail(email), domain.NewClientInfo("", ip), at)
}

// admit returns AdmitPassword's refusal, nil when admitted; other errors
// fail the test.
func (d limiterDriver) admit(email, ip string, at time.Time) *domain.RateLimitError {
	d.t.Helper()
	err := d.l.AdmitPassword(context.Background(), d.attempt(email, ip, at))
	return refusal(d.t, err)
}

// try admits an attempt that must be admitted and settles it with o.
func (d limiterDriver) try(email, ip string, at time.Time, o domain.AttemptOutcome) {
	d.t.Helper()
	if rl := d.admit(email, ip, at); rl != nil {
		d.t.Fatalf("attempt on %s from %s at %s refused (retry after %s)", email, ip, at.Sub(base), rl.RetryAfter)
	}
	if err := d.l.SettlePassword(context.Background(), d.attempt(email, ip, at), o); err != nil {
		d.t.Fatalf("SettlePassword: %v", err)
	}
}

func (d limiterDriver) fail(email, ip string, at time.Time) {
	d.t.Helper()
	d.try(email, ip, at, domain.AttemptFailed)
}
func (d limiterDriver) succeed(email, ip string, at time.Time) {
	d.t.Helper()
	d.try(email, ip, at, domain.AttemptSucceeded)
}

// refused fails the test unless an attempt is refused with a wait of
// retryAfter, and a first refusal exactly when first.
func (d limiterDriver) refused(email, ip string, at time.Time, retryAfter time.Duration, first bool) {
	d.t.Helper()
	rl := d.admit(email, ip, at)
	if rl == nil {
		d.t.Fatalf("attempt on %s from %s at %s admitted, want it refused", email, ip, at.Sub(base))
	}
	if rl.RetryAfter != retryAfter || rl.FirstRefusal != first {
		d.t.Errorf("attempt on %s from %s at %s: retry after %s, first refusal %v; want %s, %v",
			email, ip, at.Sub(base), rl.RetryAfter, rl.FirstRefusal, retryAfter, first)
	}
}

// admitted fails the test unless an attempt is admitted; it is then
// settled as aborted, so that it leaves nothing counted.
func (d limiterDriver) admitted(email, ip string, at time.Time) {
	d.t.Helper()
	d.try(email, ip, at, domain.AttemptAborted)
}

// refusal returns err as a *domain.RateLimitError, nil for nil, and fails
// the test for any other error.
func refusal(t *testing.T, err error) *domain.RateLimitError {
	t.Helper()
	if err == nil {
		return nil
	}
	rl, ok := errors.AsType[*domain.RateLimitError](err)
	if !ok || !errors.Is(err, domain.ErrRateLimited) {
		t.Fatalf("limiter: %v, want nil or a *domain.RateLimitError", err)
	}
	return rl
}

// Limiter runs the contract of ports.Limiter against the limiters
// newLimits returns, one over a fresh store per subtest, enforcing p.
func Limiter(t *testing.T, newLimits func(t *testing.T, p domain.LimitPolicy) Limits) {
	t.Helper()
	with := func(change func(p *domain.LimitPolicy)) domain.LimitPolicy {
		p := wide
		change(&p)
		return p
	}
	const ann, bob = "ann@example.com", "bob@example.com"

	t.Run("failures per account and IP", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerAccountIP = domain.Limit{Max: 3, Window: 10 * time.Minute}
		})).Limiter}
		for i := range 3 {
			d.fail(ann, "192.0.2.1", base.Add(time.Duration(i)*time.Minute))
		}
		// Admitted again when the first failure leaves the window, at +10m.
		d.refused(ann, "192.0.2.1", base.Add(3*time.Minute), 7*time.Minute, true)
		d.refused(ann, "192.0.2.1", base.Add(4*time.Minute), 6*time.Minute, false)
		d.refused(ann, "192.0.2.1", base.Add(10*time.Minute-time.Microsecond), time.Microsecond, false)
		// The account from another IP, and the IP for another account.
		d.admitted(ann, "192.0.2.2", base.Add(4*time.Minute))
		d.admitted(bob, "192.0.2.1", base.Add(4*time.Minute))
		// The window slides: one failure in, the next attempt waits for
		// the second failure to leave, and that is a new block.
		d.fail(ann, "192.0.2.1", base.Add(10*time.Minute))
		d.refused(ann, "192.0.2.1", base.Add(10*time.Minute), time.Minute, true)
		d.admitted(ann, "192.0.2.1", base.Add(11*time.Minute))
	})

	t.Run("successful and aborted attempts are not counted", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			limit := domain.Limit{Max: 2, Window: time.Hour}
			p.PerAccountIP, p.PerAccount, p.PerIP = limit, limit, limit
		})).Limiter}
		// All at one instant: taking a count back must take back one only.
		for range 5 {
			d.succeed(ann, "192.0.2.1", base)
			d.try(ann, "192.0.2.1", base, domain.AttemptAborted)
		}
		d.fail(ann, "192.0.2.1", base)
		d.succeed(ann, "192.0.2.1", base)
		d.fail(ann, "192.0.2.1", base)
		d.refused(ann, "192.0.2.1", base, time.Hour, true)
	})

	t.Run("refused attempts are not counted", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerIP = domain.Limit{Max: 2, Window: time.Hour}
		})).Limiter}
		d.fail(ann, "198.51.100.7", base)
		d.fail(bob, "198.51.100.7", base.Add(time.Minute))
		for i := range 20 {
			d.refused(ann, "198.51.100.7", base.Add(time.Duration(2+i)*time.Minute), time.Duration(58-i)*time.Minute, i == 0)
		}
		d.admitted(bob, "198.51.100.7", base.Add(time.Hour))
	})

	t.Run("failures per IP across accounts", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerIP = domain.Limit{Max: 3, Window: time.Hour}
		})).Limiter}
		for i, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			d.fail(email, "198.51.100.7", base.Add(time.Duration(i)*time.Second))
		}
		d.refused("d@example.com", "198.51.100.7", base.Add(time.Minute), time.Hour-time.Minute, true)
		d.admitted("d@example.com", "198.51.100.8", base.Add(time.Minute))
	})

	t.Run("IPv6 is counted by its /64", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerIP = domain.Limit{Max: 2, Window: time.Hour}
		})).Limiter}
		d.fail(ann, "2001:db8:0:1::1", base)
		d.fail(bob, "2001:db8:0:1::2", base)
		d.refused("cid@example.com", "2001:db8:0:1:ffff:ffff:ffff:9", base, time.Hour, true)
		d.admitted("cid@example.com", "2001:db8:0:2::1", base)
	})

	t.Run("the account budget spares the IPs that logged in", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerAccount = domain.Limit{Max: 3, Window: time.Hour}
		})).Limiter}
		d.succeed(ann, "203.0.113.1", base)
		for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			d.fail(ann, ip, base.Add(time.Duration(1+i)*time.Minute))
		}
		d.refused(ann, "192.0.2.4", base.Add(5*time.Minute), 56*time.Minute, true)
		d.refused(ann, "192.0.2.1", base.Add(5*time.Minute), 56*time.Minute, false)
		// The owner's IP gets in, and its failures count too.
		d.fail(ann, "203.0.113.1", base.Add(6*time.Minute))
		d.succeed(ann, "203.0.113.1", base.Add(7*time.Minute))
		// (now the second failure, at +2m, is the third newest)
		d.refused(ann, "192.0.2.4", base.Add(8*time.Minute), 54*time.Minute, false)
		// Other accounts are not affected.
		d.admitted(bob, "192.0.2.4", base.Add(8*time.Minute))
	})

	t.Run("known IPs expire", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerAccount = domain.Limit{Max: 2, Window: 24 * time.Hour}
			p.KnownIPTTL = time.Hour
		})).Limiter}
		d.succeed(ann, "203.0.113.1", base)
		d.fail(ann, "192.0.2.1", base.Add(time.Minute))
		d.fail(ann, "192.0.2.2", base.Add(time.Minute))
		d.admitted(ann, "203.0.113.1", base.Add(time.Hour-time.Microsecond))
		d.refused(ann, "203.0.113.1", base.Add(time.Hour), 23*time.Hour+time.Minute, true)
	})

	t.Run("known IPs are bounded per account", func(t *testing.T) {
		t.Parallel()
		d := limiterDriver{t, newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerAccount = domain.Limit{Max: 1, Window: time.Hour}
			p.KnownIPsPerAccount = 2
		})).Limiter}
		d.succeed(ann, "203.0.113.1", base)
		d.succeed(ann, "203.0.113.2", base.Add(time.Minute))
		d.succeed(ann, "203.0.113.1", base.Add(2*time.Minute))
		d.succeed(ann, "203.0.113.3", base.Add(3*time.Minute))
		d.fail(ann, "192.0.2.1", base.Add(4*time.Minute))
		// The two most recent are remembered; .2 logged in least recently.
		d.admitted(ann, "203.0.113.3", base.Add(5*time.Minute))
		d.admitted(ann, "203.0.113.1", base.Add(5*time.Minute))
		d.refused(ann, "203.0.113.2", base.Add(5*time.Minute), 59*time.Minute, true)
		// An IP known to one account is not known to another.
		d.fail(bob, "192.0.2.1", base.Add(4*time.Minute))
		d.refused(bob, "203.0.113.3", base.Add(5*time.Minute), 59*time.Minute, true)
	})

	t.Run("registrations per IP", func(t *testing.T) {
		t.Parallel()
		l := newLimits(t, with(func(p *domain.LimitPolicy) {
			p.Registrations = domain.Limit{Max: 2, Window: time.Minute}
		})).Limiter
		register := func(ip string, at time.Duration) *domain.RateLimitError {
			t.Helper()
			return refusal(t, l.AdmitRegistration(context.Background(), domain.NewClientInfo("", ip), base.Add(at)))
		}
		for _, at := range []time.Duration{0, 10 * time.Second} {
			if rl := register("192.0.2.9", at); rl != nil {
				t.Fatalf("registration at +%s refused", at)
			}
		}
		for _, r := range []struct {
			at, wait time.Duration
			first    bool
		}{{20 * time.Second, 40 * time.Second, true}, {30 * time.Second, 30 * time.Second, false}} {
			rl := register("192.0.2.9", r.at)
			if rl == nil || rl.RetryAfter != r.wait || rl.FirstRefusal != r.first {
				t.Errorf("registration at +%s: %+v, want a refusal to retry after %s (first %v)", r.at, rl, r.wait, r.first)
			}
		}
		if rl := register("192.0.2.10", 30*time.Second); rl != nil {
			t.Error("a registration from another IP was refused")
		}
		if rl := register("192.0.2.9", time.Minute); rl != nil {
			t.Errorf("registration after the first left the window: %+v", rl)
		}
		// Registrations and password attempts are counted apart.
		d := limiterDriver{t, l}
		d.admitted(ann, "192.0.2.9", base.Add(time.Minute))
	})

	t.Run("mail requests per IP and mails per address", func(t *testing.T) {
		t.Parallel()
		l := newLimits(t, with(func(p *domain.LimitPolicy) {
			p.MailRequestsPerIP = domain.Limit{Max: 3, Window: time.Hour}
			p.MailsPerAddress = domain.Limit{Max: 2, Window: 10 * time.Minute}
		})).Limiter
		ctx := context.Background()
		reset, verify := domain.PurposePasswordReset, domain.PurposeEmailVerification
		request := func(p domain.TokenPurpose, ip string, at time.Duration) *domain.RateLimitError {
			t.Helper()
			return refusal(t, l.AdmitMailRequest(ctx, p, domain.NewClientInfo("", ip), base.Add(at)))
		}
		mail := func(p domain.TokenPurpose, to string, at time.Duration) *domain.RateLimitError {
			t.Helper()
			return refusal(t, l.AdmitMailTo(ctx, p, domain.MustParseEmail(to), base.Add(at)))
		}
		for i := range 3 {
			if rl := request(reset, "192.0.2.7", time.Duration(i)*time.Minute); rl != nil {
				t.Fatalf("request %d refused", i)
			}
		}
		if rl := request(reset, "192.0.2.7", 5*time.Minute); rl == nil || rl.RetryAfter != 55*time.Minute || !rl.FirstRefusal {
			t.Errorf("fourth request: %+v, want a first refusal to retry after 55m", rl)
		}
		if rl := request(reset, "192.0.2.7", 6*time.Minute); rl == nil || rl.FirstRefusal {
			t.Errorf("fifth request: %+v, want a repeated refusal", rl)
		}
		// Each purpose, each IP, counts apart; IPv6 by its /64.
		if rl := request(verify, "192.0.2.7", 6*time.Minute); rl != nil {
			t.Error("a verification request was refused for the resets of its IP")
		}
		if rl := request(reset, "192.0.2.8", 6*time.Minute); rl != nil {
			t.Error("a request from another IP was refused")
		}
		for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"} {
			_ = request(reset, ip, 0)
		}
		if rl := request(reset, "2001:db8:1:2:ffff::9", 0); rl == nil {
			t.Error("a fourth request from one /64 was admitted")
		}
		if rl := request(reset, "192.0.2.7", time.Hour); rl != nil {
			t.Errorf("a request after the first left the window: %+v", rl)
		}

		for _, at := range []time.Duration{0, time.Minute} {
			if rl := mail(reset, ann, at); rl != nil {
				t.Fatalf("mail at +%s refused", at)
			}
		}
		if rl := mail(reset, ann, 2*time.Minute); rl == nil || rl.RetryAfter != 8*time.Minute {
			t.Errorf("third mail: %+v, want a refusal to retry after 8m", rl)
		}
		if rl := mail(verify, ann, 2*time.Minute); rl != nil {
			t.Error("a verification mail was refused for the resets of its address")
		}
		if rl := mail(reset, bob, 2*time.Minute); rl != nil {
			t.Error("a mail to another address was refused")
		}
		if rl := mail(reset, ann, 10*time.Minute); rl != nil {
			t.Errorf("a mail after the first left the window: %+v", rl)
		}
		// Mail limits and password limits count apart.
		limiterDriver{t, l}.admitted(ann, "192.0.2.7", base.Add(10*time.Minute))
	})

	t.Run("passkey ceremonies per IP", func(t *testing.T) {
		t.Parallel()
		l := newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PasskeyCeremoniesPerIP = domain.Limit{Max: 2, Window: time.Minute}
		})).Limiter
		ctx := context.Background()
		begin := func(ip string, at time.Duration) *domain.RateLimitError {
			t.Helper()
			return refusal(t, l.AdmitPasskeyCeremony(ctx, domain.NewClientInfo("", ip), base.Add(at)))
		}
		for i := range 2 {
			if rl := begin("192.0.2.20", time.Duration(i)*time.Second); rl != nil {
				t.Fatalf("ceremony %d refused", i)
			}
		}
		if rl := begin("192.0.2.20", 10*time.Second); rl == nil || rl.RetryAfter != 50*time.Second || !rl.FirstRefusal {
			t.Errorf("third ceremony: %+v, want a first refusal to retry after 50s", rl)
		}
		if rl := begin("192.0.2.21", 10*time.Second); rl != nil {
			t.Error("a ceremony from another IP was refused")
		}
		// Registrations from the same IP count apart.
		if err := l.AdmitRegistration(ctx, domain.NewClientInfo("", "192.0.2.20"), base.Add(10*time.Second)); err != nil {
			t.Errorf("a registration was refused for the ceremonies of its IP: %v", err)
		}
		if rl := begin("192.0.2.20", time.Minute); rl != nil {
			t.Errorf("a ceremony after the first left the window: %+v", rl)
		}
	})

	t.Run("concurrent admissions never exceed a limit", func(t *testing.T) {
		t.Parallel()
		l := newLimits(t, with(func(p *domain.LimitPolicy) {
			p.PerAccountIP = domain.Limit{Max: 5, Window: time.Hour}
			p.Registrations = domain.Limit{Max: 3, Window: time.Hour}
		})).Limiter
		const n = 30
		var logins, registrations atomic.Int64
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				at := base.Add(time.Duration(i) * time.Microsecond)
				a := domain.NewPasswordAttempt(domain.MustParseEmail(ann), domain.NewClientInfo("", "192.0.2.1"), at)
				err := l.AdmitPassword(context.Background(), a)
				if err == nil {
					logins.Add(1)
				} else if !errors.Is(err, domain.ErrRateLimited) {
					t.Errorf("AdmitPassword: %v", err)
				}
				err = l.AdmitRegistration(context.Background(), domain.NewClientInfo("", "192.0.2.1"), at)
				if err == nil {
					registrations.Add(1)
				} else if !errors.Is(err, domain.ErrRateLimited) {
					t.Errorf("AdmitRegistration: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if logins.Load() != 5 || registrations.Load() != 3 {
			t.Errorf("%d of %d concurrent logins and %d registrations admitted, want 5 and 3", logins.Load(), n, registrations.Load())
		}
	})

	t.Run("prune deletes what expired", func(t *testing.T) {
		t.Parallel()
		p := with(func(p *domain.LimitPolicy) {
			p.PerAccountIP = domain.Limit{Max: 1, Window: 15 * time.Minute}
			p.PerAccount = domain.Limit{Max: 1000, Window: time.Hour}
			p.KnownIPTTL = 24 * time.Hour
		})
		ls := newLimits(t, p)
		d := limiterDriver{t, ls.Limiter}
		d.succeed(bob, "203.0.113.1", base)                                                                 // 3 counters (emptied), 1 known IP
		d.fail(ann, "192.0.2.1", base)                                                                      // 3 more counters
		_ = ls.Limiter.AdmitRegistration(context.Background(), domain.NewClientInfo("", "192.0.2.1"), base) // 1 more
		prune := func(at time.Duration, want int) {
			t.Helper()
			n, err := ls.Prune(context.Background(), base.Add(at))
			if err != nil || n != want {
				t.Fatalf("Prune at +%s = %d, %v; want %d", at, n, err, want)
			}
		}
		if got := ls.Entries(t); got != 8 {
			t.Fatalf("%d entries stored, want 8", got)
		}
		prune(15*time.Minute-time.Microsecond, 0)
		d.refused(ann, "192.0.2.1", base.Add(15*time.Minute-time.Microsecond), time.Microsecond, true)
		prune(15*time.Minute, 2) // both pairs
		prune(time.Hour, 5)      // accounts, IPs, the registration
		if got := ls.Entries(t); got != 1 {
			t.Errorf("%d entries left, want the known IP", got)
		}
		prune(24*time.Hour, 1)
		if got := ls.Entries(t); got != 0 {
			t.Errorf("%d entries left, want none", got)
		}
	})
}
