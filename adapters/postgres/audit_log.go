package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.AuditLog = (*AuditLog)(nil)

// AuditLog stores the audit trail in auth_events. An unknown user or actor
// (id 0) and an unknown session (uuid.Nil) are stored as NULL. Events that
// describe a change are written by the repository making the change, with
// eventsInsert; AuditLog.Record writes the others.
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
	query, args := eventsInsert([]domain.AuthEvent{e}, 1, "", "")
	if _, err := l.db.DB.ExecContext(ctx, query, args...); err != nil {
		return eventsErr(err)
	}
	return nil
}

// eventColumns are the columns eventsInsert writes, in its order.
const eventColumns = "type, user_id, actor_id, session_id, ip, user_agent, detail, created_at"

// eventsInsert returns an INSERT of events into auth_events, with $n
// parameters numbered from first, and its arguments. When from names a
// relation (a CTE of the same statement), the events are inserted once per
// row of from, so only if from has a row; and when userID is an SQL
// expression over from, it gives the user of the events whose UserID is
// zero. events must not be empty.
func eventsInsert(events []domain.AuthEvent, first int, from, userID string) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 8*len(events))
	b.WriteString("INSERT INTO auth_events (" + eventColumns + ") SELECT v.type, ")
	if userID != "" {
		b.WriteString("coalesce(v.user_id, " + userID + ")")
	} else {
		b.WriteString("v.user_id")
	}
	b.WriteString(", v.actor_id, v.session_id, v.ip, v.user_agent, v.detail, v.created_at FROM (VALUES ")
	n := first
	for i, e := range events {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($%d::varchar, $%d::bigint, $%d::bigint, $%d::uuid, $%d::varchar, $%d::varchar, $%d::jsonb, $%d::timestamptz)",
			n, n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		n += 8
		row := fromDomainEvent(e)
		args = append(args, row.Type, nullID(row.UserID), nullID(row.ActorID), nullUUID(row.SessionID),
			row.IP, row.UserAgent, detailJSON(row.Detail), row.CreatedAt)
	}
	b.WriteString(") AS v (" + eventColumns + ")")
	if from != "" {
		b.WriteString(" CROSS JOIN " + from)
	}
	return b.String(), args
}

// insertEvents stores events inside tx; none is nothing to do.
func insertEvents(ctx context.Context, tx bun.Tx, events []domain.AuthEvent) error {
	if len(events) == 0 {
		return nil
	}
	query, args := eventsInsert(events, 1, "", "")
	if _, err := tx.Tx.ExecContext(ctx, query, args...); err != nil {
		return eventsErr(err)
	}
	return nil
}

// eventsErr describes a failed insert of events.
func eventsErr(err error) error {
	if isForeignKeyViolation(err) {
		return fmt.Errorf("postgres: record events: %w", domain.ErrUserNotFound)
	}
	return dbErr("record events", err)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// detailJSON encodes an event's detail; a map of strings always encodes.
func detailJSON(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// List returns up to q.Limit events with id > q.After, oldest first, only
// those of q.UserID when it is not zero. A non-positive Limit means no limit.
func (l *AuditLog) List(ctx context.Context, q ports.AuditQuery) ([]domain.AuthEvent, error) {
	query := "SELECT id, " + eventColumns + " FROM auth_events WHERE id > ?"
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
