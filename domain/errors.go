package domain

import (
	"errors"
	"strings"
)

// Sentinel errors of the domain. Adapters and use cases wrap them; the HTTP
// edge maps them to statuses and problem codes with errors.Is.
var (
	// ErrEmailTaken: another user already has this (normalised) email.
	ErrEmailTaken = errors.New("email already registered")
	// ErrUserNotFound: no user has the given id or email.
	ErrUserNotFound = errors.New("user not found")
	// ErrInvalidCredentials: unknown email or wrong password; the two are
	// deliberately indistinguishable.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrAccountDisabled: the user exists but is_active is false.
	ErrAccountDisabled = errors.New("account disabled")
	// ErrInvalidRefreshToken: unknown, expired, or of an ended session.
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	// ErrRefreshTokenReused: an already rotated token was presented again;
	// its whole family has been revoked.
	ErrRefreshTokenReused = errors.New("refresh token reused")
	// ErrInvalidAccessToken: the bearer token is missing, malformed, badly
	// signed, expired, or its session has ended.
	ErrInvalidAccessToken = errors.New("invalid access token")
	// ErrSessionNotFound: no live session with that id belongs to the user.
	ErrSessionNotFound = errors.New("session not found")
	// ErrForbidden: the caller is authenticated but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrLastAdmin: the change would leave no active admin.
	ErrLastAdmin = errors.New("last active admin")
	// ErrRateLimited: too many attempts; a *RateLimitError says how long to wait.
	ErrRateLimited = errors.New("rate limited")
	// ErrInvalidOneTimeToken: a one-time token (a mailed link) that is
	// unknown, malformed, used, expired, of another purpose, or void
	// because its user no longer has the address it was mailed to.
	ErrInvalidOneTimeToken = errors.New("invalid or expired one-time token")
	// ErrEmailNotVerified: the password is right, but verified addresses
	// are required and this account's is not verified yet.
	ErrEmailNotVerified = errors.New("email address not verified")
)

// FieldError is one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every invalid field of one input. It is answered
// as 422 validation_failed.
type ValidationError struct {
	Fields []FieldError
}

// Error implements error.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Add appends a field error.
func (e *ValidationError) Add(field, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: message})
}

// Err returns e when it holds at least one field error, nil otherwise.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// NewValidationError returns a validation error for a single field.
func NewValidationError(field, message string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}
