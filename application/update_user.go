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
	users ports.UserRepository
	env   Env
}

// NewUpdateUser returns the UpdateUser use case.
func NewUpdateUser(users ports.UserRepository, env Env) *UpdateUser {
	return &UpdateUser{users: users, env: env}
}

// Do applies c to the user with id in one transaction. Deactivation ends
// every session of the user in that transaction. It returns
// domain.ErrUserNotFound, and domain.ErrLastAdmin (nothing changed) when c
// would demote or deactivate the last active admin.
func (uc *UpdateUser) Do(ctx context.Context, admin domain.Principal, id domain.UserID, c domain.UserChange, client domain.ClientInfo) (*domain.User, error) {
	now := uc.env.now()
	u, err := uc.users.Update(ctx, id, func(u *domain.User) error {
		roleBefore, activeBefore := u.Role(), u.IsActive()
		u.Apply(c, now)
		audit := func(t domain.EventType, detail map[string]string) {
			ev := eventFor(t, id, uuid.Nil, client, now)
			ev.ActorID, ev.Detail = admin.UserID, detail
			u.Audit(ev)
		}
		if roleBefore != u.Role() {
			audit(domain.EventRoleChanged, map[string]string{"from": roleBefore.String(), "to": u.Role().String()})
		}
		if activeBefore != u.IsActive() {
			t := domain.EventUserActivated
			if !u.IsActive() {
				t = domain.EventUserDeactivated
			}
			audit(t, nil)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}
