package application

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// MFA are the multi-factor use cases, built by New from Deps.
type MFA struct {
	EnrollTOTP                *EnrollTOTP
	ConfirmTOTP               *ConfirmTOTP
	RemoveTOTP                *RemoveTOTP
	RegenerateRecoveryCodes   *RegenerateRecoveryCodes
	BeginPasskeyRegistration  *BeginPasskeyRegistration
	FinishPasskeyRegistration *FinishPasskeyRegistration
	ListPasskeys              *ListPasskeys
	RenamePasskey             *RenamePasskey
	RemovePasskey             *RemovePasskey
	CompleteMFALogin          *CompleteMFALogin
	BeginMFAPasskey           *BeginMFAPasskey
	BeginPasskeyLogin         *BeginPasskeyLogin
	FinishPasskeyLogin        *FinishPasskeyLogin
	MFASummary                *GetMFASummary
	ResetMFA                  *ResetMFA
}

// mfaDeps are the parts every multi-factor use case may need.
type mfaDeps struct {
	users      ports.UserRepository
	families   ports.FamilyRepository
	mfa        ports.MFARepository
	challenges ports.WebAuthnChallenges
	secrets    ports.SecretBox
	codes      ports.CodeDigester
	totp       ports.TOTP
	webauthn   ports.WebAuthn
	tokens     ports.AccessTokenIssuer
	policy     domain.SessionPolicy
	limiter    ports.Limiter
	stepUp     stepUp
	env        Env
}

func newMFA(d Deps, env Env) MFA {
	m := &mfaDeps{
		users: d.Users, families: d.Families, mfa: d.MFA, challenges: d.Challenges, secrets: d.Secrets,
		codes: d.Codes, totp: d.TOTP, webauthn: d.WebAuthn, tokens: d.Tokens, policy: d.Policy, limiter: d.Limiter,
		stepUp: stepUp{hasher: d.Hasher, limiter: d.Limiter, env: env}, env: env,
	}
	return MFA{
		EnrollTOTP:                &EnrollTOTP{m},
		ConfirmTOTP:               &ConfirmTOTP{m},
		RemoveTOTP:                &RemoveTOTP{m},
		RegenerateRecoveryCodes:   &RegenerateRecoveryCodes{m},
		BeginPasskeyRegistration:  &BeginPasskeyRegistration{m},
		FinishPasskeyRegistration: &FinishPasskeyRegistration{m},
		ListPasskeys:              &ListPasskeys{m},
		RenamePasskey:             &RenamePasskey{m},
		RemovePasskey:             &RemovePasskey{m},
		CompleteMFALogin:          &CompleteMFALogin{m},
		BeginMFAPasskey:           &BeginMFAPasskey{m},
		BeginPasskeyLogin:         &BeginPasskeyLogin{m},
		FinishPasskeyLogin:        &FinishPasskeyLogin{m},
		MFASummary:                &GetMFASummary{m},
		ResetMFA:                  &ResetMFA{m},
	}
}

// How the mails about second factors name them.
const (
	methodTOTP    = "authenticator app"
	methodPasskey = "passkey"
)

// totpContext is what a user's TOTP secret is sealed for: it opens for
// that user only.
func totpContext(id domain.UserID) []byte { return []byte("totp:" + strconv.FormatInt(int64(id), 10)) }

// current returns the caller of a Bearer route, read with its session.
func (m *mfaDeps) current(ctx context.Context, p domain.Principal) (*domain.User, error) {
	return NewGetCurrentUser(m.users, m.env).Do(ctx, p)
}

// newRecoveryCodes draws a set of recovery codes: as shown once to the
// user, and as stored.
func (m *mfaDeps) newRecoveryCodes() ([]string, []domain.CodeDigest, error) {
	codes, err := domain.NewRecoveryCodes(m.env.random)
	if err != nil {
		return nil, nil, err
	}
	digests := make([]domain.CodeDigest, len(codes))
	for i, c := range codes {
		canon, err := domain.ParseRecoveryCode("recovery_code", c)
		if err != nil {
			return nil, nil, fmt.Errorf("recovery codes: %w", err)
		}
		digests[i] = m.codes.Digest(canon)
	}
	return codes, digests, nil
}

// audit attaches an event about user u's factors to the change a.
func (m *mfaDeps) audit(a interface{ Audit(domain.AuthEvent) }, t domain.EventType, u domain.UserID, sid uuid.UUID, client domain.ClientInfo, now time.Time, detail map[string]string) {
	ev := eventFor(t, u, sid, client, now)
	ev.Detail = detail
	a.Audit(ev)
}

// openSession opens the session of a login that proved amr for owner, and
// returns its tokens. A change to the owner since the proof (deactivated,
// sessions ended by a password change) answers invalid: the login starts
// again.
func (m *mfaDeps) openSession(ctx context.Context, owner domain.Owner, amr domain.AuthMethods, client domain.ClientInfo, now time.Time, invalid error) (TokenPair, error) {
	secret, hash, err := domain.NewRefreshSecret(m.env.random)
	if err != nil {
		return TokenPair{}, err
	}
	id, err := m.env.newFamilyID()
	if err != nil {
		return TokenPair{}, err
	}
	f := domain.NewFamilyAuthenticated(id, owner, hash, client, amr, now, m.policy)
	ev := eventFor(domain.EventLoginSucceeded, owner.ID, id, client, now)
	ev.Detail = map[string]string{"amr": strings.Join(amr.Strings(), " ")}
	f.Audit(ev)
	if err := m.families.Create(ctx, f); err != nil {
		if errors.Is(err, ports.ErrOwnerChanged) {
			return TokenPair{}, invalid
		}
		return TokenPair{}, err
	}
	access, ttl, err := m.tokens.Issue(domain.AccessGrant{UserID: owner.ID, SessionID: id, Role: owner.Role, AMR: amr}, now)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, ExpiresIn: ttl, RefreshToken: secret, SessionID: id, UserID: owner.ID}, nil
}

// stepUp checks the current password of a signed-in user before a change
// to their factors, as a password change does: the abuse limits admit it
// before it is hashed, a wrong one counts toward them and is audited as
// password_change_failed (its detail names the change), a right one does
// not count.
type stepUp struct {
	hasher  ports.PasswordHasher
	limiter ports.Limiter
	env     Env
}

// check returns ErrWrongCurrentPassword when password is not u's, or a
// *domain.RateLimitError.
func (s stepUp) check(ctx context.Context, p domain.Principal, u *domain.User, password string, client domain.ClientInfo, action string, now time.Time) error {
	attempt := domain.NewPasswordAttempt(u.Email(), client, now)
	if first, err := admission(action, s.limiter.AdmitPassword(ctx, attempt)); err != nil {
		if first {
			s.env.record(ctx, eventFor(domain.EventRateLimited, p.UserID, p.SessionID, client, now))
		}
		return err
	}
	err := s.verify(ctx, u, password)
	s.env.settle(ctx, s.limiter, attempt, err)
	if errors.Is(err, ErrWrongCurrentPassword) {
		ev := eventFor(domain.EventPasswordChangeFailed, p.UserID, p.SessionID, client, now)
		ev.Detail = map[string]string{"step_up": action}
		s.env.record(ctx, ev)
	}
	return err
}

func (s stepUp) verify(ctx context.Context, u *domain.User, password string) error {
	if domain.TooLongToBePassword(password) {
		return ErrWrongCurrentPassword
	}
	ok, _, err := s.hasher.Verify(ctx, password, u.PasswordHash())
	if err != nil {
		return fmt.Errorf("check current password: %w", err)
	}
	if !ok {
		return ErrWrongCurrentPassword
	}
	return nil
}

// GetMFASummary returns what the user object shows of a user's factors.
type GetMFASummary struct{ m *mfaDeps }

// Do returns the summary of the factors of user id.
func (uc *GetMFASummary) Do(ctx context.Context, id domain.UserID) (domain.MFASummary, error) {
	s, err := uc.m.mfa.Summary(ctx, id)
	if err != nil {
		return domain.MFASummary{}, fmt.Errorf("mfa summary: %w", err)
	}
	return s, nil
}
