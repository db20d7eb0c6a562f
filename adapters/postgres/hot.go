package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// hotStmt is a statement of the hot path (a rotation, the end of a session,
// the session check of the Bearer routes). It runs on a connection held for
// the whole operation (hotConn), straight on the driver: prepared once per
// connection when the connection prepares (StatementsPrepared), else named
// or unprepared like every other statement the repositories prepare.
//
// database/sql is bypassed because for every query whose context can be
// cancelled, and a request's can (it has a deadline), database/sql starts
// a goroutine that waits for the context or the end of the rows; starting,
// waking and ending it cost more than the rest of the query does in Go.
// pgdriver still bounds every read and write by the context's deadline.
type hotStmt struct {
	query string
	name  string // its name as a named statement
}

func newHotStmt(query string) *hotStmt {
	return &hotStmt{query: query, name: namedStatement(query)}
}

// hotAttempts bounds how often an operation starts again on another
// connection when the one it was given turned out to be dead before
// anything was sent on it (driver.ErrBadConn), as database/sql does.
const hotAttempts = 3

// hotConn is one pooled connection held for the statements of one
// operation.
type hotConn struct {
	sc *sql.Conn
	// observe, when set, sees every hot statement sent, with its arguments.
	observe func(query string, args []any)
}

// withHotConn runs fn on a connection of db held until fn returns. When
// the connection was found dead before fn could send anything on it, fn
// runs again on another: fn must be safe to repeat up to that point.
func withHotConn(ctx context.Context, db *sql.DB, observe func(string, []any), fn func(h *hotConn) error) error {
	var err error
	for range hotAttempts {
		var sc *sql.Conn
		if sc, err = db.Conn(ctx); err != nil {
			return dbErr("connect", err)
		}
		err = fn(&hotConn{sc: sc, observe: observe})
		_ = sc.Close()
		if !errors.Is(err, driver.ErrBadConn) {
			return err
		}
	}
	return err
}

// queryRow runs st with args and stores its first row's values in dest,
// which must have one element per column: pgdriver's values, that is
// int64, bool, string, time.Time, []byte for other types, nil for NULL.
// It reports whether there was a row. When the request's deadline passed,
// the error wraps ctx.Err().
func (h *hotConn) queryRow(ctx context.Context, st *hotStmt, args []driver.NamedValue, dest []driver.Value) (bool, error) {
	if h.observe != nil {
		values := make([]any, len(args))
		for i, a := range args {
			values[i] = a.Value
		}
		h.observe(st.query, values)
	}
	var found bool
	err := h.sc.Raw(func(dc any) error {
		c, ok := dc.(*poolConn)
		if !ok {
			return fmt.Errorf("postgres: a connection of type %T, not one opened by Open", dc)
		}
		var err error
		found, err = c.queryRow(ctx, st, args, dest)
		return err
	})
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return found, err
}

// queryRow runs st on c (see hotConn.queryRow).
func (c *poolConn) queryRow(ctx context.Context, st *hotStmt, args []driver.NamedValue, dest []driver.Value) (bool, error) {
	var rows driver.Rows
	var err error
	if c.how == StatementsPrepared {
		s := c.hot[st]
		if s == nil {
			if s, err = c.Conn.PrepareContext(ctx, st.query); err != nil {
				return false, c.failed(err)
			}
			if c.hot == nil {
				c.hot = map[*hotStmt]driver.Stmt{}
			}
			c.hot[st] = s
		}
		rows, err = s.(driver.StmtQueryContext).QueryContext(ctx, args)
	} else {
		rows, err = (&unpreparedStmt{c: c, query: st.query, name: st.name}).QueryContext(ctx, args)
	}
	if err != nil {
		return false, c.failed(err)
	}
	err = rows.Next(dest)
	found := err == nil
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, c.failed(err)
	}
	return found, nil
}

// failed returns err, first closing c unless the server sent err: an error
// answer leaves the connection ready for the next statement, anything else
// (a timeout, a broken connection, a message out of place) may have left
// part of an answer unread, so the pool must not hand c out again.
func (c *poolConn) failed(err error) error {
	var pgErr pgdriver.Error
	if !errors.As(err, &pgErr) {
		_ = c.Close()
	}
	return err
}

// stmtArgs numbers values as the arguments of a statement.
func stmtArgs(values ...driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(values))
	for i, v := range values {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// columns reads the values of a row read by queryRow, keeping the first
// type mismatch.
type columns struct {
	v   []driver.Value
	err error
}

func (c *columns) mismatch(i int, want string) {
	if c.err == nil {
		c.err = fmt.Errorf("postgres: column %d is %T, want %s", i+1, c.v[i], want)
	}
}

func (c *columns) int64(i int) int64 {
	n, ok := c.v[i].(int64)
	if !ok {
		c.mismatch(i, "int64")
	}
	return n
}

func (c *columns) bool(i int) bool {
	b, ok := c.v[i].(bool)
	if !ok {
		c.mismatch(i, "bool")
	}
	return b
}

func (c *columns) string(i int) string {
	switch s := c.v[i].(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	c.mismatch(i, "string")
	return ""
}

// time reads a timestamp; NULL is the zero time.
func (c *columns) time(i int) time.Time {
	switch t := c.v[i].(type) {
	case time.Time:
		return t
	case nil:
		return time.Time{}
	}
	c.mismatch(i, "time.Time")
	return time.Time{}
}

// textArray reads a text[]; NULL is nil.
func (c *columns) textArray(i int) []string {
	var a []string
	if err := pgdialect.Array(&a).Scan(c.v[i]); err != nil && c.err == nil {
		c.err = fmt.Errorf("postgres: column %d: %w", i+1, err)
	}
	return a
}

func (c *columns) uuid(i int) uuid.UUID {
	var id uuid.UUID
	var err error
	switch s := c.v[i].(type) {
	case []byte:
		id, err = uuid.ParseBytes(s)
	case string:
		id, err = uuid.Parse(s)
	default:
		c.mismatch(i, "uuid")
		return id
	}
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("postgres: column %d: %w", i+1, err)
	}
	return id
}
