package application

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// MFARequiredError answers a login whose password was right for an account
// with a second factor: the mfa_token that continues it at
// CompleteMFALogin, and the factors that may. It matches
// domain.ErrMFARequired; its message never shows the token.
type MFARequiredError struct {
	Token     string
	Methods   []domain.SecondFactor
	ExpiresIn time.Duration
}

// Error implements error.
func (e *MFARequiredError) Error() string { return domain.ErrMFARequired.Error() }

// Is makes errors.Is(err, domain.ErrMFARequired) true.
func (e *MFARequiredError) Is(target error) bool { return target == domain.ErrMFARequired }

// awaitSecondFactor is the end of a login whose password was right for u
// when factors are required: it stores a pending login under a new
// mfa_token and answers *MFARequiredError.
func awaitSecondFactor(ctx context.Context, repo ports.MFARepository, env Env, u *domain.User, account domain.Email, factors []domain.SecondFactor, client domain.ClientInfo, now time.Time) error {
	token, hash, err := domain.NewMFAToken(env.random)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := repo.CreateLogin(ctx, domain.NewPendingLogin(hash, u, account, client, now)); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return &MFARequiredError{Token: token, Methods: factors, ExpiresIn: domain.MFATokenTTL}
}

// CompleteMFAInput is the second step of a login as received: the
// mfa_token and exactly one second factor.
type CompleteMFAInput struct {
	MFAToken     string
	TOTPCode     *string
	RecoveryCode *string
	// Assertion is the PublicKeyCredential of navigator.credentials.get,
	// as JSON, answering BeginMFAPasskey's options.
	Assertion []byte
	Client    domain.ClientInfo
}

// CompleteMFALogin finishes a login with its second factor.
type CompleteMFALogin struct{ m *mfaDeps }

// Do checks the second factor of the pending login named by the mfa_token
// and opens its session, authenticated by the password and that factor.
//
// A failure counts twice: toward the token (domain.MaxMFAFailures end it)
// and, like a wrong password, toward the abuse limits of the account, which
// admit the attempt first (a *domain.RateLimitError). A TOTP code is
// accepted for one step either side of now and each step once; a recovery
// code once; a passkey whose signature counter does not go up is refused
// (audited, and the user mailed, as a possible clone).
//
// It returns a *domain.ValidationError unless exactly one well-formed
// factor is given, domain.ErrInvalidMFAToken for an unknown, expired, used
// or ended token (or one whose user changed since), an error matching
// domain.ErrInvalidWebAuthnResponse for a malformed assertion,
// domain.ErrWebAuthnChallengeInvalid when it answers no challenge of this
// login, and domain.ErrInvalidSecondFactor for a factor that does not
// prove it.
func (uc *CompleteMFALogin) Do(ctx context.Context, in CompleteMFAInput) (TokenPair, error) {
	now := uc.m.env.now()
	f, err := parseFactor(in)
	if err != nil {
		return TokenPair{}, err
	}
	if !domain.LooksLikeMFAToken(in.MFAToken) {
		return TokenPair{}, domain.ErrInvalidMFAToken
	}
	hash := domain.HashRefreshToken(in.MFAToken)
	if in.Assertion != nil {
		if f.assertion, err = uc.m.webauthn.ParseAssertion(in.Assertion); err != nil {
			return TokenPair{}, err
		}
	}
	l, err := uc.m.mfa.Login(ctx, hash)
	if err != nil {
		return TokenPair{}, fmt.Errorf("mfa login: %w", err)
	}
	if err := l.Usable(now); err != nil {
		return TokenPair{}, err
	}
	if in.Assertion != nil {
		c, err := uc.m.challenges.Take(ctx, f.assertion.Challenge)
		if err != nil {
			return TokenPair{}, fmt.Errorf("mfa login: %w", err)
		}
		if err := c.Answers(domain.CeremonySecondFactor, l.UserID(), hash, now); err != nil {
			return TokenPair{}, err
		}
		f.state = c.State()
	}
	attempt := domain.NewPasswordAttempt(l.Account(), in.Client, now)
	if first, err := admission("mfa login", uc.m.limiter.AdmitPassword(ctx, attempt)); err != nil {
		if first {
			uc.m.env.record(ctx, eventFor(domain.EventRateLimited, l.UserID(), uuid.Nil, in.Client, now))
		}
		return TokenPair{}, err
	}
	tp, err := uc.complete(ctx, hash, f, in.Client, now)
	uc.m.env.settle(ctx, uc.m.limiter, attempt, err)
	return tp, err
}

// factor is the one second factor of a CompleteMFAInput, parsed.
type factor struct {
	totp, recovery string
	assertion      ports.ParsedAssertion
	state          []byte
	kind           domain.SecondFactor
}

func parseFactor(in CompleteMFAInput) (factor, error) {
	n := 0
	var f factor
	var err error
	if in.TOTPCode != nil {
		n++
		f.kind = domain.FactorTOTP
		f.totp, err = domain.ParseTOTPCode("totp_code", *in.TOTPCode)
	}
	if in.RecoveryCode != nil {
		n++
		f.kind = domain.FactorRecoveryCode
		f.recovery, err = domain.ParseRecoveryCode("recovery_code", *in.RecoveryCode)
	}
	if in.Assertion != nil {
		n++
		f.kind = domain.FactorWebAuthn
	}
	if n != 1 {
		return factor{}, domain.NewValidationError("totp_code", "exactly one of totp_code, recovery_code and webauthn is required")
	}
	return f, err
}

// complete checks f against the pending login's user in one transaction
// and opens the session.
func (uc *CompleteMFALogin) complete(ctx context.Context, hash domain.TokenHash, f factor, client domain.ClientInfo, now time.Time) (TokenPair, error) {
	var owner domain.Owner
	var method domain.AuthMethod
	err := uc.m.mfa.UpdateLogin(ctx, hash, func(l *domain.PendingLogin, m *domain.MFA) error {
		if err := l.Usable(now); err != nil {
			return err
		}
		var err error
		method, err = uc.check(ctx, l, m, f, client, now)
		if errors.Is(err, domain.ErrInvalidSecondFactor) {
			uc.m.audit(l, domain.EventMFAFailed, l.UserID(), uuid.Nil, client, now, map[string]string{
				"method": string(f.kind), "failures": strconv.Itoa(l.Failures() + 1),
			})
			return l.Fail(now)
		}
		if err != nil {
			return err
		}
		if err := l.Complete(now); err != nil {
			return err
		}
		owner = m.Owner()
		// The session opens only while the user is where the password
		// found them: a password change in between ends this login too.
		owner.SessionEpoch = l.SessionEpoch()
		return nil
	})
	if err != nil {
		return TokenPair{}, fmt.Errorf("mfa login: %w", err)
	}
	if !owner.Active {
		return TokenPair{}, domain.ErrAccountDisabled
	}
	tp, err := uc.m.openSession(ctx, owner, domain.PasswordAnd(method), client, now, domain.ErrInvalidMFAToken)
	if err != nil {
		return TokenPair{}, fmt.Errorf("mfa login: %w", err)
	}
	return tp, nil
}

// check decides whether f proves the second factor of m's user and returns
// its method; domain.ErrInvalidSecondFactor when it does not.
func (uc *CompleteMFALogin) check(ctx context.Context, l *domain.PendingLogin, m *domain.MFA, f factor, client domain.ClientInfo, now time.Time) (domain.AuthMethod, error) {
	switch f.kind {
	case domain.FactorTOTP:
		sealed, ok := m.TOTPSecret()
		if !ok {
			return "", domain.ErrInvalidSecondFactor
		}
		secret, err := uc.m.secrets.Open(sealed, totpContext(m.UserID()))
		if err != nil {
			return "", fmt.Errorf("open the TOTP secret: %w", err)
		}
		for _, step := range m.TOTPCandidates(now) {
			if uc.m.totp.Matches(secret, f.totp, step) {
				return domain.AMROTP, m.AcceptTOTP(step, now)
			}
		}
		return "", domain.ErrInvalidSecondFactor
	case domain.FactorRecoveryCode:
		if err := m.UseRecoveryCode(func(d domain.CodeDigest) bool { return uc.m.codes.Matches(f.recovery, d) }, now); err != nil {
			return "", err
		}
		uc.m.audit(m, domain.EventRecoveryCodeUsed, m.UserID(), uuid.Nil, client, now, map[string]string{"left": strconv.Itoa(m.RecoveryCodesLeft())})
		uc.m.env.notify(ctx, m, domain.MailToUser(0), domain.MailRecoveryCodeUsed, ports.MailData{Client: client, At: now})
		return domain.AMROTP, nil
	default:
		owner := ports.PasskeyOwner{Handle: m.UserHandle(), Name: l.Account().String()}
		a, err := uc.m.webauthn.VerifyAssertion(f.assertion, f.state, owner, m.Passkeys())
		if err != nil {
			return "", fmt.Errorf("%w: %w", domain.ErrInvalidSecondFactor, err)
		}
		pk, err := usePasskey(ctx, uc.m, m, a, client, now)
		if err != nil {
			return "", fmt.Errorf("%w: %w", domain.ErrInvalidSecondFactor, err)
		}
		return pk.Credential().Method(), nil
	}
}

// usePasskey records a verified assertion on m; a signature counter that
// did not go up is audited and mailed as a possible clone, and refused.
func usePasskey(ctx context.Context, d *mfaDeps, m *domain.MFA, a domain.PasskeyAssertion, client domain.ClientInfo, now time.Time) (domain.Passkey, error) {
	pk, err := m.UsePasskey(a, now)
	if errors.Is(err, domain.ErrPasskeyCounterRegressed) {
		d.audit(m, domain.EventPasskeyCounterRegressed, m.UserID(), uuid.Nil, client, now, map[string]string{
			"passkey": pk.ID().String(), "name": pk.Name(),
			"stored_count": strconv.FormatUint(uint64(pk.SignCount()), 10), "presented_count": strconv.FormatUint(uint64(a.SignCount), 10),
		})
		d.env.notify(ctx, m, domain.MailToUser(0), domain.MailPasskeyCounterRegressed, ports.MailData{Client: client, At: now, Method: "“" + pk.Name() + "”"})
	}
	return pk, err
}

// BeginMFAPasskey starts the passkey assertion of a pending login.
type BeginMFAPasskey struct{ m *mfaDeps }

// Do returns the options of navigator.credentials.get for the pending
// login named by mfaToken, with the user's passkeys allowed; the ceremony's
// state is kept, bound to that login, for CompleteMFALogin. It returns
// domain.ErrInvalidMFAToken, and domain.ErrMFANotEnrolled when the user has
// no passkey.
func (uc *BeginMFAPasskey) Do(ctx context.Context, mfaToken string) ([]byte, error) {
	now := uc.m.env.now()
	if !domain.LooksLikeMFAToken(mfaToken) {
		return nil, domain.ErrInvalidMFAToken
	}
	hash := domain.HashRefreshToken(mfaToken)
	l, err := uc.m.mfa.Login(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("begin mfa passkey: %w", err)
	}
	if err := l.Usable(now); err != nil {
		return nil, err
	}
	m, err := uc.m.mfa.ByUser(ctx, l.UserID())
	if errors.Is(err, domain.ErrUserNotFound) {
		return nil, domain.ErrInvalidMFAToken
	}
	if err != nil {
		return nil, fmt.Errorf("begin mfa passkey: %w", err)
	}
	if len(m.Passkeys()) == 0 {
		return nil, domain.ErrMFANotEnrolled
	}
	owner := ports.PasskeyOwner{Handle: m.UserHandle(), Name: l.Account().String()}
	c, err := uc.m.webauthn.BeginLogin(&owner, m.Passkeys())
	if err != nil {
		return nil, fmt.Errorf("begin mfa passkey: %w", err)
	}
	if err := uc.m.challenges.Save(ctx, domain.NewWebAuthnChallenge(c.Challenge, domain.CeremonySecondFactor, l.UserID(), hash, c.State, now)); err != nil {
		return nil, fmt.Errorf("begin mfa passkey: %w", err)
	}
	return c.Options, nil
}
