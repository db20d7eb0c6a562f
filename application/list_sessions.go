package application

import (
	"context"
	"fmt"

	"authd/domain"
	"authd/ports"
)

// Session is a live login session as shown to its user.
type Session struct {
	Family  *domain.Family
	Current bool
}

// ListSessions lists the caller's live sessions.
type ListSessions struct {
	Families ports.FamilyRepository
	Env      Env
}

// Do returns the principal's live sessions, newest first, marking the one
// its access token belongs to as current.
func (uc *ListSessions) Do(ctx context.Context, p domain.Principal) ([]Session, error) {
	fs, err := uc.Families.ListLive(ctx, p.UserID, uc.Env.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]Session, len(fs))
	for i, f := range fs {
		out[i] = Session{Family: f, Current: f.ID() == p.SessionID}
	}
	return out, nil
}
