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
	EventUserRegistered  EventType = "user_registered"
	// EventSessionsRevokedByAdmin: an admin ended every session of the user.
	EventSessionsRevokedByAdmin EventType = "sessions_revoked_by_admin"
	// EventPasswordChangeFailed: a password change named a wrong current
	// password.
	EventPasswordChangeFailed EventType = "password_change_failed"
	// EventRateLimited: an abuse limit refused an attempt (recorded once per
	// limit key and block of refusals, not for every refused attempt).
	EventRateLimited EventType = "rate_limited"

	// The email flows.

	// EventPasswordResetRequested: a password reset link was issued and
	// mailed (by the user's request, or by the admin named as actor).
	EventPasswordResetRequested EventType = "password_reset_requested"
	// EventPasswordReset: the password was replaced through a reset link;
	// every session ended.
	EventPasswordReset EventType = "password_reset"
	// EventEmailVerificationSent: a verification link was issued and mailed.
	EventEmailVerificationSent EventType = "email_verification_sent"
	// EventEmailVerified: the address was verified through its link.
	EventEmailVerified EventType = "email_verified"
	// EventEmailChangeRequested: a link moving the account to a new
	// address (Detail "to") was mailed there.
	EventEmailChangeRequested EventType = "email_change_requested"
	// EventEmailChanged: the account moved to a new address (Detail
	// "from", "to"); its other sessions ended.
	EventEmailChanged EventType = "email_changed"
)

// AuthEvent is one entry of the audit trail. UserID is zero and SessionID is
// uuid.Nil when unknown (for example a failed login for an unknown email);
// ActorID is the admin who acted, zero when the user acted or no one did.
// Detail holds what else the event needs to be understood (for example the
// role a change set); it may be nil.
type AuthEvent struct {
	ID        int64
	Type      EventType
	UserID    UserID
	ActorID   UserID
	SessionID uuid.UUID
	Client    ClientInfo
	Detail    map[string]string
	At        time.Time
}

// events collects the audit events that describe a change to an
// aggregate, for the repository to store in the change's transaction.
type events []AuthEvent

// Audit attaches e to the change being made, so that the repository stores
// it with the change and only if the change is stored.
func (es *events) Audit(e AuthEvent) { *es = append(*es, e) }

// AuditEvents returns the events attached to the change being made.
func (es events) AuditEvents() []AuthEvent { return es }
