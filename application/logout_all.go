package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// LogoutAll ends every session of the caller.
type LogoutAll struct {
	families ports.FamilyRepository
	env      Env
}

// NewLogoutAll returns the LogoutAll use case.
func NewLogoutAll(families ports.FamilyRepository, env Env) *LogoutAll {
	return &LogoutAll{families: families, env: env}
}

// Do ends every live session of the principal's user.
func (uc *LogoutAll) Do(ctx context.Context, p domain.Principal, client domain.ClientInfo) error {
	now := uc.env.now()
	ev := eventFor(domain.EventLogoutAll, p.UserID, p.SessionID, client, now)
	if _, err := uc.families.EndAllForUser(ctx, p.UserID, now, uuid.Nil, ev); err != nil {
		return fmt.Errorf("logout all: %w", err)
	}
	return nil
}
