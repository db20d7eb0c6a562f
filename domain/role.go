package domain

// Role is a user's authority: exactly RoleUser or RoleAdmin.
type Role string

// The two roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// ParseRole returns the role named s, or a *ValidationError for "role".
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleUser, RoleAdmin:
		return r, nil
	}
	return "", NewValidationError("role", `must be "user" or "admin"`)
}

// String returns the role's name.
func (r Role) String() string { return string(r) }
