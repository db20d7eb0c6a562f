package domain

import (
	"time"

	"github.com/google/uuid"
)

// EventType names an entry of the audit trail.
type EventType string

// The audited events.
const (
	EventLoginSucceeded  EventType = "login_succeeded"
	EventLoginFailed     EventType = "login_failed"
	EventRefreshReused   EventType = "refresh_token_reused"
	EventLogout          EventType = "logout"
	EventLogoutAll       EventType = "logout_all"
	EventPasswordChanged EventType = "password_changed"
	EventRoleChanged     EventType = "role_changed"
	EventUserDeactivated EventType = "user_deactivated"
	EventUserActivated   EventType = "user_activated"
	EventSessionsRevoked EventType = "sessions_revoked"
	EventUserRegistered  EventType = "user_registered"
	// EventPasswordChangeFailed: a password change named a wrong current
	// password.
	EventPasswordChangeFailed EventType = "password_change_failed"
	// EventRateLimited: an abuse limit refused an attempt (recorded once per
	// limit key and block of refusals, not for every refused attempt).
	EventRateLimited EventType = "rate_limited"
)

// AuthEvent is one entry of the audit trail. UserID is zero and SessionID is
// uuid.Nil when unknown (for example a failed login for an unknown email).
type AuthEvent struct {
	ID        int64
	Type      EventType
	UserID    UserID
	SessionID uuid.UUID
	Client    ClientInfo
	At        time.Time
}
