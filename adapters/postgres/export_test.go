package postgres

import (
	"context"

	"github.com/uptrace/bun"
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
