package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.MailOutbox = (*MailOutbox)(nil)

// MailOutbox is the dispatchers' side of mail_outbox. Mails are queued by
// the repositories, with mailsInsert, in the transaction of the change
// that sends them.
type MailOutbox struct {
	db *bun.DB
}

// NewMailOutbox returns a MailOutbox on db.
func NewMailOutbox(db *bun.DB) *MailOutbox {
	return &MailOutbox{db: db}
}

// mailColumns are the columns mailsInsert writes, in its order.
const mailColumns = "user_id, recipient, template, subject, text_body, html_body, next_attempt_at, created_at"

// mailsInsert returns an INSERT of mails into mail_outbox, with $n
// parameters numbered from first, and its arguments. A mail without an
// explicit address goes to the address its user has in the statement's
// snapshot; its user is the one it names, or user, the user of the change
// (for a family, its owner). When from names a relation (a CTE of the same
// statement), the mails are inserted once per row of from, so only if from
// has a row. mails must not be empty.
func mailsInsert(mails []domain.OutgoingMail, user int64, first int, from string) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 7*len(mails))
	b.WriteString("INSERT INTO mail_outbox (" + mailColumns + ") " +
		"SELECT v.user_id, coalesce(v.recipient, u.email), v.template, v.subject, v.text_body, v.html_body, v.created_at, v.created_at FROM (VALUES ")
	n := first
	for i, m := range mails {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, $%d::bigint, $%d::varchar, $%d::varchar, $%d::text, $%d::text, $%d::text, $%d::timestamptz)",
			i, n, n+1, n+2, n+3, n+4, n+5, n+6)
		n += 7
		uid := int64(m.To.User())
		if uid == 0 {
			uid = user
		}
		var recipient any
		if a, ok := m.To.Address(); ok {
			recipient = a.String()
		}
		args = append(args, nullID(uid), recipient, string(m.Template),
			m.Content.Subject, m.Content.Text, m.Content.HTML, m.At)
	}
	b.WriteString(") AS v (n, user_id, recipient, template, subject, text_body, html_body, created_at) " +
		"LEFT JOIN users AS u ON u.id = v.user_id")
	if from != "" {
		b.WriteString(" CROSS JOIN " + from)
	}
	// The mails get their ids in the order they were attached.
	b.WriteString(" ORDER BY v.n")
	return b.String(), args
}

// insertMails queues mails of a change to user inside tx; none is nothing
// to do.
func insertMails(ctx context.Context, tx bun.Tx, mails []domain.OutgoingMail, user int64) error {
	if len(mails) == 0 {
		return nil
	}
	query, args := mailsInsert(mails, user, 1, "")
	if _, err := tx.Tx.ExecContext(ctx, query, args...); err != nil {
		return mailsErr(err)
	}
	return nil
}

// mailsErr describes a failed insert of mails.
func mailsErr(err error) error {
	if isForeignKeyViolation(err) || isNotNullViolation(err) {
		// The mail names a user that does not exist, so it has no address.
		return fmt.Errorf("postgres: queue mail: %w", domain.ErrUserNotFound)
	}
	return dbErr("queue mail", err)
}

// claimSQL leases the due mails in one statement: the subquery locks up to
// $3 pending mails due at $1 that no unexpired lease holds, skipping those
// another claim has locked, and the update leases them until $2 under a
// new lease id and counts the attempt. A claim that locks a row just
// leased by a concurrent claim re-checks it and leaves it out.
const claimSQL = `UPDATE mail_outbox AS m
	SET attempts = m.attempts + 1, leased_until = $2::timestamptz, lease_id = gen_random_uuid()
	FROM (
		SELECT id FROM mail_outbox
		WHERE status = 'pending' AND next_attempt_at <= $1::timestamptz
		  AND (leased_until IS NULL OR leased_until <= $1::timestamptz)
		ORDER BY next_attempt_at, id
		LIMIT $3::integer
		FOR UPDATE SKIP LOCKED
	) AS due
	WHERE m.id = due.id
	RETURNING m.id, m.lease_id, m.recipient, m.template, m.subject, m.text_body, m.html_body,
		m.attempts, m.message_id, m.created_at`

// Claim leases up to limit pending mails due at now until now+lease.
func (o *MailOutbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ports.ClaimedMail, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := o.db.DB.QueryContext(ctx, claimSQL, now, now.Add(lease), limit)
	if err != nil {
		return nil, dbErr("claim mail", err)
	}
	defer rows.Close()
	var claimed []ports.ClaimedMail
	for rows.Next() {
		var m ports.ClaimedMail
		var template string
		if err := rows.Scan(&m.ID, &m.Lease, &m.To, &template, &m.Content.Subject, &m.Content.Text, &m.Content.HTML,
			&m.Attempt, &m.MessageID, &m.QueuedAt); err != nil {
			return nil, dbErr("claim mail", err)
		}
		m.Template = domain.MailTemplate(template)
		claimed = append(claimed, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("claim mail", err)
	}
	return claimed, nil
}

// The marks end a claim's lease and record its outcome, provided the lease
// is still the mail's: $1 is the mail's id, $2 the claim's lease id.
const (
	markSentSQL = `UPDATE mail_outbox SET status = 'sent', sent_at = $3,
		subject = '', text_body = '', html_body = '', leased_until = NULL, lease_id = NULL
	WHERE id = $1 AND lease_id = $2 AND status = 'pending'`
	retrySQL = `UPDATE mail_outbox SET next_attempt_at = $3, last_error = $4, leased_until = NULL, lease_id = NULL
	WHERE id = $1 AND lease_id = $2 AND status = 'pending'`
	failSQL = `UPDATE mail_outbox SET status = 'failed', failed_at = $3, last_error = $4,
		subject = '', text_body = '', html_body = '', leased_until = NULL, lease_id = NULL
	WHERE id = $1 AND lease_id = $2 AND status = 'pending'`
)

// MarkSent records the delivery of m and clears its subject and bodies.
func (o *MailOutbox) MarkSent(ctx context.Context, m ports.ClaimedMail, now time.Time) error {
	return o.mark(ctx, "mark mail sent", markSentSQL, m.ID, m.Lease, now)
}

// Retry makes m due again at next, recording why its attempt failed.
func (o *MailOutbox) Retry(ctx context.Context, m ports.ClaimedMail, next time.Time, reason string) error {
	return o.mark(ctx, "retry mail", retrySQL, m.ID, m.Lease, next, cutReason(reason))
}

// Fail gives m up and clears its subject and bodies.
func (o *MailOutbox) Fail(ctx context.Context, m ports.ClaimedMail, now time.Time, reason string) error {
	return o.mark(ctx, "fail mail", failSQL, m.ID, m.Lease, now, cutReason(reason))
}

// mark runs one of the marks; no row matched means the lease was lost.
func (o *MailOutbox) mark(ctx context.Context, op, query string, args ...any) error {
	res, err := o.db.DB.ExecContext(ctx, query, args...)
	if err != nil {
		return dbErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr(op, err)
	} else if n == 0 {
		return fmt.Errorf("postgres: %s %v: %w", op, args[0], ports.ErrLeaseLost)
	}
	return nil
}

// Pending counts the mails not yet sent or given up.
func (o *MailOutbox) Pending(ctx context.Context) (int, error) {
	var n int
	if err := o.db.DB.QueryRowContext(ctx, "SELECT count(*) FROM mail_outbox WHERE status = 'pending'").Scan(&n); err != nil {
		return 0, dbErr("count pending mail", err)
	}
	return n, nil
}

// cutReason bounds a failure's reason to ports.MaxMailErrorRunes.
func cutReason(s string) string {
	if r := []rune(s); len(r) > ports.MaxMailErrorRunes {
		return string(r[:ports.MaxMailErrorRunes])
	}
	return s
}
