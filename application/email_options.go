package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authd/domain"
	"authd/ports"
)

// EmailOptions are a deployment's choices for the email flows.
type EmailOptions struct {
	// Links builds the one-time links that mails carry.
	Links Links
	// RequireVerified refuses logins to accounts whose address is not
	// verified (domain.ErrEmailNotVerified, after a correct password), and
	// makes registration answer alike for new and taken addresses.
	RequireVerified bool
}

// WithEmailOptions returns e with the email flows configured as o says.
func (e Env) WithEmailOptions(o EmailOptions) Env {
	e.email = o
	return e
}

// linkMails are the mails that carry the link of each token purpose.
var linkMails = map[domain.TokenPurpose]domain.MailTemplate{
	domain.PurposePasswordReset:     domain.MailResetPassword,
	domain.PurposeEmailVerification: domain.MailVerifyEmail,
	domain.PurposeEmailChange:       domain.MailEmailChangeConfirm,
}

// link is the link of a token of purpose p.
func (e Env) link(p domain.TokenPurpose, secret string) string {
	switch p {
	case domain.PurposePasswordReset:
		return e.email.Links.ResetPassword(secret)
	case domain.PurposeEmailVerification:
		return e.email.Links.VerifyEmail(secret)
	default:
		return e.email.Links.ConfirmEmailChange(secret)
	}
}

// mailLink issues a one-time token of purpose p (a password reset or a
// verification) to u's current address and attaches the mail carrying its
// link to the change being made to u. Unlike a notice, a link that cannot
// be mailed fails the change: its token would serve no one. With email off
// it issues and attaches nothing.
func (e Env) mailLink(u *domain.User, p domain.TokenPurpose, client domain.ClientInfo, now time.Time) error {
	if e.mail == nil {
		return nil
	}
	secret, err := u.IssueToken(p, e.random, now)
	if err != nil {
		return err
	}
	return e.queueMail(u, domain.MailToUser(0), linkMails[p], ports.MailData{
		Link: e.link(p, secret), ExpiresIn: p.Lifetime(), Client: client, At: now,
	})
}

// admitMailTo asks the limiter whether a link of purpose p may be mailed
// to address now. A refusal is not an error the caller answers: ok is
// false and the mail is dropped silently, so that the answer does not
// tell whether the address has an account. Other errors (the limiter's
// store is down) are returned: the limits fail closed.
func (e Env) admitMailTo(ctx context.Context, l ports.Limiter, p domain.TokenPurpose, address domain.Email, now time.Time) (ok bool, _ error) {
	err := l.AdmitMailTo(ctx, p, address, now)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, domain.ErrRateLimited):
		e.log.InfoContext(ctx, "mail dropped: the address is at its limit", "purpose", string(p))
		return false, nil
	}
	return false, fmt.Errorf("admit mail: %w", err)
}
