package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// MailOutbox implements ports.MailOutbox on a Store. Mails are queued by
// the store's repositories with the changes that send them.
type MailOutbox struct {
	s *Store
}

var _ ports.MailOutbox = (*MailOutbox)(nil)

// The states of a queued mail, as PostgreSQL's mail_status names them.
const (
	mailPending = "pending"
	mailSent    = "sent"
	mailFailed  = "failed"
)

// mailRow is a queued mail, as a row of mail_outbox.
type mailRow struct {
	id          int64
	messageID   uuid.UUID
	userID      domain.UserID
	recipient   string
	template    domain.MailTemplate
	content     domain.MailContent
	status      string
	attempts    int
	nextAt      time.Time
	leasedUntil time.Time
	lease       uuid.UUID
	lastError   string
	createdAt   time.Time
	sentAt      time.Time
	failedAt    time.Time
}

// MailState is what tests may observe of a queued mail beyond what a
// claim returns.
type MailState struct {
	Status    string
	Attempts  int
	Content   domain.MailContent
	Recipient string
	Template  domain.MailTemplate
	LastError string
	NextAt    time.Time
	SentAt    time.Time
	FailedAt  time.Time
}

// MailState returns the state of the mail with id, and whether it exists.
func (s *Store) MailState(id int64) (MailState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mails {
		if m.id == id {
			return MailState{
				Status: m.status, Attempts: m.attempts, Content: m.content, Recipient: m.recipient,
				Template: m.template, LastError: m.lastError, NextAt: m.nextAt, SentAt: m.sentAt, FailedAt: m.failedAt,
			}, true
		}
	}
	return MailState{}, false
}

// mailRowsLocked prepares the rows of mails attached to a change to user
// (for a family, its owner), resolving each recipient that is a user to
// that user's current address. It writes nothing, so that a change can
// check everything before it stores anything; queueMailsLocked stores the
// rows.
func (s *Store) mailRowsLocked(mails []domain.OutgoingMail, user domain.UserID) ([]*mailRow, error) {
	rows := make([]*mailRow, 0, len(mails))
	for _, m := range mails {
		uid := m.To.User()
		if uid == 0 {
			uid = user
		}
		to, ok := m.To.Address()
		if !ok {
			u, exists := s.users[uid]
			if !exists {
				return nil, fmt.Errorf("memory: queue mail: %w", domain.ErrUserNotFound)
			}
			to = u.Email
		}
		at := micro(m.At)
		rows = append(rows, &mailRow{
			messageID: uuid.New(), userID: uid, recipient: to.String(), template: m.Template,
			content: m.Content, status: mailPending, nextAt: at, createdAt: at,
		})
	}
	return rows, nil
}

// queueMailsLocked stores rows prepared by mailRowsLocked with the next ids.
func (s *Store) queueMailsLocked(rows []*mailRow) {
	for _, r := range rows {
		s.lastMailID++
		r.id = s.lastMailID
		s.mails = append(s.mails, r)
	}
}

// Claim leases up to limit pending mails due at now, oldest due first,
// until now+lease, and counts the attempt.
func (o *MailOutbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ports.ClaimedMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := o.s.lock(); err != nil {
		return nil, err
	}
	defer o.s.mu.Unlock()
	now = micro(now)
	var due []*mailRow
	for _, m := range o.s.mails {
		if m.status == mailPending && !m.nextAt.After(now) && !m.leasedUntil.After(now) {
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b *mailRow) int {
		if c := a.nextAt.Compare(b.nextAt); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	if limit <= 0 {
		return nil, nil
	}
	if len(due) > limit {
		due = due[:limit]
	}
	claimed := make([]ports.ClaimedMail, 0, len(due))
	for _, m := range due {
		m.attempts++
		m.leasedUntil = micro(now.Add(lease))
		m.lease = uuid.New()
		claimed = append(claimed, ports.ClaimedMail{
			ID: m.id, Lease: m.lease, To: m.recipient, Template: m.template, Content: m.content,
			Attempt: m.attempts, MessageID: m.messageID, QueuedAt: m.createdAt,
		})
	}
	return claimed, nil
}

// MarkSent records the delivery of m and clears its subject and bodies.
func (o *MailOutbox) MarkSent(ctx context.Context, m ports.ClaimedMail, now time.Time) error {
	return o.mark(ctx, m, func(r *mailRow) {
		r.status, r.sentAt, r.content = mailSent, micro(now), domain.MailContent{}
	})
}

// Retry makes m due again at next, recording why its attempt failed.
func (o *MailOutbox) Retry(ctx context.Context, m ports.ClaimedMail, next time.Time, reason string) error {
	return o.mark(ctx, m, func(r *mailRow) {
		r.nextAt, r.lastError = micro(next), cutReason(reason)
	})
}

// Fail gives m up and clears its subject and bodies.
func (o *MailOutbox) Fail(ctx context.Context, m ports.ClaimedMail, now time.Time, reason string) error {
	return o.mark(ctx, m, func(r *mailRow) {
		r.status, r.failedAt, r.lastError, r.content = mailFailed, micro(now), cutReason(reason), domain.MailContent{}
	})
}

// mark applies fn to m's row and ends the lease, provided the lease is
// still the mail's.
func (o *MailOutbox) mark(ctx context.Context, m ports.ClaimedMail, fn func(*mailRow)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := o.s.lock(); err != nil {
		return err
	}
	defer o.s.mu.Unlock()
	for _, r := range o.s.mails {
		if r.id == m.ID && r.lease == m.Lease && r.lease != uuid.Nil && r.status == mailPending {
			fn(r)
			r.lease, r.leasedUntil = uuid.Nil, time.Time{}
			return nil
		}
	}
	return fmt.Errorf("memory: mail %d: %w", m.ID, ports.ErrLeaseLost)
}

// Pending counts the mails not yet sent or given up.
func (o *MailOutbox) Pending(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := o.s.lock(); err != nil {
		return 0, err
	}
	defer o.s.mu.Unlock()
	n := 0
	for _, m := range o.s.mails {
		if m.status == mailPending {
			n++
		}
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
