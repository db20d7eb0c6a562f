package application

import (
	"context"
	"errors"
	"fmt"

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
	err := uc.families.UpdateByToken(ctx, domain.HashRefreshToken(refreshToken), func(f *domain.Family) error {
		f.End(now)
		if f.Ended() {
			f.Audit(eventFor(domain.EventLogout, f.UserID(), f.ID(), client, now))
		}
		return nil
	})
	if errors.Is(err, domain.ErrInvalidRefreshToken) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}
