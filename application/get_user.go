package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// GetUser returns one user for admins.
type GetUser struct {
	users ports.UserRepository
}

// NewGetUser returns the GetUser use case.
func NewGetUser(users ports.UserRepository) *GetUser { return &GetUser{users: users} }

// Do returns the user with id or domain.ErrUserNotFound.
func (uc *GetUser) Do(ctx context.Context, id domain.UserID) (*domain.User, error) {
	u, err := uc.users.ByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}
