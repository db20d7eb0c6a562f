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

// Env is what every use case may need from the outside: the clock, a source
// of randomness, the audit trail, a logger and the mail templates. Build it
// with NewEnv (and WithMail).
type Env struct {
	clock  ports.Clock
	random ports.RandomSource
	audit  ports.AuditLog
	log    *slog.Logger
	mail   ports.MailRenderer // nil: email is off, no mail is queued
	// email holds the deployment's choices for the email flows.
	email EmailOptions
}

// NewEnv returns an Env. A nil audit records nothing and a nil log
// discards everything.
func NewEnv(clock ports.Clock, random ports.RandomSource, audit ports.AuditLog, log *slog.Logger) Env {
	if audit == nil {
		audit = noAudit{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Env{clock: clock, random: random, audit: audit, log: log}
}

// now reads the clock; a use case calls it once and passes the instant on.
func (e Env) now() time.Time { return e.clock.Now() }

// record appends an audit event. The audit trail must not make an otherwise
// finished operation fail, so a failure to record is logged, not returned.
func (e Env) record(ctx context.Context, ev domain.AuthEvent) {
	if err := e.audit.Record(ctx, ev); err != nil {
		e.log.ErrorContext(ctx, "audit record failed", "event", string(ev.Type), "err", err)
	}
}

// newFamilyID draws the id of a new session.
func (e Env) newFamilyID() (uuid.UUID, error) {
	id, err := uuid.NewRandomFromReader(e.random)
	if err != nil {
		return uuid.Nil, fmt.Errorf("new family id: %w", err)
	}
	return id, nil
}

func eventFor(t domain.EventType, u domain.UserID, sid uuid.UUID, c domain.ClientInfo, now time.Time) domain.AuthEvent {
	return domain.AuthEvent{Type: t, UserID: u, SessionID: sid, Client: c, At: now}
}

// noAudit is the audit trail of an Env built without one.
type noAudit struct{}

func (noAudit) Record(context.Context, domain.AuthEvent) error { return nil }

func (noAudit) List(context.Context, ports.AuditQuery) ([]domain.AuthEvent, error) { return nil, nil }
