package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// RequestPasswordResetInput is a password reset request as received.
type RequestPasswordResetInput struct {
	Email  string
	Client domain.ClientInfo
}

// RequestPasswordReset mails a password reset link to an address, if an
// active account has it, without telling the caller whether one does.
type RequestPasswordReset struct {
	users   ports.UserRepository
	limiter ports.Limiter
	env     Env
	later   *Deferred
}

// NewRequestPasswordReset returns the RequestPasswordReset use case; the
// lookup and the mail run on later, after the request is answered.
func NewRequestPasswordReset(users ports.UserRepository, limiter ports.Limiter, env Env, later *Deferred) *RequestPasswordReset {
	return &RequestPasswordReset{users: users, limiter: limiter, env: env, later: later}
}

// Do accepts a reset request for in.Email. What it does before it returns
// is the same for every address, known, unknown or disabled: it parses the
// address, admits the request by the client's IP, counts it against the
// address, and hands the rest to the deferred work. That work looks the
// address up and, for an active account, issues a reset token and queues
// its mail (audited as password_reset_requested) in one transaction; the
// request never waits for it, nor for SMTP.
//
// It returns a *domain.ValidationError when in.Email is not an address
// (which says nothing about accounts), and a *domain.RateLimitError when
// the client's IP is at its limit of reset requests (the first refusal of
// a block audited as rate_limited). An address at its limit of mails is
// not an error: the request is accepted and nothing is sent. Otherwise it
// returns nil, or an error when the limiter's store is down or the request
// ran out of time waiting for a slot, whatever the address.
func (uc *RequestPasswordReset) Do(ctx context.Context, in RequestPasswordResetInput) error {
	now := uc.env.now()
	email, err := domain.ParseEmail(in.Email)
	if err != nil {
		return err
	}
	if first, err := admission("password reset", uc.limiter.AdmitMailRequest(ctx, domain.PurposePasswordReset, in.Client, now)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, 0, uuid.Nil, in.Client, now))
		}
		return err
	}
	ok, err := uc.env.admitMailTo(ctx, uc.limiter, domain.PurposePasswordReset, email, now)
	if err != nil || !ok {
		return err
	}
	if err := uc.later.Go(ctx, func(ctx context.Context) { uc.send(ctx, email, in.Client, now) }); err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	return nil
}

// errNoReset ends the change of an account that may not get a reset link
// after all (it was disabled or moved to another address meanwhile).
var errNoReset = errors.New("no reset link for this account")

// send mails a reset link to the active account with email, if any.
func (uc *RequestPasswordReset) send(ctx context.Context, email domain.Email, client domain.ClientInfo, now time.Time) {
	u, err := uc.users.ByEmail(ctx, email)
	switch {
	case errors.Is(err, domain.ErrUserNotFound):
		return
	case err != nil:
		uc.env.log.WarnContext(ctx, "password reset: looking up the address failed; no mail sent", "err", err)
		return
	case !u.IsActive():
		return
	}
	_, err = uc.users.Update(ctx, u.ID(), func(u *domain.User) error {
		if !u.IsActive() || u.Email() != email {
			return errNoReset
		}
		if err := uc.env.mailLink(u, domain.PurposePasswordReset, client, now); err != nil {
			return err
		}
		u.Audit(eventFor(domain.EventPasswordResetRequested, u.ID(), uuid.Nil, client, now))
		return nil
	})
	if err != nil && !errors.Is(err, errNoReset) {
		uc.env.log.ErrorContext(ctx, "password reset: issuing the link failed; no mail sent", "user_id", int64(u.ID()), "err", err)
	}
}
