package application

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// TokenPair is the result of a login or a refresh: an access token and the
// session's current refresh token.
type TokenPair struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
	SessionID    uuid.UUID
	UserID       domain.UserID
}

// Env is what every use case may need from the outside: the clock, a source
// of randomness, the audit trail and a logger.
type Env struct {
	Clock  ports.Clock
	Random ports.RandomSource
	Audit  ports.AuditLog
	Log    *slog.Logger
}

// record appends an audit event. The audit trail must not make an otherwise
// finished operation fail, so a failure to record is logged, not returned.
func (e Env) record(ctx context.Context, ev domain.AuthEvent) {
	if e.Audit == nil {
		return
	}
	if err := e.Audit.Record(ctx, ev); err != nil && e.Log != nil {
		e.Log.ErrorContext(ctx, "audit record failed", "event", string(ev.Type), "err", err)
	}
}

func newFamilyID(r ports.RandomSource) (uuid.UUID, error) {
	id, err := uuid.NewRandomFromReader(r)
	if err != nil {
		return uuid.Nil, fmt.Errorf("new family id: %w", err)
	}
	return id, nil
}

func eventFor(t domain.EventType, u domain.UserID, sid uuid.UUID, c domain.ClientInfo, now time.Time) domain.AuthEvent {
	return domain.AuthEvent{Type: t, UserID: u, SessionID: sid, IP: c.IP, UserAgent: c.UserAgent, At: now}
}
