package application

import (
	"context"
	"errors"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// AuthorizeAdmin checks that a caller is an active admin now, in the
// database, whatever its token claims.
type AuthorizeAdmin struct {
	users ports.UserRepository
}

// NewAuthorizeAdmin returns the AuthorizeAdmin use case.
func NewAuthorizeAdmin(users ports.UserRepository) *AuthorizeAdmin {
	return &AuthorizeAdmin{users: users}
}

// Do returns domain.ErrForbidden unless the principal's user exists, is
// active and has role admin.
func (uc *AuthorizeAdmin) Do(ctx context.Context, p domain.Principal) error {
	u, err := uc.users.ByID(ctx, p.UserID)
	if errors.Is(err, domain.ErrUserNotFound) {
		return domain.ErrForbidden
	}
	if err != nil {
		return fmt.Errorf("authorize admin: %w", err)
	}
	if !u.IsAdmin() {
		return domain.ErrForbidden
	}
	return nil
}
