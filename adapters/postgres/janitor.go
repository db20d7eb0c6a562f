package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// janitorLockKey is the pg_try_advisory_xact_lock key of the janitor (the
// bytes of "authdjan"): each batch holds it, so that one instance prunes
// at a time and the others skip their pass.
const janitorLockKey int64 = 0x617574686a616e

// ErrJanitorBusy is returned by Janitor.Pass when another instance is
// pruning; nothing is wrong, the pass is simply that instance's.
var ErrJanitorBusy = errors.New("postgres: another instance is pruning")

// Retention says how long rows that serve no purpose any more are kept.
type Retention struct {
	// PruneAfter is how long ended or expired sessions, expired refresh
	// tokens and sent or failed mail are kept: a rotated token must stay
	// long enough to be recognised as reused.
	PruneAfter time.Duration
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration
	// KnownIPTTL is how long a login makes its IP known to the account
	// (domain.LimitPolicy.KnownIPTTL).
	KnownIPTTL time.Duration
	// Batch bounds the rows one statement deletes; zero means pruneBatch.
	Batch int
	// Rest paces the janitor through a backlog: after a full batch it
	// waits Rest times as long as the batch took before the next, still
	// holding the janitor's lock so that no other instance prunes
	// meanwhile. Rest 4 keeps the janitor at work a fifth of the time; 0
	// prunes flat out.
	Rest float64
}

// pruneTask deletes one kind of row that has served its purpose: sql
// deletes at most $2 rows older than the cutoff $1, skipping rows another
// transaction holds.
type pruneTask struct {
	table  string
	sql    string
	cutoff func(now time.Time) time.Time
}

// before returns a cutoff d before now.
func before(d time.Duration) func(time.Time) time.Time {
	return func(now time.Time) time.Time { return now.Add(-d) }
}

// pruneTasks is every kind of row the janitor deletes, in the order it
// deletes them: expired tokens first, so that deleting a session cascades
// to few tokens.
func pruneTasks(r Retention) []pruneTask {
	return append([]pruneTask{
		{"refresh_tokens", `DELETE FROM refresh_tokens WHERE id IN (
			SELECT id FROM refresh_tokens WHERE expires_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(r.PruneAfter)},
		{"token_families", `DELETE FROM token_families WHERE id IN (
			SELECT id FROM token_families WHERE expires_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(r.PruneAfter)},
		{"token_families", `DELETE FROM token_families WHERE id IN (
			SELECT id FROM token_families WHERE revoked_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(r.PruneAfter)},
		{"auth_events", `DELETE FROM auth_events WHERE id IN (
			SELECT id FROM auth_events WHERE created_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(r.AuditRetention)},
		{"mail_outbox", `DELETE FROM mail_outbox WHERE id IN (
			SELECT id FROM mail_outbox WHERE status <> 'pending' AND created_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(r.PruneAfter)},
		oneTimeTokensPruneTask(),
		expiredTask("pending_logins", "token"),
		expiredTask("webauthn_challenges", "challenge"),
	}, limiterPruneTasks(r.KnownIPTTL)...)
}

// expiredTask deletes the rows of table, keyed by key, whose expires_at has
// passed: short-lived state such as pending logins and WebAuthn ceremonies.
func expiredTask(table, key string) pruneTask {
	return pruneTask{table, fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN (
			SELECT %[2]s FROM %[1]s WHERE expires_at < ? LIMIT ? FOR UPDATE SKIP LOCKED)`, table, key), before(0)}
}

// runPruneTask runs t in batches of pruneBatch until a batch deletes fewer,
// without the janitor's lock: several callers may prune at once, each batch
// skipping the rows another holds. It returns how many rows it deleted.
func runPruneTask(ctx context.Context, db bun.IDB, t pruneTask, now time.Time) (int, error) {
	total := 0
	for {
		res, err := db.NewRaw(t.sql, t.cutoff(now), pruneBatch).Exec(ctx)
		if err != nil {
			return total, dbErr("prune "+t.table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, dbErr("prune "+t.table, err)
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
}

// limiterPruneTasks delete the counters that expired and the known IPs
// that logged in longer than knownIPTTL ago. Expired rows change no
// decision; pruning only keeps the tables small.
func limiterPruneTasks(knownIPTTL time.Duration) []pruneTask {
	return []pruneTask{
		{"limit_counters", `DELETE FROM limit_counters WHERE (scope, key) IN (
			SELECT scope, key FROM limit_counters WHERE expires_at <= ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(0)},
		{"known_ips", `DELETE FROM known_ips WHERE (account, ip) IN (
			SELECT account, ip FROM known_ips WHERE succeeded_at <= ? LIMIT ? FOR UPDATE SKIP LOCKED)`, before(knownIPTTL)},
	}
}

// Janitor keeps the tables bounded: it deletes, in batches, sessions that
// ended or expired, expired refresh tokens and sent or failed mail more
// than Retention.PruneAfter ago, audit events older than
// Retention.AuditRetention, one-time tokens once used or expired, expired
// pending logins and WebAuthn ceremonies,
// and the abuse limits' expired rows. Every
// instance runs one; each batch is a transaction holding an advisory lock,
// so one instance prunes at a time. It needs no session state, so it works
// through a pooler in transaction mode.
type Janitor struct {
	db    *bun.DB
	tasks []pruneTask
	batch int
	rest  float64
}

// NewJanitor returns a Janitor on db keeping rows for r.
func NewJanitor(db *bun.DB, r Retention) *Janitor {
	if r.Batch <= 0 {
		r.Batch = pruneBatch
	}
	return &Janitor{db: db, tasks: pruneTasks(r), batch: r.Batch, rest: r.Rest}
}

// Pruned counts the rows a pass deleted, by table; a table it deleted
// nothing from is absent.
type Pruned map[string]int

// Pass deletes everything due at now and returns what it deleted, also when
// it stops early on an error. It returns ErrJanitorBusy, having deleted
// nothing more, as soon as another instance holds the janitor's lock.
func (j *Janitor) Pass(ctx context.Context, now time.Time) (Pruned, error) {
	pruned := Pruned{}
	for _, t := range j.tasks {
		for {
			n, err := j.batchOf(ctx, t, now)
			if n > 0 {
				pruned[t.table] += n
			}
			if err != nil {
				return pruned, err
			}
			if n < j.batch {
				break
			}
		}
	}
	return pruned, nil
}

// batchOf runs one batch of t in a transaction that holds the janitor's
// lock, and rests in it after a full batch (Retention.Rest).
func (j *Janitor) batchOf(ctx context.Context, t pruneTask, now time.Time) (int, error) {
	var n int64
	start := time.Now()
	err := j.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var locked bool
		if err := tx.NewRaw("SELECT pg_try_advisory_xact_lock(?)", janitorLockKey).Scan(ctx, &locked); err != nil {
			return dbErr("prune: lock", err)
		}
		if !locked {
			return ErrJanitorBusy
		}
		res, err := tx.NewRaw(t.sql, t.cutoff(now), j.batch).Exec(ctx)
		if err != nil {
			return dbErr("prune "+t.table, err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return dbErr("prune "+t.table, err)
		}
		if j.rest > 0 && int(n) == j.batch {
			// pg_sleep, not a sleep here: the transaction stays active, so
			// no idle-in-transaction timeout ends it.
			rest := time.Duration(j.rest * float64(time.Since(start)))
			if _, err := tx.ExecContext(ctx, "SELECT pg_sleep(?)", rest.Seconds()); err != nil {
				return dbErr("prune: rest", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
