package application

import (
	"context"
	"errors"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// GetCurrentUser returns the caller's account.
type GetCurrentUser struct {
	users ports.UserRepository
}

// NewGetCurrentUser returns the GetCurrentUser use case.
func NewGetCurrentUser(users ports.UserRepository) *GetCurrentUser {
	return &GetCurrentUser{users: users}
}

// Do returns the principal's user. It returns domain.ErrInvalidAccessToken
// when the user no longer exists or is inactive: the token no longer stands
// for a usable account.
func (uc *GetCurrentUser) Do(ctx context.Context, p domain.Principal) (*domain.User, error) {
	u, err := uc.users.ByID(ctx, p.UserID)
	if errors.Is(err, domain.ErrUserNotFound) {
		return nil, domain.ErrInvalidAccessToken
	}
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	if !u.IsActive() {
		return nil, domain.ErrInvalidAccessToken
	}
	return u, nil
}
