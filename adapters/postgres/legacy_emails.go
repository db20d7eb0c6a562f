package postgres

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"authd/domain"
)

// LegacyEmail is a stored email that domain.ParseEmail, as it is now, would
// not store as it is: written under older normalisation rules (before NFC,
// IDNA A-labels and the refusal of invisible characters), it is no longer
// found by a login that types it, and a look-alike registration is not
// caught by the unique constraint.
type LegacyEmail struct {
	UserID int64
	Stored string
	// Normal is the address's form under the current rules; empty when
	// they refuse it (Refused says why).
	Normal  string
	Refused string
	// Conflict is the id of the user that already has Normal, if any: the
	// two rows are one address now and an operator must decide.
	Conflict int64
	// Rewritten reports whether NormalizeEmails stored Normal.
	Rewritten bool
}

// legacyBatch is how many users a scan reads at a time.
const legacyBatch = 1000

// NormalizeEmails scans every user and returns those whose stored email is
// not in the current normal form. With apply set it rewrites each one whose
// normal form no other user has, in a statement of its own that changes
// the row only if it still holds the address read; it never merges two
// accounts and never touches a row the rules now refuse, which it reports
// for an operator to resolve (rename, or deactivate the look-alike).
func NormalizeEmails(ctx context.Context, db *bun.DB, apply bool) ([]LegacyEmail, error) {
	var out []LegacyEmail
	after := int64(0)
	for {
		var rows []struct {
			ID    int64  `bun:"id"`
			Email string `bun:"email"`
		}
		if err := db.NewRaw("SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT ?", after, legacyBatch).
			Scan(ctx, &rows); err != nil {
			return out, dbErr("scan emails", err)
		}
		for _, r := range rows {
			e, err := domain.ParseEmail(r.Email)
			switch {
			case err != nil:
				out = append(out, LegacyEmail{UserID: r.ID, Stored: r.Email, Refused: err.Error()})
			case e.String() != r.Email:
				out = append(out, LegacyEmail{UserID: r.ID, Stored: r.Email, Normal: e.String()})
			}
		}
		if len(rows) < legacyBatch {
			break
		}
		after = rows[len(rows)-1].ID
	}
	for i := range out {
		l := &out[i]
		if l.Normal == "" {
			continue
		}
		if err := db.NewRaw("SELECT coalesce(min(id), 0) FROM users WHERE email = ? AND id <> ?", l.Normal, l.UserID).
			Scan(ctx, &l.Conflict); err != nil {
			return out, dbErr("look up normalised email", err)
		}
		if !apply || l.Conflict != 0 {
			continue
		}
		res, err := db.NewRaw("UPDATE users SET email = ? WHERE id = ? AND email = ?", l.Normal, l.UserID, l.Stored).Exec(ctx)
		if isUniqueViolation(err, usersEmailKey) {
			// Registered meanwhile under the normal form.
			continue
		}
		if err != nil {
			return out, dbErr("rewrite email", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return out, fmt.Errorf("postgres: rewrite email: %w", err)
		}
		l.Rewritten = n == 1
	}
	return out, nil
}
