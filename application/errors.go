package application

import (
	"errors"
	"fmt"
	"time"

	"authd/domain"
)

// ErrWrongCurrentPassword is returned by ChangePassword when the current
// password does not match. It also matches domain.ErrInvalidCredentials.
var ErrWrongCurrentPassword = fmt.Errorf("%w: current password does not match", domain.ErrInvalidCredentials)

// RateLimitError is returned when a caller is over a rate limit. It matches
// domain.ErrRateLimited with errors.Is.
type RateLimitError struct {
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s", e.RetryAfter)
}

// Is makes errors.Is(err, domain.ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == domain.ErrRateLimited }

// collect adds the fields of a *domain.ValidationError to verr.
func collect(verr *domain.ValidationError, err error) {
	var v *domain.ValidationError
	if errors.As(err, &v) {
		verr.Fields = append(verr.Fields, v.Fields...)
	}
}
