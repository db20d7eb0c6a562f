// Package postgres implements authd's storage ports on PostgreSQL with bun:
// users, refresh-token families and the audit trail, plus the helpers that
// open the connection pool and apply the migrations.
//
// Concurrency is handled with row locks inside PostgreSQL, never with Go
// mutexes, so several authd processes can share one database.
package postgres

import (
	"database/sql"
	"fmt"
	"runtime"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// PoolOptions bounds the connection pool and the network timeouts of a
// database handle. Zero fields take the value of DefaultPoolOptions.
type PoolOptions struct {
	// MaxOpenConns caps the connections open at once; requests beyond it
	// wait for a free connection.
	MaxOpenConns int
	// MaxIdleConns is how many connections are kept open while idle.
	MaxIdleConns int
	// ConnMaxLifetime recycles a connection after this long, so server-side
	// memory and failovers do not pin connections forever.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes a connection idle for this long.
	ConnMaxIdleTime time.Duration
	// DialTimeout bounds establishing a connection.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for one answer from the server.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending one request to the server.
	WriteTimeout time.Duration
	// Prepared says how connections send the statements the repositories
	// prepare; the zero value, PreparedAuto, prepares them on direct
	// connections and sends them named on others, so that the handle also
	// works through a pooler in transaction mode.
	Prepared PreparedMode
}

// DefaultPoolOptions returns the pool settings used by authd: a few
// connections per core (the hot path spends most of its time waiting on
// the network, not on the CPU) and timeouts that turn a vanished server
// into an error within seconds.
func DefaultPoolOptions() PoolOptions {
	n := 4 * runtime.GOMAXPROCS(0)
	if n < 8 {
		n = 8
	}
	return PoolOptions{
		MaxOpenConns:    n,
		MaxIdleConns:    n,
		ConnMaxLifetime: 30 * time.Minute,
		ConnMaxIdleTime: 5 * time.Minute,
		DialTimeout:     5 * time.Second,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    10 * time.Second,
	}
}

func (o PoolOptions) withDefaults() PoolOptions {
	d := DefaultPoolOptions()
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = d.MaxOpenConns
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = d.MaxIdleConns
	}
	if o.MaxIdleConns > o.MaxOpenConns {
		o.MaxIdleConns = o.MaxOpenConns
	}
	if o.ConnMaxLifetime <= 0 {
		o.ConnMaxLifetime = d.ConnMaxLifetime
	}
	if o.ConnMaxIdleTime <= 0 {
		o.ConnMaxIdleTime = d.ConnMaxIdleTime
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = d.DialTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = d.ReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = d.WriteTimeout
	}
	return o
}

// Open returns a bun handle on the PostgreSQL database named by dsn
// (postgres://user:pass@host:port/db?sslmode=disable). It does not connect;
// call PingContext to check that the server answers.
//
// The handle may reach PostgreSQL through a pooler in transaction mode such
// as PgBouncer: nothing the repositories do depends on state in the server
// session beyond one transaction (their advisory locks are
// transaction-scoped; named statements are prepared again wherever they
// are missing), and opts.Prepared keeps protocol-level prepared statements
// off such connections. Migrations are the exception: Up and Down hold a
// session advisory lock, so they must run against PostgreSQL directly.
func Open(dsn string, opts PoolOptions) (*bun.DB, error) {
	return open(dsn, opts)
}

// open is Open with extra driver options, which tests use to watch the
// connections.
func open(dsn string, opts PoolOptions, extra ...pgdriver.Option) (*bun.DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("postgres: empty DSN")
	}
	opts = opts.withDefaults()
	switch opts.Prepared {
	case PreparedAuto, PreparedOn, PreparedOff:
	default:
		return nil, fmt.Errorf("postgres: unknown %v", opts.Prepared)
	}
	pc, err := newConnector(dsn, opts, extra)
	if err != nil {
		return nil, err
	}
	sqldb := sql.OpenDB(connector{Connector: pc, mode: opts.Prepared})
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxIdleConns)
	sqldb.SetConnMaxLifetime(opts.ConnMaxLifetime)
	sqldb.SetConnMaxIdleTime(opts.ConnMaxIdleTime)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// newConnector builds the driver's connector, turning the panic pgdriver
// raises on a malformed DSN into an error.
func newConnector(dsn string, opts PoolOptions, extra []pgdriver.Option) (c *pgdriver.Connector, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value may quote the DSN, password included.
			c, err = nil, fmt.Errorf("postgres: invalid DSN (want postgres://user:password@host:port/database?sslmode=disable)")
		}
	}()
	return pgdriver.NewConnector(
		pgdriver.WithDSN(dsn),
		pgdriver.WithApplicationName("authd"),
		pgdriver.WithDialTimeout(opts.DialTimeout),
		pgdriver.WithReadTimeout(opts.ReadTimeout),
		pgdriver.WithWriteTimeout(opts.WriteTimeout),
		pgdriver.WithOptions(extra...),
	), nil
}
