package domain

import (
	"time"

	"github.com/google/uuid"
)

// Principal is the caller proven by a verified access token.
type Principal struct {
	UserID    UserID
	SessionID uuid.UUID
	Role      Role
	TokenID   string
	ExpiresAt time.Time
}

// AccessGrant is what an access token is issued for.
type AccessGrant struct {
	UserID    UserID
	SessionID uuid.UUID
	Role      Role
	// AMR is how the session was authenticated (the "amr" claim); none is
	// left out of the token.
	AMR AuthMethods
}
