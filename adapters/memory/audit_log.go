package memory

import (
	"context"

	"authd/domain"
	"authd/ports"
)

// AuditLog implements ports.AuditLog on a Store.
type AuditLog struct {
	s *Store
}

var _ ports.AuditLog = (*AuditLog)(nil)

// Record appends e with the next id.
func (l *AuditLog) Record(ctx context.Context, e domain.AuthEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.s.lock(); err != nil {
		return err
	}
	defer l.s.mu.Unlock()
	l.s.appendEventsLocked(e)
	return nil
}

// appendEventsLocked stores events with the next ids.
func (s *Store) appendEventsLocked(events ...domain.AuthEvent) {
	for _, e := range events {
		s.lastEventID++
		e.ID = s.lastEventID
		e.At = micro(e.At)
		if len(e.Detail) == 0 {
			e.Detail = nil
		}
		s.events = append(s.events, e)
	}
}

// List returns up to q.Limit events with id > q.After, oldest first, only
// those of q.UserID when it is not zero. A non-positive Limit means no limit.
func (l *AuditLog) List(ctx context.Context, q ports.AuditQuery) ([]domain.AuthEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.s.lock(); err != nil {
		return nil, err
	}
	defer l.s.mu.Unlock()
	var out []domain.AuthEvent
	for _, e := range l.s.events {
		if e.ID <= q.After || (q.UserID != 0 && e.UserID != q.UserID) {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}
