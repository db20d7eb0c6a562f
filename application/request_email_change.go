package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authd/domain"
	"authd/ports"
)

// RequestEmailChangeInput is a request to move the caller's account to a
// new address, as received.
type RequestEmailChangeInput struct {
	NewEmail        string
	CurrentPassword string
	Client          domain.ClientInfo
}

// RequestEmailChange mails a confirmation link to the new address of the
// caller's account and a notice to the old one.
type RequestEmailChange struct {
	users   ports.UserRepository
	hasher  ports.PasswordHasher
	limiter ports.Limiter
	env     Env
}

// NewRequestEmailChange returns the RequestEmailChange use case; limiter
// enforces the abuse limits (NoLimits for none).
func NewRequestEmailChange(users ports.UserRepository, hasher ports.PasswordHasher, limiter ports.Limiter, env Env) *RequestEmailChange {
	return &RequestEmailChange{users: users, hasher: hasher, limiter: limiter, env: env}
}

// Do checks the current password and, in one transaction, issues an email
// change token for in.NewEmail (revoking the caller's earlier ones), queues
// its confirmation link to that address and a notice to the account's
// current address, and audits email_change_requested. The account keeps
// its address until the link is used (ConfirmEmailChange); the session
// asking survives the change.
//
// A new address that another account has already, or that is at its
// limit of mails, gets no link, silently (the answer must not tell which
// addresses have accounts); the notice is sent all the same.
//
// The current password is a password attempt like a password change's:
// the abuse limits admit it before it is hashed, and a wrong one counts
// toward the account's budget and is audited as password_change_failed
// (detail step_up: email_change). It returns ErrWrongCurrentPassword for a
// wrong current password, a *domain.ValidationError for a new address that
// is not one or is the account's own, a *domain.RateLimitError when the
// client's IP is at its limit (of password failures, or of requests for
// mailed links), and domain.ErrInvalidAccessToken when the account is gone
// or inactive.
func (uc *RequestEmailChange) Do(ctx context.Context, p domain.Principal, in RequestEmailChangeInput) error {
	now := uc.env.now()
	to, err := domain.ParseEmail(in.NewEmail)
	if err != nil {
		if verr, ok := errors.AsType[*domain.ValidationError](err); ok {
			return domain.NewValidationError("new_email", verr.Fields[0].Message)
		}
		return err
	}
	u, err := NewGetCurrentUser(uc.users, uc.env).Do(ctx, p)
	if err != nil {
		return err
	}
	if to == u.Email() {
		return domain.NewValidationError("new_email", "is already the address of the account")
	}
	if first, err := admission("email change", uc.limiter.AdmitMailRequest(ctx, domain.PurposeEmailChange, in.Client, now)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, p.UserID, p.SessionID, in.Client, now))
		}
		return err
	}
	attempt := domain.NewPasswordAttempt(u.Email(), in.Client, now)
	if first, err := admission("email change", uc.limiter.AdmitPassword(ctx, attempt)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, p.UserID, p.SessionID, in.Client, now))
		}
		return err
	}
	err = uc.change(ctx, p, u, to, in, now)
	uc.env.settle(ctx, uc.limiter, attempt, err)
	if errors.Is(err, ErrWrongCurrentPassword) {
		ev := eventFor(domain.EventPasswordChangeFailed, p.UserID, p.SessionID, in.Client, now)
		ev.Detail = map[string]string{"step_up": "email_change"}
		uc.env.record(ctx, ev)
	}
	return err
}

// change checks the current password of an admitted attempt and stores
// the request.
func (uc *RequestEmailChange) change(ctx context.Context, p domain.Principal, u *domain.User, to domain.Email, in RequestEmailChangeInput, now time.Time) error {
	if domain.TooLongToBePassword(in.CurrentPassword) {
		return ErrWrongCurrentPassword
	}
	ok, _, err := uc.hasher.Verify(ctx, in.CurrentPassword, u.PasswordHash())
	if err != nil {
		return fmt.Errorf("email change: %w", err)
	}
	if !ok {
		return ErrWrongCurrentPassword
	}
	deliver, err := uc.deliverable(ctx, to, now)
	if err != nil {
		return err
	}
	verified := u.SessionEpoch()
	if _, err := uc.users.Update(ctx, p.UserID, func(u *domain.User) error {
		if u.SessionEpoch() != verified {
			return ErrWrongCurrentPassword
		}
		data := ports.MailData{NewEmail: to.String(), Client: in.Client, At: now}
		if deliver && uc.env.mail != nil {
			secret, err := u.RequestEmailChange(to, p.SessionID, uc.env.random, now)
			if err != nil {
				return err
			}
			confirm := data
			confirm.Link, confirm.ExpiresIn = uc.env.link(domain.PurposeEmailChange, secret), domain.PurposeEmailChange.Lifetime()
			if err := uc.env.queueMail(u, domain.MailTo(to), domain.MailEmailChangeConfirm, confirm); err != nil {
				return err
			}
		}
		uc.env.notify(ctx, u, domain.MailToUser(0), domain.MailEmailChangeNotice, data)
		ev := eventFor(domain.EventEmailChangeRequested, p.UserID, p.SessionID, in.Client, now)
		ev.Detail = map[string]string{"to": to.String()}
		u.Audit(ev)
		return nil
	}); err != nil {
		return fmt.Errorf("email change: %w", err)
	}
	return nil
}

// deliverable reports whether the confirmation link may be mailed to to:
// no account has the address and it is within its limit of mails.
func (uc *RequestEmailChange) deliverable(ctx context.Context, to domain.Email, now time.Time) (bool, error) {
	_, err := uc.users.ByEmail(ctx, to)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, domain.ErrUserNotFound):
		return false, fmt.Errorf("email change: %w", err)
	}
	return uc.env.admitMailTo(ctx, uc.limiter, domain.PurposeEmailChange, to, now)
}
