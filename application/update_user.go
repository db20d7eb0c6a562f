package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

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
