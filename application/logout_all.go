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
	Families ports.FamilyRepository
	Env      Env
}

// Do ends every live session of the principal's user.
func (uc *LogoutAll) Do(ctx context.Context, p domain.Principal, client domain.ClientInfo) error {
	now := uc.Env.Clock.Now()
	if _, err := uc.Families.EndAllForUser(ctx, p.UserID, now, uuid.Nil); err != nil {
		return fmt.Errorf("logout all: %w", err)
	}
	uc.Env.record(ctx, eventFor(domain.EventLogoutAll, p.UserID, p.SessionID, client, now))
	return nil
}
