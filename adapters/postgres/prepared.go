package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
// On a connection that does not prepare (see PreparedMode) the statement is
// sent whole each time instead, still in one round trip.
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

// PreparedMode says whether the connections of a handle prepare the
// statements the repositories prepare.
//
// A prepared statement lives in one server session. A pooler in
// transaction mode (PgBouncer before 1.21, or with max_prepared_statements
// at 0) gives each transaction to whichever server connection is free, so a
// statement prepared through it is missing, or another client's, on the
// next call: those connections must not prepare.
type PreparedMode int

const (
	// PreparedAuto prepares on each connection that reaches PostgreSQL
	// directly and on no other. A connection is direct when the server
	// sees its own two TCP endpoints: behind a pooler or a proxy it sees
	// the pooler's connection instead. A Unix socket cannot tell, so it
	// does not prepare either. A wrong verdict can only cost the plan
	// cache, never an error.
	PreparedAuto PreparedMode = iota
	// PreparedOn prepares on every connection, once per statement.
	PreparedOn
	// PreparedOff prepares on none: each statement is sent whole, with its
	// arguments, in one simple-protocol Query message, as bun sends every
	// other statement. That is still one round trip per statement, and it
	// leaves nothing behind in the server session.
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

// PreparesStatements reports whether a connection of db, opened or reused
// now, prepares statements: always with PreparedOn, never with
// PreparedOff, and with PreparedAuto when it reaches PostgreSQL directly.
func PreparesStatements(ctx context.Context, db *bun.DB) (bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, dbErr("connect", err)
	}
	defer conn.Close()
	var prepares bool
	err = conn.Raw(func(dc any) error {
		_, unprepared := dc.(unpreparedConn)
		prepares = !unprepared
		return nil
	})
	return prepares, err
}

// connector opens pgdriver connections and hands out those that must not
// prepare as unpreparedConn.
type connector struct {
	*pgdriver.Connector
	mode PreparedMode
}

var _ driver.Connector = connector{}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil || c.mode == PreparedOn {
		return dc, err
	}
	cn, ok := dc.(*pgdriver.Conn)
	if !ok {
		return dc, nil
	}
	if c.mode == PreparedAuto {
		direct, err := reachesServerDirectly(ctx, cn)
		if err != nil {
			_ = cn.Close()
			return nil, err
		}
		if direct {
			return cn, nil
		}
	}
	return unpreparedConn{cn}, nil
}

// unpreparedConn is a connection whose PrepareContext prepares nothing:
// the statement it returns sends its query with the call's arguments
// through the connection's QueryContext and ExecContext, which pgdriver
// implements with the simple query protocol, formatting the arguments into
// the query. Everything else is the pgdriver connection's own.
type unpreparedConn struct {
	*pgdriver.Conn
}

func (c unpreparedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c unpreparedConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	if !c.IsValid() {
		return nil, driver.ErrBadConn
	}
	return unpreparedStmt{cn: c.Conn, query: query}, nil
}

// unpreparedStmt is a statement that the server never sees prepared.
type unpreparedStmt struct {
	cn    *pgdriver.Conn
	query string
}

var (
	_ driver.StmtExecContext  = unpreparedStmt{}
	_ driver.StmtQueryContext = unpreparedStmt{}
)

func (s unpreparedStmt) Close() error { return nil }

// NumInput returns -1: pgdriver checks the arguments against the query.
func (s unpreparedStmt) NumInput() int { return -1 }

func (s unpreparedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.cn.ExecContext(ctx, s.query, args)
}

func (s unpreparedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.cn.QueryContext(ctx, s.query, args)
}

func (s unpreparedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s unpreparedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
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
