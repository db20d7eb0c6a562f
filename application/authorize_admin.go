package application

import (
	"authd/domain"
)

// AuthorizeAdmin checks that a caller is an active admin now, in the
// database, whatever its token claims.
type AuthorizeAdmin struct{}

// NewAuthorizeAdmin returns the AuthorizeAdmin use case.
func NewAuthorizeAdmin() *AuthorizeAdmin { return &AuthorizeAdmin{} }

// Do returns domain.ErrForbidden unless caller, the user GetCurrentUser
// read for this request, is an active admin.
func (uc *AuthorizeAdmin) Do(caller *domain.User) error {
	if caller == nil || !caller.IsAdmin() {
		return domain.ErrForbidden
	}
	return nil
}
