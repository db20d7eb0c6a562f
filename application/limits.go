package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authd/domain"
	"authd/ports"
)

// NoLimits is a ports.Limiter that admits every attempt and remembers
// nothing, for deployments with the abuse limits switched off.
var NoLimits ports.Limiter = noLimits{}

type noLimits struct{}

func (noLimits) AdmitPassword(context.Context, domain.PasswordAttempt) error { return nil }

func (noLimits) SettlePassword(context.Context, domain.PasswordAttempt, domain.AttemptOutcome) error {
	return nil
}

func (noLimits) AdmitRegistration(context.Context, domain.ClientInfo, time.Time) error { return nil }

func (noLimits) AdmitMailRequest(context.Context, domain.TokenPurpose, domain.ClientInfo, time.Time) error {
	return nil
}

func (noLimits) AdmitPasskeyCeremony(context.Context, domain.ClientInfo, time.Time) error {
	return nil
}

func (noLimits) AdmitMailTo(context.Context, domain.TokenPurpose, domain.Email, time.Time) error {
	return nil
}

// admission turns a limiter's answer into the use case's: nil when the
// attempt was admitted, the *domain.RateLimitError of a refusal, any other
// error wrapped with op (the limits fail closed). first is true for the
// first refusal of a block, the one worth an audit event.
func admission(op string, err error) (first bool, _ error) {
	if err == nil {
		return false, nil
	}
	if rl, ok := errors.AsType[*domain.RateLimitError](err); ok {
		return rl.FirstRefusal, rl
	}
	return false, fmt.Errorf("%s: %w", op, err)
}

// outcomeOf is how an admitted password attempt ended, read from the error
// the use case answers with: wrong credentials and disabled accounts are
// failures; errors that pass no verdict on the password (an unavailable
// database or hasher, a cancelled request) count neither way.
func outcomeOf(err error) domain.AttemptOutcome {
	switch {
	case err == nil:
		return domain.AttemptSucceeded
	case errors.Is(err, domain.ErrInvalidCredentials), errors.Is(err, domain.ErrAccountDisabled):
		return domain.AttemptFailed
	}
	return domain.AttemptAborted
}

// settleTimeout bounds recording the outcome of an attempt whose request
// may already be out of time.
const settleTimeout = 5 * time.Second

// settle records the outcome of an admitted password attempt. The answer
// is decided by then, so a failure to record it is logged, not returned;
// the attempt then stays counted as a failure. It runs even when the
// request has run out of time (an attempt cut short must be taken back),
// bounded by settleTimeout. An unavailable database is a warning (the
// outage is answered elsewhere), anything else an error.
func (e Env) settle(ctx context.Context, l ports.Limiter, a domain.PasswordAttempt, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	serr := l.SettlePassword(ctx, a, outcomeOf(err))
	switch {
	case serr == nil:
	case errors.Is(serr, ports.ErrUnavailable):
		e.log.WarnContext(ctx, "recording a password attempt for the abuse limits failed", "err", serr)
	default:
		e.log.ErrorContext(ctx, "recording a password attempt for the abuse limits failed", "err", serr)
	}
}
