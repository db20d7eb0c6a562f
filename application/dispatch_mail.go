package application

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"authd/domain"
	"authd/ports"
)

// DispatchOptions tune a MailDispatcher. Zero fields take the defaults.
type DispatchOptions struct {
	// SendTimeout bounds one delivery attempt, connecting included
	// (default 30 s).
	SendTimeout time.Duration
	// Poll is how long the dispatcher waits when no mail is due
	// (default 1 s).
	Poll time.Duration
}

// The bounds of the work around one delivery attempt.
const (
	// markTimeout bounds one attempt to record an attempt's outcome.
	markTimeout = 5 * time.Second
	// leaseSlack is how long a claim outlasts its attempt, so that the
	// outcome can still be recorded (and retried while the database
	// blinks) before another dispatcher may claim the mail again.
	leaseSlack = 30 * time.Second
	// maxIdleWait bounds the wait after claims keep failing.
	maxIdleWait = 30 * time.Second
)

// MailDispatcher delivers the mail the changes queued: it claims one due
// mail at a time under a lease, sends it, and records the outcome; a
// failed attempt is retried later as domain.NextMailAttempt decides, and a
// mail whose last attempt failed is given up. Every instance runs one;
// the leases keep them from delivering a mail twice.
type MailDispatcher struct {
	outbox ports.MailOutbox
	sender ports.MailSender
	stats  ports.MailStats
	clock  ports.Clock
	log    *slog.Logger
	opts   DispatchOptions
}

// NewMailDispatcher returns a dispatcher delivering the mail of outbox
// through sender. A nil stats counts nothing; a nil log discards.
func NewMailDispatcher(outbox ports.MailOutbox, sender ports.MailSender, stats ports.MailStats, clock ports.Clock, log *slog.Logger, opts DispatchOptions) *MailDispatcher {
	if stats == nil {
		stats = noMailStats{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	return &MailDispatcher{outbox: outbox, sender: sender, stats: stats, clock: clock, log: log, opts: opts}
}

// Lease is how long a claim holds a mail: one attempt and the recording of
// its outcome.
func (d *MailDispatcher) Lease() time.Duration { return d.opts.SendTimeout + leaseSlack }

// Run delivers mail until ctx ends. A delivery under way when ctx ends is
// finished (or runs into its timeout) and recorded before Run returns.
func (d *MailDispatcher) Run(ctx context.Context) {
	wait := d.opts.Poll
	for ctx.Err() == nil {
		delivered, err := d.DeliverOne(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			level := slog.LevelError
			if errors.Is(err, ports.ErrUnavailable) {
				level = slog.LevelWarn
			}
			d.log.Log(ctx, level, "mail dispatch: claim failed", "err", err, "retry_in", wait.String())
		case delivered:
			wait = d.opts.Poll
			continue
		default:
			wait = d.opts.Poll
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if err != nil {
			wait = min(2*wait, maxIdleWait)
		}
	}
}

// DeliverOne claims one due mail, attempts its delivery and records the
// outcome. It reports whether it found a mail; it does not claim one once
// ctx has ended, but an attempt it started is finished regardless of ctx.
func (d *MailDispatcher) DeliverOne(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// A claim that commits must be read back, so it is not cut short by
	// ctx: a mail claimed and dropped would wait out its lease.
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	claimed, err := d.outbox.Claim(claimCtx, d.clock.Now(), d.Lease(), 1)
	if err != nil || len(claimed) == 0 {
		return false, err
	}
	d.deliver(claimed[0])
	return true, nil
}

// deliver attempts m and records the outcome, with contexts of their own:
// a stopping server still finishes and records the attempt it started.
func (d *MailDispatcher) deliver(m ports.ClaimedMail) {
	sendCtx, cancel := context.WithTimeout(context.Background(), d.opts.SendTimeout)
	err := d.sender.Send(sendCtx, m)
	cancel()
	// The attempt ended within SendTimeout of the claim, so the lease
	// still has at least leaseSlack to run.
	leaseEnd := time.Now().Add(leaseSlack)
	now := d.clock.Now()
	attrs := []any{"mail_id", m.ID, "template", string(m.Template), "attempt", m.Attempt}
	if err == nil {
		if d.record(m, leaseEnd, func(ctx context.Context) error { return d.outbox.MarkSent(ctx, m, now) }) {
			d.stats.MailSent(m.Template)
			d.log.Info("mail sent", append(attrs, "queued_for", now.Sub(m.QueuedAt).Round(time.Millisecond).String())...)
		}
		return
	}
	reason := err.Error()
	next, giveUp := domain.NextMailAttempt(m.Attempt, m.QueuedAt, now, errors.Is(err, ports.ErrMailServerUnreachable))
	if giveUp != nil {
		if d.record(m, leaseEnd, func(ctx context.Context) error { return d.outbox.Fail(ctx, m, now, reason) }) {
			d.stats.MailFailed(m.Template)
			d.log.Error("mail given up after its last delivery attempt", append(attrs, "err", reason)...)
		}
		return
	}
	if d.record(m, leaseEnd, func(ctx context.Context) error { return d.outbox.Retry(ctx, m, next, reason) }) {
		d.log.Warn("mail delivery failed; will retry", append(attrs, "err", reason, "next_attempt", next.UTC().Format(time.RFC3339))...)
	}
}

// record stores the outcome of m's attempt with mark, retrying while the
// database is unreachable until shortly before the lease ends: a sent mail
// whose outcome is lost would be sent again once the lease runs out. It
// reports whether the outcome was stored.
func (d *MailDispatcher) record(m ports.ClaimedMail, leaseEnd time.Time, mark func(context.Context) error) bool {
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), markTimeout)
		err := mark(ctx)
		cancel()
		switch {
		case err == nil:
			return true
		case errors.Is(err, ports.ErrLeaseLost):
			d.log.Error("mail outcome not recorded: the claim's lease ran out, so the mail may be delivered again",
				"mail_id", m.ID, "template", string(m.Template), "attempt", m.Attempt)
			return false
		case time.Now().Add(wait + markTimeout).After(leaseEnd):
			d.log.Error("mail outcome not recorded; it will be attempted again once its lease runs out",
				"mail_id", m.ID, "template", string(m.Template), "attempt", m.Attempt, "err", err)
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// noMailStats counts nothing.
type noMailStats struct{}

func (noMailStats) MailSent(domain.MailTemplate)   {}
func (noMailStats) MailFailed(domain.MailTemplate) {}
