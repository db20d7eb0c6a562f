package domain

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// UserID identifies a user; it is assigned by the repository on creation.
type UserID int64

// User is a registered account. Its fields are unexported: change it only
// through its methods so that its invariants hold.
//
// A User also carries the decisions of the change being made to it, for the
// repository to carry out in the same transaction as the change itself:
// which sessions the change ends (EndsSessions), whether it removes an
// active admin (RemovesActiveAdmin), the audit events that describe it
// (Audit), the mails it sends (Send) and the one-time tokens it issues or
// revokes (IssuedTokens, RevokesTokens). Events and tokens attached to a
// user being created get its id, and mails to MailToUser(0) its address.
type User struct {
	id           UserID
	email        Email
	passwordHash string
	role         Role
	active       bool
	createdAt    time.Time
	sessionEpoch int64
	// emailVerifiedAt is when the address was verified; zero: never.
	emailVerifiedAt time.Time

	wasAdmin bool           // IsAdmin() when the user was built
	ending   *SessionEnding // sessions this change ends, if any
	events                  // the audit events of this change
	outbox                  // the mails this change sends

	tokenChanges // the one-time tokens this change issues and revokes
}

// SessionEnding is a user change's decision to end the user's sessions:
// every live session except Except (uuid.Nil ends them all) ends at At.
type SessionEnding struct {
	At     time.Time
	Except uuid.UUID
}

// UserRecord is the stored state of a user, for RehydrateUser.
type UserRecord struct {
	ID           UserID
	Email        Email
	PasswordHash string
	Role         Role
	Active       bool
	CreatedAt    time.Time
	SessionEpoch int64
	// EmailVerifiedAt is zero while the address is not verified.
	EmailVerifiedAt time.Time
}

// NewUser returns an active user with role RoleUser that has not been stored
// yet (its ID is zero until a repository creates it).
func NewUser(email Email, passwordHash string, now time.Time) (*User, error) {
	if email.IsZero() {
		return nil, errors.New("domain: new user needs an email")
	}
	if passwordHash == "" {
		return nil, errors.New("domain: new user needs a password hash")
	}
	return &User{email: email, passwordHash: passwordHash, role: RoleUser, active: true, createdAt: now}, nil
}

// RehydrateUser rebuilds a stored user; it is meant for repository adapters.
func RehydrateUser(r UserRecord) *User {
	u := &User{
		id:           r.ID,
		email:        r.Email,
		passwordHash: r.PasswordHash,
		role:         r.Role,
		active:       r.Active,
		createdAt:    r.CreatedAt,
		sessionEpoch: r.SessionEpoch,

		emailVerifiedAt: r.EmailVerifiedAt,
	}
	u.wasAdmin = u.IsAdmin()
	return u
}

// Record returns the stored state of u, for repository adapters.
func (u *User) Record() UserRecord {
	return UserRecord{
		ID:           u.id,
		Email:        u.email,
		PasswordHash: u.passwordHash,
		Role:         u.role,
		Active:       u.active,
		CreatedAt:    u.createdAt,
		SessionEpoch: u.sessionEpoch,

		EmailVerifiedAt: u.emailVerifiedAt,
	}
}

// ID returns the user's id (zero before the user is stored).
func (u *User) ID() UserID { return u.id }

// Email returns the normalised email.
func (u *User) Email() Email { return u.email }

// PasswordHash returns the PHC-encoded password hash.
func (u *User) PasswordHash() string { return u.passwordHash }

// Role returns the user's role.
func (u *User) Role() Role { return u.role }

// IsActive reports whether the account may log in.
func (u *User) IsActive() bool { return u.active }

// IsAdmin reports whether the user is an active admin.
func (u *User) IsAdmin() bool { return u.active && u.role == RoleAdmin }

// CreatedAt returns when the user registered.
func (u *User) CreatedAt() time.Time { return u.createdAt }

// SessionEpoch counts the changes that ended the user's sessions. A login
// reads it with the user and opens its session only while it is unchanged,
// so a login that checked the old password cannot open a session after a
// password change has ended them (see Owner.SessionEpoch).
func (u *User) SessionEpoch() int64 { return u.sessionEpoch }

// Owner returns the user as the owner of a session opened now.
func (u *User) Owner() Owner {
	return Owner{ID: u.id, Role: u.role, Active: u.active, SessionEpoch: u.sessionEpoch}
}

// CanLogIn returns ErrAccountDisabled for an inactive user, nil otherwise.
func (u *User) CanLogIn() error {
	if !u.active {
		return ErrAccountDisabled
	}
	return nil
}

// ChangePassword replaces the password's hash with hash, made from a new
// password, and ends every session of the user at now except keep
// (uuid.Nil: every session).
func (u *User) ChangePassword(hash string, keep uuid.UUID, now time.Time) {
	u.passwordHash = hash
	u.endSessions(now, keep)
}

// UpgradePasswordHash replaces the hash with one of the same password made
// with current parameters. Sessions are unaffected.
func (u *User) UpgradePasswordHash(hash string) {
	u.passwordHash = hash
}

// UserChange is an administrator's change to a user; nil fields stay as they are.
type UserChange struct {
	Role   *Role
	Active *bool
}

// Apply applies c to u at now. Deactivation ends every session of the user.
// Whether the change may remove the last active admin is decided by
// AllowAdminRemoval, which the repository consults when RemovesActiveAdmin
// reports true.
func (u *User) Apply(c UserChange, now time.Time) {
	if c.Role != nil {
		u.role = *c.Role
	}
	if c.Active != nil {
		wasActive := u.active
		u.active = *c.Active
		if wasActive && !u.active {
			u.endSessions(now, uuid.Nil)
		}
	}
}

// RemovesActiveAdmin reports whether the change made to u since it was
// built takes an active admin away (demotes or deactivates one).
func (u *User) RemovesActiveAdmin() bool { return u.wasAdmin && !u.IsAdmin() }

// AllowAdminRemoval decides a change that removes an active admin, given
// how many other active admins there are. It returns ErrLastAdmin when there
// is none: the last active admin can be neither demoted nor deactivated.
func (u *User) AllowAdminRemoval(otherActiveAdmins int) error {
	if u.RemovesActiveAdmin() && otherActiveAdmins < 1 {
		return ErrLastAdmin
	}
	return nil
}

// EndsSessions returns the sessions the change made to u ends, if it ends any.
func (u *User) EndsSessions() (SessionEnding, bool) {
	if u.ending == nil {
		return SessionEnding{}, false
	}
	return *u.ending, true
}

// endSessions records that the change ends every session but keep, and
// moves the session epoch on so that no login that read the user before
// the change can open a session after it.
func (u *User) endSessions(now time.Time, keep uuid.UUID) {
	if u.ending == nil {
		u.sessionEpoch++
	}
	u.ending = u.ending.and(now, keep)
}

// and returns the decision of a change that ends every session but keep at
// now on top of e, the decision it made already, if any: a session
// survives only if every ending of the change keeps it.
func (e *SessionEnding) and(now time.Time, keep uuid.UUID) *SessionEnding {
	if e == nil {
		return &SessionEnding{At: now, Except: keep}
	}
	if e.Except != keep {
		e.Except = uuid.Nil
	}
	return e
}
