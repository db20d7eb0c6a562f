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

// MailRow is a row of mail_outbox as tests see it.
type MailRow = mailOutboxRow

// ReadMail reads the row of mail_outbox with id.
func ReadMail(ctx context.Context, db *bun.DB, id int64) (*MailRow, error) {
	var row mailOutboxRow
	if err := db.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, err
	}
	return &row, nil
}

// BySessionSQL is the statement UserRepository.ByLiveSession sends.
var BySessionSQL = bySessionSQL

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
