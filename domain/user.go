package domain

import (
	"errors"
	"time"
)

// UserID identifies a user; it is assigned by the repository on creation.
type UserID int64

// User is a registered account. Its fields are unexported: change it only
// through its methods so that its invariants hold.
type User struct {
	id           UserID
	email        Email
	passwordHash string
	role         Role
	active       bool
	createdAt    time.Time
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
func RehydrateUser(id UserID, email Email, passwordHash string, role Role, active bool, createdAt time.Time) *User {
	return &User{id: id, email: email, passwordHash: passwordHash, role: role, active: active, createdAt: createdAt}
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

// CanLogIn returns ErrAccountDisabled for an inactive user, nil otherwise.
func (u *User) CanLogIn() error {
	if !u.active {
		return ErrAccountDisabled
	}
	return nil
}

// ChangePasswordHash replaces the stored hash (after a password change or a
// parameter upgrade).
func (u *User) ChangePasswordHash(hash string) {
	if hash != "" {
		u.passwordHash = hash
	}
}

// ChangeRole sets the user's role.
func (u *User) ChangeRole(r Role) { u.role = r }

// Deactivate switches the account off; its sessions must end with it.
func (u *User) Deactivate() { u.active = false }

// Activate switches the account back on.
func (u *User) Activate() { u.active = true }

// UserChange is an administrator's change to a user; nil fields stay as they are.
type UserChange struct {
	Role   *Role
	Active *bool
}

// Apply applies c to u. activeAdmins is the number of active admins before
// the change, u included if it is one. It returns ErrLastAdmin, changing
// nothing, when c would demote or deactivate the last active admin, and a
// *ValidationError for an unknown role.
func (u *User) Apply(c UserChange, activeAdmins int) error {
	next := *u
	if c.Role != nil {
		r, err := ParseRole(string(*c.Role))
		if err != nil {
			return err
		}
		next.role = r
	}
	if c.Active != nil {
		next.active = *c.Active
	}
	if u.IsAdmin() && !next.IsAdmin() && activeAdmins <= 1 {
		return ErrLastAdmin
	}
	*u = next
	return nil
}
