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

// LoginInput is a login request as received.
type LoginInput struct {
	Email    string
	Password string
	Client   domain.ClientInfo
}

// Login checks a password and opens a session.
type Login struct {
	Users      ports.UserRepository
	Families   ports.FamilyRepository
	Hasher     ports.PasswordHasher
	Tokens     ports.AccessTokenIssuer
	Policy     domain.SessionPolicy
	PerIP      ports.RateLimiter // nil disables the limit
	PerAccount ports.RateLimiter // nil disables the limit
	Env        Env
}

// Do verifies the credentials and returns the tokens of a new session.
//
// It returns domain.ErrInvalidCredentials for an unknown email or a wrong
// password alike (an unknown email costs one dummy hash so that timing does
// not tell them apart), domain.ErrAccountDisabled only after a correct
// password, and a *RateLimitError when the IP or the account is over its limit.
func (uc *Login) Do(ctx context.Context, in LoginInput) (TokenPair, error) {
	now := uc.Env.Clock.Now()
	if err := allow(uc.PerIP, "login:ip:"+in.Client.IP, now); err != nil {
		return TokenPair{}, err
	}
	email, err := domain.ParseEmail(in.Email)
	if err != nil || domain.TooLongToBePassword(in.Password) {
		// Nothing to look up or hash: such input can never match.
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	if err := allow(uc.PerAccount, "login:account:"+email.String(), now); err != nil {
		return TokenPair{}, err
	}

	u, err := uc.Users.ByEmail(ctx, email)
	if errors.Is(err, domain.ErrUserNotFound) {
		if err := uc.Hasher.VerifyDummy(ctx, in.Password); err != nil {
			return TokenPair{}, fmt.Errorf("login: %w", err)
		}
		uc.Env.record(ctx, eventFor(domain.EventLoginFailed, 0, uuid.Nil, in.Client, now))
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := uc.Hasher.Verify(ctx, in.Password, u.PasswordHash())
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: verify password: %w", err)
	}
	if !ok {
		uc.Env.record(ctx, eventFor(domain.EventLoginFailed, u.ID(), uuid.Nil, in.Client, now))
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	if err := u.CanLogIn(); err != nil {
		uc.Env.record(ctx, eventFor(domain.EventLoginFailed, u.ID(), uuid.Nil, in.Client, now))
		return TokenPair{}, err
	}
	if rehash {
		uc.upgradeHash(ctx, u.ID(), in.Password, now)
	}

	secret, hash, err := domain.NewRefreshSecret(uc.Env.Random)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	id, err := newFamilyID(uc.Env.Random)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	owner := domain.Owner{ID: u.ID(), Role: u.Role(), Active: true}
	f := domain.NewFamily(id, owner, hash, in.Client, now, uc.Policy)
	if err := uc.Families.Create(ctx, f); err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	access, ttl, err := uc.Tokens.Issue(domain.AccessGrant{UserID: u.ID(), SessionID: id, Role: u.Role()}, now)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	uc.Env.record(ctx, eventFor(domain.EventLoginSucceeded, u.ID(), id, in.Client, now))
	return TokenPair{AccessToken: access, ExpiresIn: ttl, RefreshToken: secret, SessionID: id, UserID: u.ID()}, nil
}

// upgradeHash replaces a hash made with outdated parameters. The login has
// already succeeded, so a failure here is logged and otherwise ignored.
func (uc *Login) upgradeHash(ctx context.Context, id domain.UserID, plain string, now time.Time) {
	hash, err := uc.Hasher.Hash(ctx, plain)
	if err == nil {
		_, err = uc.Users.Update(ctx, id, now, func(u *domain.User, _ int) error {
			u.ChangePasswordHash(hash)
			return nil
		})
	}
	if err != nil && uc.Env.Log != nil {
		uc.Env.Log.WarnContext(ctx, "password hash upgrade failed", "user_id", int64(id), "err", err)
	}
}
