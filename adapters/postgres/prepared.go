package postgres

import (
	"context"
	"database/sql"
	"sync"
)

// preparedStmt is a statement prepared on first use. database/sql then
// prepares it once per pooled connection and reuses it, so PostgreSQL plans
// it once instead of on every call; the hot path of rotation pays for
// execution only. A failed preparation (the database is down) is retried
// on the next call.
type preparedStmt struct {
	db    *sql.DB
	query string

	mu   sync.Mutex
	stmt *sql.Stmt
}

func newPreparedStmt(db *sql.DB, query string) *preparedStmt {
	return &preparedStmt{db: db, query: query}
}

func (p *preparedStmt) get(ctx context.Context) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		s, err := p.db.PrepareContext(ctx, p.query)
		if err != nil {
			return nil, err
		}
		p.stmt = s
	}
	return p.stmt, nil
}
