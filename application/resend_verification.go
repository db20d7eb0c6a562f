package application

import (
	"context"
	"errors"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// ResendVerification mails the caller a new verification link.
type ResendVerification struct {
	users   ports.UserRepository
	limiter ports.Limiter
	env     Env
}

// NewResendVerification returns the ResendVerification use case.
func NewResendVerification(users ports.UserRepository, limiter ports.Limiter, env Env) *ResendVerification {
	return &ResendVerification{users: users, limiter: limiter, env: env}
}

// errVerified ends the change of an account verified meanwhile.
var errVerified = errors.New("address already verified")

// Do mails caller, the account GetCurrentUser read for this request, a new
// verification link (revoking the earlier ones) and audits
// email_verification_sent, unless its address is verified already. It
// returns a *domain.RateLimitError when the client's IP is at its limit of
// such requests (the first refusal of a block audited as rate_limited); an
// address at its limit of mails gets none, silently.
func (uc *ResendVerification) Do(ctx context.Context, caller *domain.User, p domain.Principal, client domain.ClientInfo) error {
	now := uc.env.now()
	if first, err := admission("resend verification", uc.limiter.AdmitMailRequest(ctx, domain.PurposeEmailVerification, client, now)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, caller.ID(), p.SessionID, client, now))
		}
		return err
	}
	if caller.EmailVerified() {
		return nil
	}
	ok, err := uc.env.admitMailTo(ctx, uc.limiter, domain.PurposeEmailVerification, caller.Email(), now)
	if err != nil || !ok {
		return err
	}
	_, err = uc.users.Update(ctx, caller.ID(), func(u *domain.User) error {
		if u.EmailVerified() {
			return errVerified
		}
		if err := uc.env.mailLink(u, domain.PurposeEmailVerification, client, now); err != nil {
			return err
		}
		u.Audit(eventFor(domain.EventEmailVerificationSent, u.ID(), p.SessionID, client, now))
		return nil
	})
	if err != nil && !errors.Is(err, errVerified) {
		return fmt.Errorf("resend verification: %w", err)
	}
	return nil
}
