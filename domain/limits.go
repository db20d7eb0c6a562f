package domain

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Limit allows at most Max counted attempts in any window of length Window
// (a sliding window, not one aligned to the clock).
type Limit struct {
	Max    int
	Window time.Duration
}

// String spells the limit as configured, "5/15m0s".
func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.Max, l.Window) }

// LimitPolicy holds the thresholds of the abuse limits. Password checks
// (logins, and the current password of a password change) are counted only
// when they fail; registrations are counted whatever their outcome.
type LimitPolicy struct {
	// PerAccountIP bounds the failed password checks of one account from
	// one client IP. Every limit keys IPs by ClientInfo.LimitKey: IPv4
	// addresses whole, IPv6 addresses by their /64.
	PerAccountIP Limit
	// PerAccount bounds the failed password checks of one account from
	// every IP together. IPs that logged in to the account within
	// KnownIPTTL are not held to it, so that guessing cannot lock the owner
	// out.
	PerAccount Limit
	// PerIP bounds the failed password checks of one IP across every
	// account (credential stuffing).
	PerIP Limit
	// KnownIPTTL is how long an IP that logged in to an account stays
	// exempt from the account's budget.
	KnownIPTTL time.Duration
	// KnownIPsPerAccount bounds how many such IPs are remembered per
	// account; the one that logged in least recently is forgotten first.
	KnownIPsPerAccount int
	// Registrations bounds the registrations of one IP.
	Registrations Limit
	// MailRequestsPerIP bounds the requests of one IP that ask for a
	// mailed link (a password reset, a verification, an email change),
	// counted per purpose, whatever their outcome.
	MailRequestsPerIP Limit
	// MailsPerAddress bounds the links of one purpose mailed to one
	// address on request. Past it requests are still answered as
	// accepted, so the answer never says whether the address has an
	// account, but no more mail is sent.
	MailsPerAddress Limit
	// PasskeyCeremoniesPerIP bounds the passwordless sign-ins one IP
	// starts: each stores a WebAuthn ceremony before anyone is known.
	PasskeyCeremoniesPerIP Limit
}

// DefaultLimitPolicy is the policy authd runs with unless configured
// otherwise.
var DefaultLimitPolicy = LimitPolicy{
	PerAccountIP:       Limit{Max: 5, Window: 15 * time.Minute},
	PerAccount:         Limit{Max: 50, Window: time.Hour},
	PerIP:              Limit{Max: 100, Window: time.Hour},
	KnownIPTTL:         30 * 24 * time.Hour,
	KnownIPsPerAccount: 20,
	Registrations:      Limit{Max: 10, Window: time.Minute},
	MailRequestsPerIP:  Limit{Max: 30, Window: time.Hour},
	MailsPerAddress:    Limit{Max: 5, Window: time.Hour},
	// A sign-in starts one ceremony; a browser retrying is far below.
	PasskeyCeremoniesPerIP: Limit{Max: 60, Window: time.Minute},
}

// MaxLimitAttempts bounds Limit.Max: a limiter keeps up to twice that many
// attempt times per key.
const MaxLimitAttempts = 10_000

// Validate reports the first threshold of p that no limiter can enforce.
func (p LimitPolicy) Validate() error {
	for _, l := range []struct {
		name string
		l    Limit
	}{
		{"per account and IP", p.PerAccountIP},
		{"per account", p.PerAccount},
		{"per IP", p.PerIP},
		{"registrations", p.Registrations},
		{"mail requests per IP", p.MailRequestsPerIP},
		{"mails per address", p.MailsPerAddress},
		{"passkey ceremonies per IP", p.PasskeyCeremoniesPerIP},
	} {
		if l.l.Max < 1 || l.l.Max > MaxLimitAttempts || l.l.Window < time.Microsecond {
			return fmt.Errorf("domain: limit %s %s: want 1 to %d attempts per a positive window", l.name, l.l, MaxLimitAttempts)
		}
	}
	if p.KnownIPTTL < time.Microsecond || p.KnownIPsPerAccount < 1 {
		return errors.New("domain: known IPs need a positive lifetime and a positive number per account")
	}
	return nil
}

// LimitKey returns the key the abuse limits count the client under: its
// IPv4 address, or the /64 network of its IPv6 address, since one
// subscriber usually holds a whole /64 and could otherwise take a fresh
// address for every attempt. An IPv4-mapped IPv6 address counts as IPv4,
// and an IP that does not parse is its own key. Sessions and the audit
// trail keep the full address.
func (c ClientInfo) LimitKey() string {
	a, err := netip.ParseAddr(c.ip)
	if err != nil {
		return c.ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return c.ip
	}
	return p.String()
}

// PasswordAttempt is one check of an account's password by a client, as the
// abuse limits count it. The account is the normalised email, not the user,
// so that attempts on existing and unknown accounts are counted, and
// refused, alike.
type PasswordAttempt struct {
	account Email
	ip      string
	at      time.Time
}

// NewPasswordAttempt returns the attempt of client on account at at, which
// is kept to the microsecond as the counters store it, so that settling the
// attempt finds the time its admission counted.
func NewPasswordAttempt(account Email, client ClientInfo, at time.Time) PasswordAttempt {
	return PasswordAttempt{account: account, ip: client.LimitKey(), at: at.Truncate(time.Microsecond)}
}

// Account returns the email the attempt named.
func (a PasswordAttempt) Account() Email { return a.account }

// IP returns the client's limit key (see ClientInfo.LimitKey).
func (a PasswordAttempt) IP() string { return a.ip }

// At returns when the attempt was made.
func (a PasswordAttempt) At() time.Time { return a.at }

// AttemptOutcome is how an admitted password attempt ended.
type AttemptOutcome int

const (
	// AttemptFailed means the password was wrong, or the account may not
	// use it (disabled). It is the zero value, so that an outcome left
	// unset counts.
	AttemptFailed AttemptOutcome = iota
	// AttemptSucceeded means the password was right and the operation it
	// guarded (a login, a password change) was carried out.
	AttemptSucceeded
	// AttemptAborted means the attempt ended without a verdict on the
	// password (the database or the hasher was unavailable, the request was
	// cancelled); it counts neither way.
	AttemptAborted
)

// RateLimitError refuses an attempt over an abuse limit. It matches
// ErrRateLimited with errors.Is. Its answer is the same whether or not the
// account exists.
type RateLimitError struct {
	// RetryAfter is how long until the attempt would be admitted, provided
	// nothing else is counted meanwhile (refused attempts are not).
	RetryAfter time.Duration
	// FirstRefusal is true for the first refusal by a limit since its key
	// went over it, and false for the repeats: a flood of refused attempts
	// is worth one audit event per key and block, not one per attempt.
	FirstRefusal bool
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }
