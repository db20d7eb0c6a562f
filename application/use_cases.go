package application

import (
	"log/slog"

	"authd/domain"
	"authd/ports"
)

// Deps is everything the use cases are built from. Audit and Log are
// optional (nil records or logs nothing); a nil Mail queues no mail (email
// is off). Limiter is required: NoLimits switches the abuse limits off.
type Deps struct {
	Users    ports.UserRepository
	Families ports.FamilyRepository
	Audit    ports.AuditLog
	Hasher   ports.PasswordHasher
	Common   domain.CommonPasswordChecker
	Tokens   ports.AccessTokenIssuer
	Clock    ports.Clock
	Random   ports.RandomSource
	Log      *slog.Logger
	Policy   domain.SessionPolicy
	Limiter  ports.Limiter
	Mail     ports.MailRenderer
	// Links builds the one-time links of the mails that carry one.
	Links Links

	// Multi-factor authentication.
	MFA        ports.MFARepository
	Challenges ports.WebAuthnChallenges
	Secrets    ports.SecretBox
	Codes      ports.CodeDigester
	TOTP       ports.TOTP
	WebAuthn   ports.WebAuthn
	// OneTimeTokens redeems the tokens of mailed links.
	OneTimeTokens ports.OneTimeTokenRepository
	// RequireVerifiedEmail refuses logins to unverified addresses
	// (AUTHD_REQUIRE_VERIFIED_EMAIL).
	RequireVerifiedEmail bool
}

// UseCases is every use case of authd, wired to one set of dependencies.
type UseCases struct {
	Register           *Register
	Login              *Login
	Refresh            *Refresh
	Logout             *Logout
	LogoutAll          *LogoutAll
	CurrentUser        *GetCurrentUser
	ListSessions       *ListSessions
	RevokeSession      *RevokeSession
	ChangePassword     *ChangePassword
	CreateAdmin        *CreateAdmin
	AuthorizeAdmin     *AuthorizeAdmin
	ListUsers          *ListUsers
	GetUser            *GetUser
	UpdateUser         *UpdateUser
	RevokeUserSessions *RevokeUserSessions
	ListAudit          *ListAudit
	MFA

	// The email flows.
	RequestPasswordReset *RequestPasswordReset
	ConfirmPasswordReset *ConfirmPasswordReset
	VerifyEmail          *VerifyEmail
	ResendVerification   *ResendVerification
	RequestEmailChange   *RequestEmailChange
	ConfirmEmailChange   *ConfirmEmailChange
	SendPasswordReset    *SendPasswordReset
	// Deferred runs the work requests start without waiting for it (the
	// lookup and mail of a password reset request); Wait on it when the
	// server has stopped taking requests.
	Deferred *Deferred
}

// New builds every use case from d: the one place where the application's
// object graph is assembled.
func New(d Deps) *UseCases {
	env := NewEnv(d.Clock, d.Random, d.Audit, d.Log).WithMail(d.Mail).
		WithEmailOptions(EmailOptions{Links: d.Links, RequireVerified: d.RequireVerifiedEmail})
	later := NewDeferred(DefaultDeferredSlots, DefaultDeferredTimeout, d.Log)
	return &UseCases{
		Register:           NewRegister(d.Users, d.Hasher, d.Common, d.Limiter, env),
		Login:              NewLogin(d.Users, d.Families, d.MFA, d.Hasher, d.Tokens, d.Policy, d.Limiter, env),
		Refresh:            NewRefresh(d.Families, d.Tokens, d.Policy, env),
		Logout:             NewLogout(d.Families, env),
		LogoutAll:          NewLogoutAll(d.Families, env),
		CurrentUser:        NewGetCurrentUser(d.Users, env),
		ListSessions:       NewListSessions(d.Families, env),
		RevokeSession:      NewRevokeSession(d.Families, env),
		ChangePassword:     NewChangePassword(d.Users, d.Hasher, d.Common, d.Limiter, env),
		CreateAdmin:        NewCreateAdmin(d.Users, d.Hasher, d.Common, env),
		AuthorizeAdmin:     NewAuthorizeAdmin(),
		ListUsers:          NewListUsers(d.Users),
		GetUser:            NewGetUser(d.Users),
		UpdateUser:         NewUpdateUser(d.Users, env),
		RevokeUserSessions: NewRevokeUserSessions(d.Users, d.Families, env),
		ListAudit:          NewListAudit(env.audit),
		MFA:                newMFA(d, env),

		RequestPasswordReset: NewRequestPasswordReset(d.Users, d.Limiter, env, later),
		ConfirmPasswordReset: NewConfirmPasswordReset(d.OneTimeTokens, d.Hasher, d.Common, env),
		VerifyEmail:          NewVerifyEmail(d.OneTimeTokens, env),
		ResendVerification:   NewResendVerification(d.Users, d.Limiter, env),
		RequestEmailChange:   NewRequestEmailChange(d.Users, d.Hasher, d.Limiter, env),
		ConfirmEmailChange:   NewConfirmEmailChange(d.OneTimeTokens, env),
		SendPasswordReset:    NewSendPasswordReset(d.Users, env),
		Deferred:             later,
	}
}
