package application

import (
	"context"
	"errors"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// GetCurrentUser authenticates the caller of a Bearer route: it turns the
// principal of a verified access token into the caller's account, provided
// the token's session is still live and the account active. A token whose
// session has ended (logout, log out everywhere, a password change, an
// admin's revocation, a deactivation) stops working at once, not at exp.
type GetCurrentUser struct {
	users ports.UserRepository
	env   Env
}

// NewGetCurrentUser returns the GetCurrentUser use case.
func NewGetCurrentUser(users ports.UserRepository, env Env) *GetCurrentUser {
	return &GetCurrentUser{users: users, env: env}
}

// Do returns the principal's user, read with its session in one lookup.
// It returns domain.ErrInvalidAccessToken when the session has ended or
// expired, belongs to another user, or the user is inactive: the token no
// longer stands for a usable session.
func (uc *GetCurrentUser) Do(ctx context.Context, p domain.Principal) (*domain.User, error) {
	u, err := uc.users.ByLiveSession(ctx, p.SessionID, uc.env.now())
	if errors.Is(err, domain.ErrSessionNotFound) {
		return nil, domain.ErrInvalidAccessToken
	}
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	if u.ID() != p.UserID || !u.IsActive() {
		return nil, domain.ErrInvalidAccessToken
	}
	return u, nil
}
