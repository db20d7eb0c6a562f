package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.Limiter = (*Limiter)(nil)

// Limiter implements ports.Limiter on PostgreSQL, so that every instance on
// the database shares the counters. A counter is a row of the UNLOGGED table
// limit_counters: per scope and key, the times of the counted attempts
// inside the window, newest first, at most twice the limit (the limit's
// worth decides; the rest absorbs attempts that a limit exempts or that
// raced each other). An attempt is over a limit of max per window when the
// max-th newest hit is inside the window, and is admitted again when that
// hit leaves it: a sliding window with an exact Retry-After.
//
// Each call is one prepared statement: AdmitPassword and AdmitRegistration
// decide and count at once, SettlePassword of a success takes the count
// back and remembers the IP in known_ips, and a failure costs nothing more.
type Limiter struct {
	db     *bun.DB
	policy domain.LimitPolicy

	admitPassword     *preparedStmt
	admitRegistration *preparedStmt
	admitMail         *preparedStmt
	succeeded         *preparedStmt
	aborted           *preparedStmt
}

// NewLimiter returns a Limiter enforcing p on db, or an error when p is not
// valid.
func NewLimiter(db *bun.DB, p domain.LimitPolicy) (*Limiter, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Limiter{
		db:                db,
		policy:            p,
		admitPassword:     newPreparedStmt(db.DB, admitPasswordSQL),
		admitRegistration: newPreparedStmt(db.DB, admitRegistrationSQL),
		admitMail:         newPreparedStmt(db.DB, admitMailSQL),
		succeeded:         newPreparedStmt(db.DB, passwordSucceededSQL),
		aborted:           newPreparedStmt(db.DB, passwordAbortedSQL),
	}, nil
}

// admitPasswordSQL admits a password attempt through limit_admit (see its
// migration): $1 the time, $2 the account, $3 the IP key, $4/$5 the limit
// per account and IP, $6/$7 per account, $8/$9 per IP (max, window), $10
// the time after which a login makes the IP known to the account, which
// exempts it from the account's budget. It answers when the attempt may be
// retried (NULL: admitted) and whether a block's first refusal was noted.
const admitPasswordSQL = `SELECT until, first_refusal FROM limit_admit($1::timestamptz,
		ARRAY['` + scopePasswordPair + `', '` + scopePasswordAccount + `', '` + scopePasswordIP + `']::varchar[],
		ARRAY[$2::varchar || ' ' || $3::varchar, $2::varchar, $3::varchar],
		ARRAY[$4::int, $6::int, $8::int],
		ARRAY[$5::interval, $7::interval, $9::interval],
		ARRAY[false, EXISTS (SELECT 1 FROM known_ips
			WHERE account = $2::varchar AND ip = $3::varchar AND succeeded_at > $10::timestamptz), false])`

// admitRegistrationSQL admits a registration: $1 the time, $2 the IP key,
// $3/$4 the limit (max, window).
const admitRegistrationSQL = `SELECT until, first_refusal FROM limit_admit($1::timestamptz,
		ARRAY['` + scopeRegistrationIP + `']::varchar[], ARRAY[$2::varchar], ARRAY[$3::int], ARRAY[$4::interval], ARRAY[false])`

// admitMailSQL admits a request for a mailed link, or a mail to an
// address: $1 the time, $2 the scope (mail_ip or mail_address), $3 the key
// (the purpose, a space and the IP key or the address), $4/$5 the limit
// (max, window).
const admitMailSQL = `SELECT until, first_refusal FROM limit_admit($1::timestamptz,
		ARRAY[$2::varchar], ARRAY[$3::varchar], ARRAY[$4::int], ARRAY[$5::interval], ARRAY[false])`

// refundSQL removes one occurrence of the attempt's time $1 from the
// counters of account $2 and IP key $3.
const refundSQL = `UPDATE limit_counters AS c
		SET hits = c.hits[:array_position(c.hits, $1::timestamptz) - 1] || c.hits[array_position(c.hits, $1::timestamptz) + 1:]
		WHERE (c.scope, c.key) IN (('` + scopePasswordPair + `', $2::varchar || ' ' || $3::varchar),
			('` + scopePasswordAccount + `', $2::varchar), ('` + scopePasswordIP + `', $3::varchar))
		AND $1::timestamptz = ANY (c.hits)`

// passwordAbortedSQL takes back the count of an attempt without a verdict.
const passwordAbortedSQL = refundSQL

// passwordSucceededSQL takes back the count of a successful attempt,
// remembers that IP key $3 logged in to account $2 at $1, and forgets the
// account's other IPs that logged in at or before $4 or are not among the
// $5 - 1 most recent others. known_ips is WAL-logged, but the statement
// commits without waiting for the WAL to reach the disk (it sets
// synchronous_commit off for its own transaction): a crash may forget the
// last moment's logins, and no login waits for a flush on their account.
const passwordSucceededSQL = `WITH async AS (
		SELECT set_config('synchronous_commit', 'off', true)
	), refund AS (` + refundSQL + `
	), remember AS (
		INSERT INTO known_ips AS k (account, ip, succeeded_at)
		SELECT $2::varchar, $3::varchar, $1::timestamptz FROM async
		ON CONFLICT (account, ip) DO UPDATE SET succeeded_at = greatest(k.succeeded_at, EXCLUDED.succeeded_at)
	)
	DELETE FROM known_ips AS k
	WHERE k.account = $2::varchar AND k.ip <> $3::varchar
	  AND (k.succeeded_at <= $4::timestamptz OR k.ip NOT IN (
		SELECT ip FROM known_ips WHERE account = $2::varchar AND ip <> $3::varchar
		ORDER BY succeeded_at DESC LIMIT $5::int - 1))`

// The scopes of limit_counters.
const (
	scopePasswordPair    = "password_pair"
	scopePasswordAccount = "password_account"
	scopePasswordIP      = "password_ip"
	scopeRegistrationIP  = "registration_ip"
	scopeMailIP          = "mail_ip"
	scopeMailAddress     = "mail_address"
	scopePasskeyIP       = "passkey_ip"
)

// interval spells d for a $n::interval parameter.
func interval(d time.Duration) string { return fmt.Sprintf("%d microseconds", d.Microseconds()) }

// AdmitPassword refuses a with a *domain.RateLimitError when one of its
// counters is at its limit, and otherwise counts it on every counter.
func (l *Limiter) AdmitPassword(ctx context.Context, a domain.PasswordAttempt) error {
	p := l.policy
	return l.admit(ctx, l.admitPassword, a.At(), "admit password attempt",
		a.At(), a.Account().String(), a.IP(),
		p.PerAccountIP.Max, interval(p.PerAccountIP.Window),
		p.PerAccount.Max, interval(p.PerAccount.Window),
		p.PerIP.Max, interval(p.PerIP.Window),
		a.At().Add(-p.KnownIPTTL))
}

// AdmitRegistration refuses a registration from client with a
// *domain.RateLimitError when its IP is at its limit, and otherwise counts it.
func (l *Limiter) AdmitRegistration(ctx context.Context, client domain.ClientInfo, now time.Time) error {
	now = now.Truncate(time.Microsecond)
	r := l.policy.Registrations
	return l.admit(ctx, l.admitRegistration, now, "admit registration",
		now, client.LimitKey(), r.Max, interval(r.Window))
}

// AdmitMailRequest refuses a request for a link of purpose p from client
// with a *domain.RateLimitError when its IP is at its limit, and otherwise
// counts it.
func (l *Limiter) AdmitMailRequest(ctx context.Context, p domain.TokenPurpose, client domain.ClientInfo, now time.Time) error {
	now = now.Truncate(time.Microsecond)
	m := l.policy.MailRequestsPerIP
	return l.admit(ctx, l.admitMail, now, "admit mail request",
		now, scopeMailIP, string(p)+" "+client.LimitKey(), m.Max, interval(m.Window))
}

// AdmitPasskeyCeremony refuses a passwordless sign-in from client with a
// *domain.RateLimitError when its IP is at its limit, and otherwise counts
// it. It shares admitMail's statement: one scope and key per call.
func (l *Limiter) AdmitPasskeyCeremony(ctx context.Context, client domain.ClientInfo, now time.Time) error {
	now = now.Truncate(time.Microsecond)
	m := l.policy.PasskeyCeremoniesPerIP
	return l.admit(ctx, l.admitMail, now, "admit passkey ceremony",
		now, scopePasskeyIP, client.LimitKey(), m.Max, interval(m.Window))
}

// AdmitMailTo refuses a link of purpose p to address with a
// *domain.RateLimitError when the address is at its limit, and otherwise
// counts it.
func (l *Limiter) AdmitMailTo(ctx context.Context, p domain.TokenPurpose, address domain.Email, now time.Time) error {
	now = now.Truncate(time.Microsecond)
	m := l.policy.MailsPerAddress
	return l.admit(ctx, l.admitMail, now, "admit mail",
		now, scopeMailAddress, string(p)+" "+address.String(), m.Max, interval(m.Window))
}

func (l *Limiter) admit(ctx context.Context, p *preparedStmt, now time.Time, op string, args ...any) error {
	stmt, err := p.get(ctx)
	if err != nil {
		return dbErr(op, err)
	}
	var until sql.NullTime
	var first bool
	if err := stmt.QueryRowContext(ctx, args...).Scan(&until, &first); err != nil {
		return dbErr(op, err)
	}
	if until.Valid {
		return &domain.RateLimitError{RetryAfter: until.Time.Sub(now), FirstRefusal: first}
	}
	return nil
}

// SettlePassword takes back the failure AdmitPassword counted unless the
// attempt failed, and remembers the IP of a successful one.
func (l *Limiter) SettlePassword(ctx context.Context, a domain.PasswordAttempt, o domain.AttemptOutcome) error {
	var p *preparedStmt
	args := []any{a.At(), a.Account().String(), a.IP()}
	switch o {
	case domain.AttemptFailed:
		return nil
	case domain.AttemptSucceeded:
		p = l.succeeded
		args = append(args, a.At().Add(-l.policy.KnownIPTTL), l.policy.KnownIPsPerAccount)
	default:
		p = l.aborted
	}
	stmt, err := p.get(ctx)
	if err == nil {
		_, err = stmt.ExecContext(ctx, args...)
	}
	if err != nil {
		return dbErr("settle password attempt", err)
	}
	return nil
}

// pruneBatch bounds the rows one pruning statement deletes, so that no
// statement holds many row locks for long.
const pruneBatch = 1000

// Prune deletes, in batches, the counters that expired by now and the known
// IPs that logged in at or before now minus KnownIPTTL, and returns how many
// rows it deleted. Expired rows change no decision; pruning only keeps the
// tables small. Several instances may prune at once: each batch skips the
// rows another holds. The Janitor prunes the same rows with the same
// statements.
func (l *Limiter) Prune(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, t := range limiterPruneTasks(l.policy.KnownIPTTL) {
		n, err := runPruneTask(ctx, l.db, t, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
