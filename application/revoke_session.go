package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// RevokeSession ends one of the caller's sessions.
type RevokeSession struct {
	families ports.FamilyRepository
	env      Env
}

// NewRevokeSession returns the RevokeSession use case.
func NewRevokeSession(families ports.FamilyRepository, env Env) *RevokeSession {
	return &RevokeSession{families: families, env: env}
}

// Do ends the principal's session id. It returns domain.ErrSessionNotFound
// when no live session with that id belongs to the principal (another
// user's session looks exactly like a missing one).
func (uc *RevokeSession) Do(ctx context.Context, p domain.Principal, id uuid.UUID, client domain.ClientInfo) error {
	now := uc.env.now()
	err := uc.families.Update(ctx, id, func(f *domain.Family) error {
		if f.UserID() != p.UserID || !f.IsLive(now) {
			return domain.ErrSessionNotFound
		}
		f.End(now)
		f.Audit(eventFor(domain.EventLogout, p.UserID, id, client, now))
		return nil
	})
	if err != nil {
		if errors.Is(err, domain.ErrSessionNotFound) {
			return domain.ErrSessionNotFound
		}
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}
