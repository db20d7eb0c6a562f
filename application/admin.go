package application

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// Page size bounds of admin listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// AuthorizeAdmin checks that a caller is an active admin now, in the
// database, whatever its token claims.
type AuthorizeAdmin struct {
	Users ports.UserRepository
}

// Do returns domain.ErrForbidden unless the principal's user exists, is
// active and has role admin.
func (uc *AuthorizeAdmin) Do(ctx context.Context, p domain.Principal) error {
	u, err := uc.Users.ByID(ctx, p.UserID)
	if errors.Is(err, domain.ErrUserNotFound) {
		return domain.ErrForbidden
	}
	if err != nil {
		return fmt.Errorf("authorize admin: %w", err)
	}
	if !u.IsAdmin() {
		return domain.ErrForbidden
	}
	return nil
}

// ListUsers pages through users for admins.
type ListUsers struct {
	Users ports.UserRepository
}

// Do returns a page of users and the cursor of the next page (zero when
// this page is the last). A limit of zero means DefaultPageSize; limits
// outside 1–MaxPageSize are a *domain.ValidationError.
func (uc *ListUsers) Do(ctx context.Context, q ports.UserQuery) ([]*domain.User, domain.UserID, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	// Emails are stored normalised, so the prefix is too.
	q.EmailPrefix = strings.ToLower(strings.TrimSpace(q.EmailPrefix))
	var verr domain.ValidationError
	if q.Limit < 1 || q.Limit > MaxPageSize {
		verr.Add("limit", "must be between 1 and 100")
	}
	if q.After < 0 {
		verr.Add("after", "must not be negative")
	}
	if len(q.EmailPrefix) > domain.MaxEmailBytes {
		verr.Add("email", "must be at most 255 bytes")
	}
	if err := verr.Err(); err != nil {
		return nil, 0, err
	}
	// One extra row tells whether another page follows.
	want := q.Limit
	q.Limit++
	us, err := uc.Users.List(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	if len(us) <= want {
		return us, 0, nil
	}
	us = us[:want]
	return us, us[want-1].ID(), nil
}

// GetUser returns one user for admins.
type GetUser struct {
	Users ports.UserRepository
}

// Do returns the user with id or domain.ErrUserNotFound.
func (uc *GetUser) Do(ctx context.Context, id domain.UserID) (*domain.User, error) {
	u, err := uc.Users.ByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// UpdateUser changes a user's role or active flag.
type UpdateUser struct {
	Users ports.UserRepository
	Env   Env
}

// Do applies c to the user with id in one transaction. Deactivation ends
// every session of the user. It returns domain.ErrUserNotFound and
// domain.ErrLastAdmin (nothing changed) when c would demote or deactivate
// the last active admin.
func (uc *UpdateUser) Do(ctx context.Context, admin domain.Principal, id domain.UserID, c domain.UserChange, client domain.ClientInfo) (*domain.User, error) {
	now := uc.Env.Clock.Now()
	var before domain.User
	u, err := uc.Users.Update(ctx, id, now, func(u *domain.User, activeAdmins int) error {
		before = *u
		return u.Apply(c, activeAdmins)
	})
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if before.Role() != u.Role() {
		uc.Env.record(ctx, eventFor(domain.EventRoleChanged, id, uuid.Nil, client, now))
	}
	if before.IsActive() != u.IsActive() {
		t := domain.EventUserActivated
		if !u.IsActive() {
			t = domain.EventUserDeactivated
		}
		uc.Env.record(ctx, eventFor(t, id, uuid.Nil, client, now))
	}
	return u, nil
}

// RevokeUserSessions ends every session of a user, for admins.
type RevokeUserSessions struct {
	Users    ports.UserRepository
	Families ports.FamilyRepository
	Env      Env
}

// Do ends every live session of the user with id and returns how many it
// ended, or domain.ErrUserNotFound.
func (uc *RevokeUserSessions) Do(ctx context.Context, id domain.UserID, client domain.ClientInfo) (int, error) {
	now := uc.Env.Clock.Now()
	if _, err := uc.Users.ByID(ctx, id); err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, err := uc.Families.EndAllForUser(ctx, id, now, uuid.Nil)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	uc.Env.record(ctx, eventFor(domain.EventSessionsRevoked, id, uuid.Nil, client, now))
	return n, nil
}

// ListAudit pages through the audit trail, for admins.
type ListAudit struct {
	Audit ports.AuditLog
}

// Do returns a page of events and the cursor of the next page (zero when
// this page is the last). Limits follow ListUsers.
func (uc *ListAudit) Do(ctx context.Context, q ports.AuditQuery) ([]domain.AuthEvent, int64, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	var verr domain.ValidationError
	if q.Limit < 1 || q.Limit > MaxPageSize {
		verr.Add("limit", "must be between 1 and 100")
	}
	if q.After < 0 {
		verr.Add("after", "must not be negative")
	}
	if err := verr.Err(); err != nil {
		return nil, 0, err
	}
	want := q.Limit
	q.Limit++
	es, err := uc.Audit.List(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	if len(es) <= want {
		return es, 0, nil
	}
	es = es[:want]
	return es, es[want-1].ID, nil
}
