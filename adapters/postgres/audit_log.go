package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.AuditLog = (*AuditLog)(nil)

// AuditLog stores the audit trail in auth_events. An unknown user (id 0) and
// an unknown session (uuid.Nil) are stored as NULL.
type AuditLog struct {
	db *bun.DB
}

// NewAuditLog returns an AuditLog on db.
func NewAuditLog(db *bun.DB) *AuditLog {
	return &AuditLog{db: db}
}

// Record appends e. An event that names a user that does not exist is an
// error.
func (l *AuditLog) Record(ctx context.Context, e domain.AuthEvent) error {
	row := fromDomainEvent(e)
	var userID, sessionID any
	if row.UserID != 0 {
		userID = row.UserID
	}
	if row.SessionID != [16]byte{} {
		sessionID = row.SessionID
	}
	_, err := l.db.NewRaw(
		"INSERT INTO auth_events (type, user_id, session_id, ip, user_agent, created_at) "+
			"VALUES (?, ?, ?, ?, ?, ?)",
		row.Type, userID, sessionID, row.IP, row.UserAgent, row.CreatedAt,
	).Exec(ctx)
	if err != nil {
		if isForeignKeyViolation(err) {
			return fmt.Errorf("postgres: record %s event: %w", e.Type, domain.ErrUserNotFound)
		}
		return dbErr("record "+string(e.Type)+" event", err)
	}
	return nil
}

// List returns up to q.Limit events with id > q.After, oldest first, only
// those of q.UserID when it is not zero. A non-positive Limit means no limit.
func (l *AuditLog) List(ctx context.Context, q ports.AuditQuery) ([]domain.AuthEvent, error) {
	query := "SELECT id, type, user_id, session_id, ip, user_agent, created_at FROM auth_events WHERE id > ?"
	args := []any{q.After}
	if q.UserID != 0 {
		query += " AND user_id = ?"
		args = append(args, int64(q.UserID))
	}
	query += " ORDER BY id"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}

	var rows []authEventRow
	if err := l.db.NewRaw(query, args...).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, dbErr("list events", err)
	}
	events := make([]domain.AuthEvent, 0, len(rows))
	for i := range rows {
		events = append(events, toDomainEvent(&rows[i]))
	}
	return events, nil
}
