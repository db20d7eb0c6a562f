package application

import (
	"time"

	"github.com/google/uuid"

	"authd/domain"
)

// TokenPair is the result of a login or a refresh: an access token and the
// session's current refresh token.
type TokenPair struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
	SessionID    uuid.UUID
	UserID       domain.UserID
}
