package domain

// Role is a user's authority: exactly RoleUser or RoleAdmin. It cannot hold
// any other value; its zero value is RoleUser.
type Role struct {
	admin bool
}

// The two roles.
var (
	RoleUser  = Role{}
	RoleAdmin = Role{admin: true}
)

// ParseRole returns the role named s ("user" or "admin"), or a
// *ValidationError for the field "role".
func ParseRole(s string) (Role, error) {
	switch s {
	case "user":
		return RoleUser, nil
	case "admin":
		return RoleAdmin, nil
	}
	return Role{}, NewValidationError("role", `must be "user" or "admin"`)
}

// String returns the role's name, "user" or "admin".
func (r Role) String() string {
	if r.admin {
		return "admin"
	}
	return "user"
}

// Equal reports whether r and o are the same role.
func (r Role) Equal(o Role) bool { return r == o }
