package application

import (
	"errors"
	"fmt"

	"authd/domain"
)

// ErrWrongCurrentPassword is returned by ChangePassword when the current
// password does not match. It also matches domain.ErrInvalidCredentials.
var ErrWrongCurrentPassword = fmt.Errorf("%w: current password does not match", domain.ErrInvalidCredentials)

// collect adds the fields of a *domain.ValidationError to verr.
func collect(verr *domain.ValidationError, err error) {
	var v *domain.ValidationError
	if errors.As(err, &v) {
		verr.Fields = append(verr.Fields, v.Fields...)
	}
}
