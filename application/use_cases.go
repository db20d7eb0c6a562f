package application

import (
	"log/slog"

	"authd/domain"
	"authd/ports"
)

// Deps is everything the use cases are built from. Audit and Log are
// optional (nil records or logs nothing); a nil rate limiter is Unlimited.
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
	Limits   Limits
}

// Limits are the rate limiters of the use cases.
type Limits struct {
	LoginPerIP      ports.RateLimiter
	LoginPerAccount ports.RateLimiter
	RegisterPerIP   ports.RateLimiter
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
}

// New builds every use case from d: the one place where the application's
// object graph is assembled.
func New(d Deps) *UseCases {
	env := NewEnv(d.Clock, d.Random, d.Audit, d.Log)
	limit := func(l ports.RateLimiter) ports.RateLimiter {
		if l == nil {
			return Unlimited
		}
		return l
	}
	return &UseCases{
		Register: NewRegister(d.Users, d.Hasher, d.Common, limit(d.Limits.RegisterPerIP), env),
		Login: NewLogin(d.Users, d.Families, d.Hasher, d.Tokens, d.Policy,
			LoginLimits{PerIP: limit(d.Limits.LoginPerIP), PerAccount: limit(d.Limits.LoginPerAccount)}, env),
		Refresh:            NewRefresh(d.Families, d.Tokens, d.Policy, env),
		Logout:             NewLogout(d.Families, env),
		LogoutAll:          NewLogoutAll(d.Families, env),
		CurrentUser:        NewGetCurrentUser(d.Users, env),
		ListSessions:       NewListSessions(d.Families, env),
		RevokeSession:      NewRevokeSession(d.Families, env),
		ChangePassword:     NewChangePassword(d.Users, d.Hasher, d.Common, env),
		CreateAdmin:        NewCreateAdmin(d.Users, d.Hasher, d.Common, env),
		AuthorizeAdmin:     NewAuthorizeAdmin(),
		ListUsers:          NewListUsers(d.Users),
		GetUser:            NewGetUser(d.Users),
		UpdateUser:         NewUpdateUser(d.Users, env),
		RevokeUserSessions: NewRevokeUserSessions(d.Users, d.Families, env),
		ListAudit:          NewListAudit(env.audit),
	}
}
