package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"authd/domain"
	"authd/ports"
)

// Limiter implements ports.Limiter in process memory, with the same
// counting as the PostgreSQL limiter: per key, the times of its recent
// counted attempts, newest first, at most twice the limit of them and none
// older than the window. It serves tests; its state is one process's.
type Limiter struct {
	policy domain.LimitPolicy

	mu       sync.Mutex
	down     bool
	counters map[counterKey]*counter
	// known holds, per account, when each IP last logged in to it.
	known map[string]map[string]time.Time
}

var _ ports.Limiter = (*Limiter)(nil)

// The scopes of the counters; each counts under its own keys.
const (
	scopePasswordPair    = "password_pair"
	scopePasswordAccount = "password_account"
	scopePasswordIP      = "password_ip"
	scopeRegistrationIP  = "registration_ip"
	scopeMailIP          = "mail_ip"
	scopePasskeyIP       = "passkey_ip"
	scopeMailAddress     = "mail_address"
)

type counterKey struct{ scope, key string }

type counter struct {
	hits []time.Time // newest first
	// refusedUntil is the end, as known at the time, of the block whose
	// first refusal was reported.
	refusedUntil time.Time
	// expiresAt is the newest hit plus the window: then the counter holds
	// nothing that matters.
	expiresAt time.Time
}

// limited is one counter an attempt is checked against.
type limited struct {
	key    counterKey
	limit  domain.Limit
	exempt bool
}

// NewLimiter returns an empty Limiter enforcing p, or an error when p is not
// valid.
func NewLimiter(p domain.LimitPolicy) (*Limiter, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	return &Limiter{policy: p, counters: map[counterKey]*counter{}, known: map[string]map[string]time.Time{}}, nil
}

// SetUnavailable makes every call fail with an error wrapping
// ports.ErrUnavailable while down is true.
func (l *Limiter) SetUnavailable(down bool) {
	l.mu.Lock()
	l.down = down
	l.mu.Unlock()
}

func (l *Limiter) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return fmt.Errorf("memory: limiter: %w", ports.ErrUnavailable)
	}
	return nil
}

// passwordCounters are the counters of a password attempt.
func (l *Limiter) passwordCounters(a domain.PasswordAttempt) []limited {
	account := a.Account().String()
	return []limited{
		{key: counterKey{scopePasswordPair, account + " " + a.IP()}, limit: l.policy.PerAccountIP},
		{key: counterKey{scopePasswordAccount, account}, limit: l.policy.PerAccount, exempt: l.isKnown(account, a.IP(), a.At())},
		{key: counterKey{scopePasswordIP, a.IP()}, limit: l.policy.PerIP},
	}
}

// isKnown reports whether ip logged in to account within KnownIPTTL of now.
func (l *Limiter) isKnown(account, ip string, now time.Time) bool {
	at, ok := l.known[account][ip]
	return ok && at.After(now.Add(-l.policy.KnownIPTTL))
}

// AdmitPassword refuses a when one of its counters is at its limit, and
// otherwise counts it on every counter.
func (l *Limiter) AdmitPassword(ctx context.Context, a domain.PasswordAttempt) error {
	if err := l.lock(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	return l.admitLocked(l.passwordCounters(a), a.At())
}

// AdmitRegistration refuses a registration from a client at its limit, and
// otherwise counts it.
func (l *Limiter) AdmitRegistration(ctx context.Context, client domain.ClientInfo, now time.Time) error {
	return l.admitOne(ctx, counterKey{scopeRegistrationIP, client.LimitKey()}, l.policy.Registrations, now)
}

// AdmitMailRequest refuses a request for a link of purpose p from a client
// at its limit, and otherwise counts it.
func (l *Limiter) AdmitMailRequest(ctx context.Context, p domain.TokenPurpose, client domain.ClientInfo, now time.Time) error {
	return l.admitOne(ctx, counterKey{scopeMailIP, string(p) + " " + client.LimitKey()}, l.policy.MailRequestsPerIP, now)
}

// AdmitPasskeyCeremony refuses a passwordless sign-in from a client at its
// limit, and otherwise counts it.
func (l *Limiter) AdmitPasskeyCeremony(ctx context.Context, client domain.ClientInfo, now time.Time) error {
	return l.admitOne(ctx, counterKey{scopePasskeyIP, client.LimitKey()}, l.policy.PasskeyCeremoniesPerIP, now)
}

// AdmitMailTo refuses a link of purpose p to an address at its limit, and
// otherwise counts it.
func (l *Limiter) AdmitMailTo(ctx context.Context, p domain.TokenPurpose, address domain.Email, now time.Time) error {
	return l.admitOne(ctx, counterKey{scopeMailAddress, string(p) + " " + address.String()}, l.policy.MailsPerAddress, now)
}

// admitOne admits an attempt held to the one counter key under limit.
func (l *Limiter) admitOne(ctx context.Context, key counterKey, limit domain.Limit, now time.Time) error {
	if err := l.lock(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	return l.admitLocked([]limited{{key: key, limit: limit}}, micro(now))
}

// admitLocked returns a *domain.RateLimitError when a counter that is not
// exempt has limit.Max hits in the window ending at now; the attempt may go
// ahead once the Max-th newest of them leaves the window. Otherwise it adds
// now to every counter.
func (l *Limiter) admitLocked(cs []limited, now time.Time) error {
	var until time.Time
	first := false
	for _, c := range cs {
		cur := l.counters[c.key]
		if c.exempt || cur == nil || len(cur.hits) < c.limit.Max || !cur.hits[c.limit.Max-1].After(now.Add(-c.limit.Window)) {
			continue
		}
		end := cur.hits[c.limit.Max-1].Add(c.limit.Window)
		until = later(until, end)
		if !cur.refusedUntil.After(now) {
			cur.refusedUntil, first = end, true
		}
	}
	if !until.IsZero() {
		return &domain.RateLimitError{RetryAfter: until.Sub(now), FirstRefusal: first}
	}
	for _, c := range cs {
		cur := l.counters[c.key]
		if cur == nil {
			cur = &counter{}
			l.counters[c.key] = cur
		}
		cutoff := now.Add(-c.limit.Window)
		hits := slices.DeleteFunc(append(cur.hits, now), func(h time.Time) bool { return !h.After(cutoff) })
		slices.SortStableFunc(hits, func(a, b time.Time) int { return b.Compare(a) })
		cur.hits = hits[:min(len(hits), 2*c.limit.Max)]
		cur.expiresAt = later(cur.expiresAt, now.Add(c.limit.Window))
	}
	return nil
}

// SettlePassword takes back the failure AdmitPassword counted unless the
// attempt failed, and remembers the IP of a successful one.
func (l *Limiter) SettlePassword(ctx context.Context, a domain.PasswordAttempt, o domain.AttemptOutcome) error {
	if o == domain.AttemptFailed {
		return nil
	}
	if err := l.lock(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	for _, c := range l.passwordCounters(a) {
		if cur := l.counters[c.key]; cur != nil {
			if i := slices.IndexFunc(cur.hits, a.At().Equal); i >= 0 {
				cur.hits = slices.Delete(cur.hits, i, i+1)
			}
		}
	}
	if o == domain.AttemptSucceeded {
		l.rememberLocked(a)
	}
	return nil
}

// rememberLocked records that a's IP logged in to its account, and forgets
// the account's other IPs that are past KnownIPTTL or beyond the
// KnownIPsPerAccount most recent.
func (l *Limiter) rememberLocked(a domain.PasswordAttempt) {
	account := a.Account().String()
	ips := l.known[account]
	if ips == nil {
		ips = map[string]time.Time{}
		l.known[account] = ips
	}
	ips[a.IP()] = later(ips[a.IP()], a.At())
	type seen struct {
		ip string
		at time.Time
	}
	var others []seen
	for ip, at := range ips {
		if ip != a.IP() {
			others = append(others, seen{ip, at})
		}
	}
	slices.SortFunc(others, func(x, y seen) int { return y.at.Compare(x.at) })
	for i, s := range others {
		if i >= l.policy.KnownIPsPerAccount-1 || !s.at.After(a.At().Add(-l.policy.KnownIPTTL)) {
			delete(ips, s.ip)
		}
	}
}

// Prune deletes the counters that expired by now and the known IPs past
// KnownIPTTL, and returns how many entries it deleted. Expired entries
// change no decision; pruning only bounds memory.
func (l *Limiter) Prune(ctx context.Context, now time.Time) (int, error) {
	if err := l.lock(ctx); err != nil {
		return 0, err
	}
	defer l.mu.Unlock()
	n := 0
	for k, c := range l.counters {
		if !c.expiresAt.After(now) {
			delete(l.counters, k)
			n++
		}
	}
	for account, ips := range l.known {
		for ip, at := range ips {
			if !at.After(now.Add(-l.policy.KnownIPTTL)) {
				delete(ips, ip)
				n++
			}
		}
		if len(ips) == 0 {
			delete(l.known, account)
		}
	}
	return n, nil
}

// Len returns how many counters and known IPs the limiter holds.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.counters)
	for _, ips := range l.known {
		n += len(ips)
	}
	return n
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
