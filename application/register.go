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

// RegisterInput is a registration request as received.
type RegisterInput struct {
	Email    string
	Password string
	Client   domain.ClientInfo
}

// Register creates an account.
type Register struct {
	users   ports.UserRepository
	hasher  ports.PasswordHasher
	common  domain.CommonPasswordChecker
	limiter ports.Limiter
	env     Env
}

// NewRegister returns the Register use case; limiter enforces the abuse
// limits (NoLimits for none).
func NewRegister(users ports.UserRepository, hasher ports.PasswordHasher, common domain.CommonPasswordChecker, limiter ports.Limiter, env Env) *Register {
	return &Register{users: users, hasher: hasher, common: common, limiter: limiter, env: env}
}

// Do validates in, hashes the password and stores a new active user with
// role "user", with email on mailing it a verification link in the same
// transaction. It returns a *domain.ValidationError listing every invalid
// field, domain.ErrEmailTaken, or a *domain.RateLimitError when the client
// IP is at its limit of registrations: every registration counts, whatever
// its outcome, and the first refusal of a block is audited as rate_limited.
//
// When verified addresses are required (VerificationRequired), a taken
// address is answered like a new one: its owner is mailed a notice of the
// attempt instead, and Do returns a nil user and a nil error. Either way
// the mail to the address counts against its limit of verification mails;
// past it none is sent, silently.
func (uc *Register) Do(ctx context.Context, in RegisterInput) (*domain.User, error) {
	now := uc.env.now()
	if first, err := admission("register", uc.limiter.AdmitRegistration(ctx, in.Client, now)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, 0, uuid.Nil, in.Client, now))
		}
		return nil, err
	}
	var verr domain.ValidationError
	email, err := domain.ParseEmail(in.Email)
	collect(&verr, err)
	collect(&verr, domain.ValidatePassword("password", in.Password, uc.common))
	if err := verr.Err(); err != nil {
		return nil, err
	}
	hash, err := uc.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("register: hash password: %w", err)
	}
	u, err := domain.NewUser(email, hash, now)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	u.Audit(eventFor(domain.EventUserRegistered, 0, uuid.Nil, in.Client, now))
	mail := false
	if uc.env.mail != nil {
		if mail, err = uc.env.admitMailTo(ctx, uc.limiter, domain.PurposeEmailVerification, email, now); err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
	}
	if mail {
		// The account matters more than its first link, which can be sent
		// again: a link that cannot be rendered (the templates were all
		// rendered at start-up, so a bug) is logged, not fatal.
		if err := uc.env.mailLink(u, domain.PurposeEmailVerification, in.Client, now); err != nil {
			uc.env.log.ErrorContext(ctx, "register: the verification link was not queued", "err", err)
		} else {
			u.Audit(eventFor(domain.EventEmailVerificationSent, 0, uuid.Nil, in.Client, now))
		}
	}
	created, err := uc.users.Create(ctx, u)
	if errors.Is(err, domain.ErrEmailTaken) && uc.VerificationRequired() {
		if mail {
			uc.notifyOwner(ctx, email, in.Client, now)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return created, nil
}

// VerificationRequired reports whether accounts need a verified address
// to log in; registration then answers alike for new and taken addresses.
func (uc *Register) VerificationRequired() bool { return uc.env.email.RequireVerified }

// notifyOwner mails the owner of email a notice that someone tried to
// register the address again. The registration is answered as accepted
// whatever happens here, so a failure is logged.
func (uc *Register) notifyOwner(ctx context.Context, email domain.Email, client domain.ClientInfo, now time.Time) {
	owner, err := uc.users.ByEmail(ctx, email)
	if err == nil {
		_, err = uc.users.Update(ctx, owner.ID(), func(u *domain.User) error {
			return uc.env.queueMail(u, domain.MailToUser(0), domain.MailRegistrationAttempt, ports.MailData{Client: client, At: now})
		})
	}
	if err != nil {
		uc.env.log.WarnContext(ctx, "register: the notice to the owner of a taken address was not queued", "err", err)
	}
}
