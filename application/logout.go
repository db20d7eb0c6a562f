package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// Logout ends the session of a refresh token.
type Logout struct {
	families ports.FamilyRepository
	env      Env
}

// NewLogout returns the Logout use case.
func NewLogout(families ports.FamilyRepository, env Env) *Logout {
	return &Logout{families: families, env: env}
}

// Do ends the session that refreshToken belongs to, whichever of its tokens
// it is. Unknown tokens and ended sessions are not an error: logging out
// twice is the same as logging out once.
func (uc *Logout) Do(ctx context.Context, refreshToken string, client domain.ClientInfo) error {
	if !domain.LooksLikeRefreshSecret(refreshToken) {
		return nil
	}
	now := uc.env.now()
	var ended bool
	var owner domain.UserID
	var sid uuid.UUID
	err := uc.families.UpdateByToken(ctx, domain.HashRefreshToken(refreshToken), func(f *domain.Family) error {
		f.End(now)
		ended, owner, sid = f.Ended(), f.UserID(), f.ID()
		return nil
	})
	if errors.Is(err, domain.ErrInvalidRefreshToken) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if ended {
		uc.env.record(ctx, eventFor(domain.EventLogout, owner, sid, client, now))
	}
	return nil
}
