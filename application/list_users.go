package application

import (
	"context"
	"fmt"
	"strings"

	"authd/domain"
	"authd/ports"
)

// ListUsers pages through users for admins.
type ListUsers struct {
	users ports.UserRepository
}

// NewListUsers returns the ListUsers use case.
func NewListUsers(users ports.UserRepository) *ListUsers { return &ListUsers{users: users} }

// Do returns a page of users whose email starts with emailPrefix (any
// email when it is empty) and the cursor of the next page (zero when this
// page is the last). A prefix longer than any email is a
// *domain.ValidationError.
func (uc *ListUsers) Do(ctx context.Context, page Page, emailPrefix string) ([]*domain.User, domain.UserID, error) {
	// Emails are stored normalised, so the prefix is too.
	emailPrefix = strings.ToLower(strings.TrimSpace(emailPrefix))
	if len(emailPrefix) > domain.MaxEmailBytes {
		return nil, 0, domain.NewValidationError("email", "must be at most 255 bytes")
	}
	// One extra row tells whether another page follows.
	us, err := uc.users.List(ctx, ports.UserQuery{After: domain.UserID(page.After()), Limit: page.Limit() + 1, EmailPrefix: emailPrefix})
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	us, next := cutPage(us, page, func(u *domain.User) int64 { return int64(u.ID()) })
	return us, domain.UserID(next), nil
}
