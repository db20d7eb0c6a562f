package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// preparedStmt is a statement prepared on first use. database/sql then
// prepares it once per pooled connection and reuses it, so PostgreSQL plans
// it once instead of on every call; the hot path of rotation pays for
// execution only. A failed preparation (the database is down) is retried
// on the next call.
//
// A connection behind a pooler sends it named or unprepared instead (see
// PreparedMode), still in one round trip.
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

// PreparedMode says how the connections of a handle send the statements
// that the repositories prepare.
//
// A statement prepared with the extended protocol lives in one server
// session. A pooler in transaction mode (PgBouncer before 1.21, or later
// ones with max_prepared_statements at 0) gives each transaction to
// whichever server connection is free, so such a statement is missing, or
// another client's, on the next call: connections through a pooler must
// not prepare that way.
type PreparedMode int

const (
	// PreparedAuto prepares with the extended protocol on each connection
	// that reaches PostgreSQL directly, and sends named statements on any
	// other (StatementsNamed). A connection is direct when the server sees
	// its own two TCP endpoints: behind a pooler or a proxy it sees the
	// pooler's connection instead. A Unix socket cannot tell, so it is
	// not direct either. A wrong verdict can only cost speed, never an
	// error.
	PreparedAuto PreparedMode = iota
	// PreparedOn prepares with the extended protocol on every connection
	// (StatementsPrepared): for direct connections, and for poolers that
	// track prepared statements themselves.
	PreparedOn
	// PreparedOff never prepares (StatementsUnprepared).
	PreparedOff
)

// ParsePreparedMode reads "auto", "on" or "off".
func ParsePreparedMode(s string) (PreparedMode, error) {
	for _, m := range []PreparedMode{PreparedAuto, PreparedOn, PreparedOff} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("postgres: prepared statements %q: want auto, on or off", s)
}

// String returns "auto", "on" or "off".
func (m PreparedMode) String() string {
	switch m {
	case PreparedAuto:
		return "auto"
	case PreparedOn:
		return "on"
	case PreparedOff:
		return "off"
	}
	return fmt.Sprintf("PreparedMode(%d)", int(m))
}

// Statements is how one connection sends the statements that the
// repositories prepare. Each way costs one round trip per statement once
// warm.
type Statements string

const (
	// StatementsPrepared statements are prepared with the extended
	// protocol on first use on the connection, then bound and executed;
	// planned once.
	StatementsPrepared Statements = "prepared"
	// StatementsNamed statements are executed by name with the SQL command
	// EXECUTE, the arguments in the command. The name is derived from the
	// statement's text, so every server session that has it holds the
	// same statement; when the server connection the pooler picked has not
	// got it yet, it is prepared there with the SQL command PREPARE and
	// executed again (two more round trips, once per server connection).
	// The server plans them as it plans prepared statements. Outside
	// transactions only: inside one a statement is sent unprepared.
	StatementsNamed Statements = "named"
	// StatementsUnprepared statements are sent whole, with their
	// arguments, in every call: planned every time, and nothing stays in
	// the server session.
	StatementsUnprepared Statements = "unprepared"
)

// StatementsOf reports how a connection of db, opened or reused now,
// sends the statements that the repositories prepare.
func StatementsOf(ctx context.Context, db *bun.DB) (Statements, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", dbErr("connect", err)
	}
	defer conn.Close()
	how := StatementsPrepared
	err = conn.Raw(func(dc any) error {
		if c, ok := dc.(*poolConn); ok {
			how = c.how
		}
		return nil
	})
	return how, err
}

// connector opens pgdriver connections and hands each out as a poolConn
// that knows how it sends the statements the repositories prepare.
type connector struct {
	*pgdriver.Connector
	mode PreparedMode
}

var _ driver.Connector = connector{}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return dc, err
	}
	cn, ok := dc.(*pgdriver.Conn)
	if !ok {
		return dc, nil
	}
	switch c.mode {
	case PreparedOn:
		return &poolConn{Conn: cn, how: StatementsPrepared}, nil
	case PreparedOff:
		return &poolConn{Conn: cn, how: StatementsUnprepared}, nil
	}
	direct, err := reachesServerDirectly(ctx, cn)
	if err != nil {
		_ = cn.Close()
		return nil, err
	}
	if direct {
		return &poolConn{Conn: cn, how: StatementsPrepared}, nil
	}
	return &poolConn{Conn: cn, how: StatementsNamed}, nil
}

// poolConn is a connection of the pool: pgdriver's, sending the statements
// that the repositories prepare the way how says. Prepared, PrepareContext
// is pgdriver's own. Otherwise the statement it returns prepares nothing on
// the server: it sends SQL text, with the call's arguments, through the
// connection's QueryContext and ExecContext, which pgdriver implements with
// the simple query protocol, formatting the arguments into the text as it
// does for every statement bun sends. Everything else is the pgdriver
// connection's own.
type poolConn struct {
	*pgdriver.Conn
	how  Statements
	inTx bool // between BeginTx and the end of that transaction

	// hot holds the hot statements prepared on this connection (see
	// hotStmt), when how is StatementsPrepared.
	hot map[*hotStmt]driver.Stmt
}

func (c *poolConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *poolConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.how == StatementsPrepared {
		return c.Conn.PrepareContext(ctx, query)
	}
	if !c.IsValid() {
		return nil, driver.ErrBadConn
	}
	return &unpreparedStmt{c: c, query: query, name: namedStatement(query)}, nil
}

// namedStatement is the name of query as a named statement: the same in
// every server session, whichever client prepared it.
func namedStatement(query string) string {
	sum := sha256.Sum256([]byte(query))
	return "authd_" + hex.EncodeToString(sum[:10])
}

func (c *poolConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *poolConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return poolTx{Tx: tx, c: c}, nil
}

// poolTx notes the end of its connection's transaction.
type poolTx struct {
	driver.Tx
	c *poolConn
}

func (t poolTx) Commit() error {
	t.c.inTx = false
	return t.Tx.Commit()
}

func (t poolTx) Rollback() error {
	t.c.inTx = false
	return t.Tx.Rollback()
}

// unpreparedStmt is a statement that is never prepared with the extended
// protocol: sent unprepared, or named (see StatementsNamed).
type unpreparedStmt struct {
	c     *poolConn
	query string
	name  string // its name as a named statement
}

var (
	_ driver.StmtExecContext  = (*unpreparedStmt)(nil)
	_ driver.StmtQueryContext = (*unpreparedStmt)(nil)
)

// SQLSTATE codes of named statements.
const (
	undefinedPreparedStatement = "26000" // EXECUTE: the server session lacks it
	duplicatePreparedStatement = "42P05" // PREPARE: the server session has it
)

// namedAttempts bounds how often a call finds its named statement missing
// (each time on another server connection) before it sends the statement
// unprepared.
const namedAttempts = 3

func (s *unpreparedStmt) Close() error { return nil }

// NumInput returns -1: pgdriver checks the arguments against the query.
func (s *unpreparedStmt) NumInput() int { return -1 }

func (s *unpreparedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	var res driver.Result
	err := s.send(ctx, len(args), func(query string) (err error) {
		res, err = s.c.ExecContext(ctx, query, args)
		return err
	})
	return res, err
}

func (s *unpreparedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	var rows driver.Rows
	err := s.send(ctx, len(args), func(query string) (err error) {
		rows, err = s.c.QueryContext(ctx, query, args)
		return err
	})
	return rows, err
}

func (s *unpreparedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *unpreparedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

// send runs the statement, with n arguments, through run, which sends SQL
// text with the call's arguments: unprepared, or as a named statement,
// preparing it first on a server connection that lacks it.
func (s *unpreparedStmt) send(ctx context.Context, n int, run func(query string) error) error {
	if s.c.how != StatementsNamed || s.c.inTx {
		// In a transaction a missing statement would abort it.
		return run(s.query)
	}
	execute := "EXECUTE " + s.name
	if n > 0 {
		params := make([]string, n)
		for i := range params {
			params[i] = "$" + strconv.Itoa(i+1)
		}
		execute += "(" + strings.Join(params, ", ") + ")"
	}
	for range namedAttempts {
		err := run(execute)
		if !hasCode(err, undefinedPreparedStatement) {
			return err
		}
		// The pooler may give the PREPARE, and the next EXECUTE, other
		// server connections: hence the loop.
		_, err = s.c.ExecContext(ctx, "PREPARE "+s.name+" AS "+s.query, nil)
		var pgErr pgdriver.Error
		switch {
		case err == nil, hasCode(err, duplicatePreparedStatement):
		case errors.As(err, &pgErr):
			// The server will not prepare it (a parameter of unknown
			// type, say): the text alone still works.
			return run(s.query)
		default:
			return err
		}
	}
	return run(s.query)
}

// hasCode reports whether err is a PostgreSQL error with SQLSTATE code.
func hasCode(err error, code string) bool {
	var pgErr pgdriver.Error
	return errors.As(err, &pgErr) && pgErr.Field('C') == code
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// endpointsQuery asks the server for both ends of the connection it serves.
const endpointsQuery = "SELECT host(inet_client_addr()), inet_client_port(), host(inet_server_addr()), inet_server_port()"

// reachesServerDirectly reports whether the server's end of cn is cn
// itself: the server sees cn's local address as its client and cn's
// remote address as its own. A pooler or a proxy in between makes the
// server see the pooler's own connection; a Unix socket shows no address.
// Both answer false. A server that refuses the query answers false too;
// failing to reach it is an error.
func reachesServerDirectly(ctx context.Context, cn *pgdriver.Conn) (bool, error) {
	local, okLocal := cn.Conn().LocalAddr().(*net.TCPAddr)
	remote, okRemote := cn.Conn().RemoteAddr().(*net.TCPAddr)
	if !okLocal || !okRemote {
		return false, nil
	}
	rows, err := cn.QueryContext(ctx, endpointsQuery, nil)
	if err != nil {
		var pgErr pgdriver.Error
		if errors.As(err, &pgErr) {
			return false, nil
		}
		return false, err
	}
	defer rows.Close()
	v := make([]driver.Value, 4)
	if err := rows.Next(v); err != nil {
		return false, err
	}
	return sameEndpoint(v[0], v[1], local) && sameEndpoint(v[2], v[3], remote), nil
}

// sameEndpoint reports whether the server's host and port values name a.
func sameEndpoint(host, port driver.Value, a *net.TCPAddr) bool {
	h, okHost := host.(string)
	p, okPort := port.(int64)
	if !okHost || !okPort {
		return false
	}
	seen, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	own, ok := netip.AddrFromSlice(a.IP)
	return ok && seen.Unmap() == own.Unmap() && int(p) == a.Port
}
