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
	users    ports.UserRepository
	families ports.FamilyRepository
	mfa      ports.MFARepository
	hasher   ports.PasswordHasher
	tokens   ports.AccessTokenIssuer
	policy   domain.SessionPolicy
	limiter  ports.Limiter
	env      Env
}

// NewLogin returns the Login use case; limiter enforces the abuse limits
// (NoLimits for none), mfa tells which accounts need a second factor.
func NewLogin(users ports.UserRepository, families ports.FamilyRepository, mfa ports.MFARepository, hasher ports.PasswordHasher,
	tokens ports.AccessTokenIssuer, policy domain.SessionPolicy, limiter ports.Limiter, env Env) *Login {
	return &Login{users: users, families: families, mfa: mfa, hasher: hasher, tokens: tokens, policy: policy, limiter: limiter, env: env}
}

// Do verifies the credentials and returns the tokens of a new session.
//
// The abuse limits decide first, before any password is hashed, so a
// refusal, a *domain.RateLimitError, says nothing about the password and
// the same for existing and unknown accounts. The first refusal of a block
// is audited as rate_limited. An admitted attempt is then checked and its
// outcome recorded: failures count, successes do not.
//
// Otherwise it returns domain.ErrInvalidCredentials for an unknown email or
// a wrong password alike (an unknown email costs one dummy hash so that
// timing does not tell them apart), and also when the user's sessions were
// ended (a password change) between the check and the new session; and
// domain.ErrAccountDisabled only after a correct password; likewise
// domain.ErrEmailNotVerified when verified addresses are required (an
// attempt that counts neither way: the password was right).
//
// An account with a second factor answers a correct password with an
// *MFARequiredError, whose mfa_token continues the login at
// CompleteMFALogin; the password attempt then counts neither way.
func (uc *Login) Do(ctx context.Context, in LoginInput) (TokenPair, error) {
	now := uc.env.now()
	email, err := domain.ParseEmail(in.Email)
	if err != nil {
		// Nothing to look up, count or hash: such input can never match.
		return TokenPair{}, domain.ErrInvalidCredentials
	}
	attempt := domain.NewPasswordAttempt(email, in.Client, now)
	if first, err := admission("login", uc.limiter.AdmitPassword(ctx, attempt)); err != nil {
		if first {
			uc.env.record(ctx, eventFor(domain.EventRateLimited, uc.userID(ctx, email), uuid.Nil, in.Client, now))
		}
		return TokenPair{}, err
	}
	tp, err := uc.logIn(ctx, email, in, now)
	uc.env.settle(ctx, uc.limiter, attempt, err)
	return tp, err
}

// userID returns the id of the user with email, or zero when there is none
// (or it cannot be read: the id only enriches an audit event).
func (uc *Login) userID(ctx context.Context, email domain.Email) domain.UserID {
	u, err := uc.users.ByEmail(ctx, email)
	if err != nil {
		return 0
	}
	return u.ID()
}

// logIn checks the password of an admitted attempt and opens the session.
func (uc *Login) logIn(ctx context.Context, email domain.Email, in LoginInput, now time.Time) (TokenPair, error) {
	if domain.TooLongToBePassword(in.Password) {
		// It can never match: a failure (counted) that costs no hash.
		return TokenPair{}, domain.ErrInvalidCredentials
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
	if err := uc.checkVerified(ctx, u, in.Client, now); err != nil {
		return TokenPair{}, err
	}
	if rehash {
		uc.upgradeHash(ctx, u.ID(), in.Password)
	}
	// One prepared statement tells whether the account needs a second factor.
	summary, err := uc.mfa.Summary(ctx, u.ID())
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	if factors := summary.SecondFactors(); len(factors) > 0 {
		return TokenPair{}, awaitSecondFactor(ctx, uc.mfa, uc.env, u, email, factors, in.Client, now)
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
	access, ttl, err := uc.tokens.Issue(domain.AccessGrant{UserID: u.ID(), SessionID: id, Role: u.Role(), AMR: f.AuthMethods()}, now)
	if err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	return TokenPair{AccessToken: access, ExpiresIn: ttl, RefreshToken: secret, SessionID: id, UserID: u.ID()}, nil
}

// checkVerified returns domain.ErrEmailNotVerified, audited as a failed
// login, when verified addresses are required and u's is not.
func (uc *Login) checkVerified(ctx context.Context, u *domain.User, client domain.ClientInfo, now time.Time) error {
	if !uc.env.email.RequireVerified {
		return nil
	}
	err := u.CheckEmailVerified()
	if err != nil {
		ev := eventFor(domain.EventLoginFailed, u.ID(), uuid.Nil, client, now)
		ev.Detail = map[string]string{"reason": "email_not_verified"}
		uc.env.record(ctx, ev)
	}
	return err
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
