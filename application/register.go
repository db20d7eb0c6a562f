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
	Users  ports.UserRepository
	Hasher ports.PasswordHasher
	Common domain.CommonPasswordChecker
	PerIP  ports.RateLimiter // nil disables the limit
	Env    Env
}

// Do validates in, hashes the password and stores a new active user with
// role "user". It returns a *domain.ValidationError listing every invalid
// field, domain.ErrEmailTaken, or a *RateLimitError.
func (uc *Register) Do(ctx context.Context, in RegisterInput) (*domain.User, error) {
	now := uc.Env.Clock.Now()
	if err := allow(uc.PerIP, "register:ip:"+in.Client.IP, now); err != nil {
		return nil, err
	}
	var verr domain.ValidationError
	email, err := domain.ParseEmail(in.Email)
	collect(&verr, err)
	collect(&verr, domain.ValidatePassword("password", in.Password, uc.Common))
	if err := verr.Err(); err != nil {
		return nil, err
	}
	hash, err := uc.Hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("register: hash password: %w", err)
	}
	u, err := domain.NewUser(email, hash, now)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	u, err = uc.Users.Create(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	uc.Env.record(ctx, eventFor(domain.EventUserRegistered, u.ID(), uuid.Nil, in.Client, now))
	return u, nil
}

// collect adds the fields of a *domain.ValidationError to verr.
func collect(verr *domain.ValidationError, err error) {
	var v *domain.ValidationError
	if errors.As(err, &v) {
		verr.Fields = append(verr.Fields, v.Fields...)
	}
}

// allow consults an optional rate limiter and returns a *RateLimitError
// when key is over its limit.
func allow(l ports.RateLimiter, key string, now time.Time) error {
	if l == nil {
		return nil
	}
	if ok, wait := l.Allow(key, now); !ok {
		return &RateLimitError{RetryAfter: wait}
	}
	return nil
}
