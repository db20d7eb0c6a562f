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
	Users ports.UserRepository
}

// Do returns a page of users and the cursor of the next page (zero when
// this page is the last). A limit of zero means DefaultPageSize; limits
// outside 1–MaxPageSize are a *domain.ValidationError.
func (uc *ListUsers) Do(ctx context.Context, q ports.UserQuery) ([]*domain.User, domain.UserID, error) {
	var verr domain.ValidationError
	want := pageLimit(q.Limit, int64(q.After), &verr)
	// Emails are stored normalised, so the prefix is too.
	q.EmailPrefix = strings.ToLower(strings.TrimSpace(q.EmailPrefix))
	if len(q.EmailPrefix) > domain.MaxEmailBytes {
		verr.Add("email", "must be at most 255 bytes")
	}
	if err := verr.Err(); err != nil {
		return nil, 0, err
	}
	// One extra row tells whether another page follows.
	q.Limit = want + 1
	us, err := uc.Users.List(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	us, next := cutPage(us, want, func(u *domain.User) int64 { return int64(u.ID()) })
	return us, domain.UserID(next), nil
}
