package application

import (
	"time"

	"authd/ports"
)

// Unlimited is a ports.RateLimiter that allows everything, for deployments
// with rate limits switched off.
var Unlimited ports.RateLimiter = unlimited{}

type unlimited struct{}

func (unlimited) Allow(string, time.Time) (bool, time.Duration) { return true, 0 }

// allow records an attempt for key and returns a *RateLimitError when key
// is over its limit.
func allow(l ports.RateLimiter, key string, now time.Time) error {
	if ok, wait := l.Allow(key, now); !ok {
		return &RateLimitError{RetryAfter: wait}
	}
	return nil
}
