package application

import (
	"context"
	"fmt"

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
// role "user". It returns a *domain.ValidationError listing every invalid
// field, domain.ErrEmailTaken, or a *domain.RateLimitError when the client
// IP is at its limit of registrations: every registration counts, whatever
// its outcome, and the first refusal of a block is audited as rate_limited.
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
	u, err = uc.users.Create(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return u, nil
}
