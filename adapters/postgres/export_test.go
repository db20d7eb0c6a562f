package postgres

import (
	"context"
	"net"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// ObserveStatements makes r report every prepared statement it sends, with
// its arguments, to fn, so that black-box tests can count round trips and
// see what was sent.
func ObserveStatements(r *FamilyRepository, fn func(query string, args []any)) { r.observe = fn }

// OpenWrapped is Open with every network connection to the server passed
// through wrap, so that tests can watch what goes over the wire.
func OpenWrapped(dsn string, opts PoolOptions, wrap func(net.Conn) net.Conn) (*bun.DB, error) {
	return open(dsn, opts, func(c *pgdriver.Config) {
		dial := c.Dialer
		c.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return wrap(nc), nil
		}
	})
}
