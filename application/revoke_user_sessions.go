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
	users    ports.UserRepository
	families ports.FamilyRepository
	env      Env
}

// NewRevokeUserSessions returns the RevokeUserSessions use case.
func NewRevokeUserSessions(users ports.UserRepository, families ports.FamilyRepository, env Env) *RevokeUserSessions {
	return &RevokeUserSessions{users: users, families: families, env: env}
}

// Do ends every live session of the user with id on behalf of admin and
// returns how many it ended, or domain.ErrUserNotFound.
func (uc *RevokeUserSessions) Do(ctx context.Context, admin domain.Principal, id domain.UserID, client domain.ClientInfo) (int, error) {
	now := uc.env.now()
	if _, err := uc.users.ByID(ctx, id); err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	ev := eventFor(domain.EventSessionsRevokedByAdmin, id, uuid.Nil, client, now)
	ev.ActorID = admin.UserID
	n, err := uc.families.EndAllForUser(ctx, id, now, uuid.Nil, ev)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return n, nil
}
