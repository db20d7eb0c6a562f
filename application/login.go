package application

import (
	"context"
	"errors"
	"fmt"

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

// LoginLimits are the rate limits of Login (Unlimited for none).
type LoginLimits struct {
	PerIP      ports.RateLimiter
	PerAccount ports.RateLimiter
}

// Login checks a password and opens a session.
type Login struct {
	users    ports.UserRepository
	families ports.FamilyRepository
	hasher   ports.PasswordHasher
	tokens   ports.AccessTokenIssuer
	policy   domain.SessionPolicy
	limits   LoginLimits
	env      Env
}

// NewLogin returns the Login use case.
func NewLogin(users ports.UserRepository, families ports.FamilyRepository, hasher ports.PasswordHasher,
	tokens ports.AccessTokenIssuer, policy domain.SessionPolicy, limits LoginLimits, env Env) *Login {
	return &Login{users: users, families: families, hasher: hasher, tokens: tokens, policy: policy, limits: limits, env: env}
}

// Do verifies the credentials and returns the tokens of a new session.
//
// It returns domain.ErrInvalidCredentials for an unknown email or a wrong
// password alike (an unknown email costs one dummy hash so that timing does
// not tell them apart), and also when the user's sessions were ended (a
// password change) between the check and the new session;
// domain.ErrAccountDisabled only after a correct password; and a
// *RateLimitError when the IP or the account is over its limit.
func (uc *Login) Do(ctx context.Context, in LoginInput) (TokenPair, error) {
	now := uc.env.now()
	if err := allow(uc.limits.PerIP, "login:ip:"+in.Client.IP(), now); err != nil {
		return TokenPair{}, err
	}
	email, err := domain.ParseEmail(in.Email)
	if err != nil || domain.TooLongToBePassword(in.Password) {
		// Nothing to look up or hash: such input can never match.
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	if err := allow(uc.limits.PerAccount, "login:account:"+email.String(), now); err != nil {
		return TokenPair{}, err
	}

	u, err := uc.users.ByEmail(ctx, email)
	if errors.Is(err, domain.ErrUserNotFound) {
		if err := uc.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return TokenPair{}, fmt.Errorf("login: %w", err)
		}
		uc.env.record(ctx, eventFor(domain.EventLoginFailed, 0, uuid.Nil, in.Client, now))
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := uc.hasher.Verify(ctx, in.Password, u.PasswordHash())
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: verify password: %w", err)
	}
	if !ok {
		uc.env.record(ctx, eventFor(domain.EventLoginFailed, u.ID(), uuid.Nil, in.Client, now))
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	if err := u.CanLogIn(); err != nil {
		uc.env.record(ctx, eventFor(domain.EventLoginFailed, u.ID(), uuid.Nil, in.Client, now))
		return TokenPair{}, err
	}
	if rehash {
		uc.upgradeHash(ctx, u.ID(), in.Password)
	}

	secret, hash, err := domain.NewRefreshSecret(uc.env.random)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	id, err := uc.env.newFamilyID()
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	f := domain.NewFamily(id, u.Owner(), hash, in.Client, now, uc.policy)
	f.Audit(eventFor(domain.EventLoginSucceeded, u.ID(), id, in.Client, now))
	if err := uc.families.Create(ctx, f); err != nil {
		if errors.Is(err, ports.ErrOwnerChanged) {
			// The password checked above is no longer the user's, or the
			// account was switched off meanwhile.
			return TokenPair{}, domain.ErrInvalidCredentials
		}
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	access, ttl, err := uc.tokens.Issue(domain.AccessGrant{UserID: u.ID(), SessionID: id, Role: u.Role()}, now)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	return TokenPair{AccessToken: access, ExpiresIn: ttl, RefreshToken: secret, SessionID: id, UserID: u.ID()}, nil
}

// upgradeHash replaces a hash made with outdated parameters. The login has
// already succeeded, so a failure here is logged and otherwise ignored.
func (uc *Login) upgradeHash(ctx context.Context, id domain.UserID, plain string) {
	hash, err := uc.hasher.Hash(ctx, plain)
	if err == nil {
		_, err = uc.users.Update(ctx, id, func(u *domain.User) error {
			u.UpgradePasswordHash(hash)
			return nil
		})
	}
	if err != nil {
		uc.env.log.WarnContext(ctx, "password hash upgrade failed", "user_id", int64(id), "err", err)
	}
}
