package ports

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"authd/domain"
)

// MailRenderer fills the mail templates. Use cases render a mail when they
// queue it (the rendered bodies are stored with the change), so every
// template is checked when the renderer is built, not when a mail is sent.
type MailRenderer interface {
	// Render returns template t filled with d. It returns an error
	// wrapping ErrUnknownMailTemplate for a template it does not have.
	Render(t domain.MailTemplate, d MailData) (domain.MailContent, error)
}

// ErrUnknownMailTemplate is returned by MailRenderer.Render for a template
// the renderer does not have.
var ErrUnknownMailTemplate = errors.New("unknown mail template")

// MailData is what a mail may show. Fields a template does not use are
// ignored; the zero value of a field means "not known".
type MailData struct {
	// Link is the one-time link of a verification, reset or confirmation
	// mail (see application.Links); it is a secret.
	Link string
	// ExpiresIn is how long Link works.
	ExpiresIn time.Duration
	// NewEmail is the address an email change moves to.
	NewEmail string
	// Client is who caused the mail (the IP and user agent of the request).
	Client domain.ClientInfo
	// At is when the change happened.
	At time.Time
	// Method names the second factor of an MFA mail ("authenticator app",
	// "passkey").
	Method string
}

// MailOutbox is the dispatcher's side of the mail queue: mails are queued
// by the repositories with the changes that send them (domain.User.Send,
// domain.Family.Send) and delivered by claiming them here. A claim is a
// lease: until it runs out no other claim gets the mail, and only the
// holder of the lease may record the attempt's outcome, so two
// dispatchers never deliver one mail twice while each attempt ends within
// its lease.
type MailOutbox interface {
	// Claim leases up to limit pending mails that are due at now (their
	// next attempt is not after now and no unexpired lease holds them),
	// oldest due first, until now+lease, and counts the attempt. Concurrent
	// claims never return the same mail. No mail due is an empty result.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]ClaimedMail, error)
	// MarkSent records that m was delivered at now and clears its subject
	// and bodies (recipient, template, times and attempts stay). It returns
	// ErrLeaseLost when m's lease is no longer the mail's.
	MarkSent(ctx context.Context, m ClaimedMail, now time.Time) error
	// Retry records that the attempt failed with reason (which must hold no
	// secret) and makes the mail due again at next, ending the lease. It
	// returns ErrLeaseLost when m's lease is no longer the mail's.
	Retry(ctx context.Context, m ClaimedMail, next time.Time, reason string) error
	// Fail records that the mail was given up at now, the last attempt
	// having failed with reason, and clears its subject and bodies. It
	// returns ErrLeaseLost when m's lease is no longer the mail's.
	Fail(ctx context.Context, m ClaimedMail, now time.Time, reason string) error
	// Pending counts the mails not yet sent or given up.
	Pending(ctx context.Context) (int, error)
}

// MaxMailErrorRunes bounds the reason a failed attempt is recorded with;
// the outbox cuts longer ones.
const MaxMailErrorRunes = 500

// ErrLeaseLost is returned by the MailOutbox marks when the lease of the
// claim has run out and the mail may have been claimed again.
var ErrLeaseLost = errors.New("mail outbox: the claim's lease was lost")

// ErrMailServerUnreachable marks a MailSender failure where no connection
// to the mail server could be made: an outage, which says nothing about
// the mail, so it never makes the mail give up.
var ErrMailServerUnreachable = errors.New("mail server unreachable")

// ClaimedMail is a queued mail as a claim returns it.
type ClaimedMail struct {
	ID int64
	// Lease identifies the claim; the marks take it back.
	Lease uuid.UUID
	// To is the recipient's address, as it was when the mail was queued.
	To       string
	Template domain.MailTemplate
	Content  domain.MailContent
	// Attempt numbers this delivery attempt, from 1.
	Attempt int
	// MessageID is the mail's own id, the same for every attempt, from
	// which the sender makes the Message-ID header (so a receiver can
	// recognise a mail delivered twice when an answer was lost).
	MessageID uuid.UUID
	// QueuedAt is when the change that sent the mail happened.
	QueuedAt time.Time
}

// MailSender delivers mail; only the dispatcher uses it.
type MailSender interface {
	// Send delivers m, giving up when ctx ends. Any error means "not known
	// to be delivered": the dispatcher tries again later. Errors never
	// quote the mail's bodies or the server's credentials.
	Send(ctx context.Context, m ClaimedMail) error
}

// MailStats counts the outcomes of deliveries, for metrics.
type MailStats interface {
	// MailSent counts a delivered mail.
	MailSent(t domain.MailTemplate)
	// MailFailed counts a mail given up after its last attempt.
	MailFailed(t domain.MailTemplate)
}
