package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// GetUser returns one user for admins.
type GetUser struct {
	Users ports.UserRepository
}

// Do returns the user with id or domain.ErrUserNotFound.
func (uc *GetUser) Do(ctx context.Context, id domain.UserID) (*domain.User, error) {
	u, err := uc.Users.ByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}
