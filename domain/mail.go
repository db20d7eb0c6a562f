package domain

import (
	"errors"
	"time"
)

// MailTemplate names a mail authd sends; each has a subject, a text body and
// an HTML body.
type MailTemplate string

// The mails authd sends.
const (
	// MailVerifyEmail asks the owner of a new address to confirm it (link).
	MailVerifyEmail MailTemplate = "verify_email"
	// MailResetPassword carries a password reset link.
	MailResetPassword MailTemplate = "reset_password"
	// MailEmailChangeConfirm asks the new address to confirm a change (link).
	MailEmailChangeConfirm MailTemplate = "email_change_confirm"
	// MailEmailChangeNotice tells the old address that a change was asked for.
	MailEmailChangeNotice MailTemplate = "email_change_notice"
	// MailEmailChanged tells the old address that the account moved to a
	// new one.
	MailEmailChanged MailTemplate = "email_changed"
	// MailPasswordChanged tells the user that the password was changed or reset.
	MailPasswordChanged MailTemplate = "password_changed"
	// MailRefreshTokenReused tells the user that a session that may have
	// been stolen was ended.
	MailRefreshTokenReused MailTemplate = "refresh_token_reused"
	// MailRegistrationAttempt tells the owner of an address that someone
	// tried to register it again.
	MailRegistrationAttempt MailTemplate = "registration_attempt"
	// MailMFAEnrolled tells the user that a second factor was added.
	MailMFAEnrolled MailTemplate = "mfa_enrolled"
	// MailMFARemoved tells the user that a second factor was removed.
	MailMFARemoved MailTemplate = "mfa_removed"
	// MailRecoveryCodeUsed tells the user that a recovery code was spent.
	MailRecoveryCodeUsed MailTemplate = "recovery_code_used"
	// MailPasskeyCounterRegressed tells the user that a sign-in with a
	// passkey whose signature counter went back was refused (a possible
	// copy of the key).
	MailPasskeyCounterRegressed MailTemplate = "passkey_counter_regressed"
)

// MailTemplates returns every template, in a fixed order.
func MailTemplates() []MailTemplate {
	return []MailTemplate{
		MailVerifyEmail, MailResetPassword, MailEmailChangeConfirm, MailEmailChangeNotice,
		MailPasswordChanged, MailRefreshTokenReused, MailRegistrationAttempt,
		MailMFAEnrolled, MailMFARemoved, MailRecoveryCodeUsed, MailPasskeyCounterRegressed,
		MailEmailChanged,
	}
}

// MailContent is a rendered mail: a one-line subject and two bodies, plain
// text and HTML. A body may carry a one-time link, so it is a secret until
// the mail is sent.
type MailContent struct {
	Subject string
	Text    string
	HTML    string
}

// MailRecipient is where a mail goes: an explicit address, or the current
// address of a user, which the repository reads in the transaction that
// stores the mail (so a family, whose owner carries no address, can mail
// its user, and a mail to a user always reaches the address stored with
// the change). The zero value is the user being created.
type MailRecipient struct {
	user    UserID
	address Email
}

// MailTo addresses a mail to the explicit address e (for example the new
// address of an email change, which is not the user's yet).
func MailTo(e Email) MailRecipient { return MailRecipient{address: e} }

// MailToUser addresses a mail to the address user id has when the mail is
// stored. Zero means the user the mail is attached to while it is being
// created.
func MailToUser(id UserID) MailRecipient { return MailRecipient{user: id} }

// Address returns the explicit address, if the recipient has one.
func (r MailRecipient) Address() (Email, bool) { return r.address, !r.address.IsZero() }

// User returns the user whose current address the mail goes to; zero with
// an explicit address, or for the user being created.
func (r MailRecipient) User() UserID { return r.user }

// OutgoingMail is a mail that a change sends: the repository queues it in
// the change's transaction, to be delivered later by the dispatcher.
type OutgoingMail struct {
	To       MailRecipient
	Template MailTemplate
	Content  MailContent
	// At is the time of the change; the mail is due from then.
	At time.Time
}

// outbox collects the mails a change to an aggregate sends, for the
// repository to queue in the change's transaction.
type outbox []OutgoingMail

// Send attaches m to the change being made, so that the repository queues
// it with the change and only if the change is stored.
func (o *outbox) Send(m OutgoingMail) { *o = append(*o, m) }

// Mails returns the mails attached to the change being made.
func (o outbox) Mails() []OutgoingMail { return o }

// The delivery policy of queued mail.
const (
	// MaxMailAttempts is how many delivery attempts a mail gets before it
	// is given up as failed.
	MaxMailAttempts = 10
	// firstMailRetry is the wait after the first failed attempt; it
	// doubles after each further failure, up to maxMailRetry.
	firstMailRetry = time.Second
	maxMailRetry   = time.Hour
)

// ErrMailGivenUp is returned by NextMailAttempt once a mail has had its
// MaxMailAttempts.
var ErrMailGivenUp = errors.New("mail given up after the last delivery attempt")

// NextMailAttempt decides what follows the failure of a mail's attempt-th
// delivery attempt (counting from 1) at now: the time of the next attempt,
// 1 s after the first failure and doubling up to 1 h, or ErrMailGivenUp
// when that was attempt MaxMailAttempts.
//
// A failure to reach the mail server at all (unreachable) is an outage, not
// a verdict on the mail: it never gives the mail up, and the next attempt
// waits as long as the mail has waited since it was queued (at least 1 s,
// at most 1 h), so the waits still double. An outage delays mail, it loses
// none.
func NextMailAttempt(attempt int, queuedAt, now time.Time, unreachable bool) (time.Time, error) {
	if unreachable {
		return now.Add(min(max(now.Sub(queuedAt), firstMailRetry), maxMailRetry)), nil
	}
	if attempt >= MaxMailAttempts {
		return time.Time{}, ErrMailGivenUp
	}
	wait := firstMailRetry
	for i := 1; i < attempt && wait < maxMailRetry; i++ {
		wait *= 2
	}
	return now.Add(min(wait, maxMailRetry)), nil
}
