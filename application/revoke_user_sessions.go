package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

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
