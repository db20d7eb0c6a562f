package application

import (
	"fmt"
	"time"

	"authd/domain"
)

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
