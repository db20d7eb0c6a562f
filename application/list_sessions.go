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
	families ports.FamilyRepository
	env      Env
}

// NewListSessions returns the ListSessions use case.
func NewListSessions(families ports.FamilyRepository, env Env) *ListSessions {
	return &ListSessions{families: families, env: env}
}

// Do returns the principal's live sessions, newest first, marking the one
// its access token belongs to as current.
func (uc *ListSessions) Do(ctx context.Context, p domain.Principal) ([]Session, error) {
	fs, err := uc.families.ListLive(ctx, p.UserID, uc.env.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]Session, len(fs))
	for i, f := range fs {
		out[i] = Session{Family: f, Current: f.ID() == p.SessionID}
	}
	return out, nil
}
