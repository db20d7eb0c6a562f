package postgres

import (
	"errors"

	"github.com/uptrace/bun/driver/pgdriver"
)

// SQLSTATE codes this package reacts to.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// usersEmailKey is the unique constraint on users.email (PostgreSQL's
// default name for the column's UNIQUE in migration 1).
const usersEmailKey = "users_email_key"

// isUniqueViolation reports whether err is a unique violation of constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr pgdriver.Error
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Field('C') == uniqueViolation && pgErr.Field('n') == constraint
}

// isForeignKeyViolation reports whether err is a foreign key violation.
func isForeignKeyViolation(err error) bool {
	var pgErr pgdriver.Error
	return errors.As(err, &pgErr) && pgErr.Field('C') == foreignKeyViolation
}
