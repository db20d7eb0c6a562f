package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.UserRepository = (*UserRepository)(nil)

// UserRepository stores users in the users table.
type UserRepository struct {
	db *bun.DB

	// bySession authenticates every request to a Bearer route, so it is
	// a hot statement like those of a rotation.
	bySession *hotStmt
}

// NewUserRepository returns a UserRepository on db.
func NewUserRepository(db *bun.DB) *UserRepository {
	return &UserRepository{db: db, bySession: newHotStmt(bySessionSQL)}
}

// bySessionSQL loads the user of a live family: two primary-key lookups,
// with the family's liveness stated by liveFamily ($2 is "now").
var bySessionSQL = `SELECT u.id, u.email, u.hashed_password, u.role::text, u.is_active, u.created_at, u.session_epoch,
		u.email_verified_at
	FROM token_families AS f JOIN users AS u ON u.id = f.user_id
	WHERE f.id = $1::uuid AND ` + strings.Replace(liveFamily, "?", "$2::timestamptz", 1)

const userColumns = "id, email, hashed_password, role, is_active, created_at, session_epoch, email_verified_at"

// adminChangeLockKey is the pg_advisory_xact_lock key that serialises the
// changes removing an active admin (the bytes of "authdadm"), so that two
// admins demoting each other cannot both see the other one still active.
const adminChangeLockKey int64 = 0x6175746864616d

// Create stores u and the events, mails and one-time tokens attached to
// it, which get its id, and returns it with its id. It returns domain.ErrEmailTaken when the email is
// already registered.
func (r *UserRepository) Create(ctx context.Context, u *domain.User) (*domain.User, error) {
	row := fromDomainUser(u)
	var created *domain.User
	var inner error
	err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var stored userRow
		inner = tx.NewRaw(
			"INSERT INTO users (email, hashed_password, role, is_active, created_at, session_epoch, email_verified_at) "+
				"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "+userColumns,
			row.Email, row.HashedPassword, row.Role, row.IsActive, row.CreatedAt, row.SessionEpoch, nullTime(row.EmailVerifiedAt),
		).Scan(ctx, &stored)
		switch {
		case isUniqueViolation(inner, usersEmailKey):
			inner = domain.ErrEmailTaken
		case inner != nil:
			inner = dbErr("create user", inner)
		}
		if inner != nil {
			return inner
		}
		events := u.AuditEvents()
		for i := range events {
			if events[i].UserID == 0 {
				events[i].UserID = domain.UserID(stored.ID)
			}
		}
		if inner = insertEvents(ctx, tx, events); inner != nil {
			return inner
		}
		if inner = insertMails(ctx, tx, u.Mails(), stored.ID); inner != nil {
			return inner
		}
		if inner = storeTokens(ctx, tx, u, stored.ID); inner != nil {
			return inner
		}
		created, inner = toDomainUser(&stored)
		return inner
	})
	switch {
	case inner != nil:
		return nil, inner
	case err != nil: // BEGIN or COMMIT failed
		return nil, dbErr("create user", err)
	}
	return created, nil
}

// ByID returns the user with id, or domain.ErrUserNotFound.
func (r *UserRepository) ByID(ctx context.Context, id domain.UserID) (*domain.User, error) {
	return loadUser(ctx, r.db, "id = ?", int64(id))
}

// ByEmail returns the user with email, or domain.ErrUserNotFound.
func (r *UserRepository) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	return loadUser(ctx, r.db, "email = ?", email.String())
}

// ByLiveSession returns the user of the family with id sid if that family
// is live at now (liveFamily), in one statement, or domain.ErrSessionNotFound.
func (r *UserRepository) ByLiveSession(ctx context.Context, sid uuid.UUID, now time.Time) (*domain.User, error) {
	v := make([]driver.Value, 8)
	var found bool
	err := withHotConn(ctx, r.db.DB, nil, func(h *hotConn) (err error) {
		found, err = h.queryRow(ctx, r.bySession, stmtArgs(sid.String(), now), v)
		return err
	})
	switch {
	case err != nil:
		return nil, dbErr("load user by session", err)
	case !found:
		return nil, domain.ErrSessionNotFound
	}
	c := columns{v: v}
	row := userRow{ID: c.int64(0), Email: c.string(1), HashedPassword: c.string(2), Role: c.string(3),
		IsActive: c.bool(4), CreatedAt: c.time(5), SessionEpoch: c.int64(6), EmailVerifiedAt: c.time(7)}
	if c.err != nil {
		return nil, fmt.Errorf("postgres: load user by session: %w", c.err)
	}
	return toDomainUser(&row)
}

// loadUser returns the one user matching where, or domain.ErrUserNotFound.
func loadUser(ctx context.Context, db bun.IDB, where string, args ...any) (*domain.User, error) {
	var row userRow
	err := db.NewRaw("SELECT "+userColumns+" FROM users WHERE "+where, args...).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrUserNotFound
	}
	if err != nil {
		return nil, dbErr("load user", err)
	}
	return toDomainUser(&row)
}

// Update locks the user with id, applies fn and, in the same transaction,
// stores the user and carries out what the change decided: a change that
// removes an active admin counts the other active admins under
// adminChangeLockKey and lets the user decide (domain.ErrLastAdmin), and a
// change that ends sessions ends them, and the events fn attached are
// stored, the mails it attached queued and the one-time tokens it revoked
// and issued stored. It returns domain.ErrUserNotFound when no user has
// id, domain.ErrEmailTaken when the change gives the user an address
// another user has, and fn's error unchanged, storing nothing, when fn
// fails.
func (r *UserRepository) Update(ctx context.Context, id domain.UserID, fn func(u *domain.User) error) (*domain.User, error) {
	var updated *domain.User
	var inner error // the closure's own error, already described
	err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		updated, inner = updateUser(ctx, tx, id, fn)
		return inner
	})
	switch {
	case inner != nil:
		return nil, inner
	case err != nil: // BEGIN or COMMIT failed
		return nil, dbErr("update user", err)
	}
	return updated, nil
}

// updateUser is Update inside tx: it locks the user's row, applies fn and
// stores the change with everything it decided.
func updateUser(ctx context.Context, tx bun.Tx, id domain.UserID, fn func(u *domain.User) error) (*domain.User, error) {
	// FOR NO KEY UPDATE, not FOR UPDATE: it does not conflict with the
	// KEY SHARE locks that inserts into token_families and refresh_tokens
	// take on their user through the foreign keys.
	u, err := loadUser(ctx, tx, "id = ? FOR NO KEY UPDATE", int64(id))
	if err != nil {
		return nil, err
	}
	if err := fn(u); err != nil {
		return nil, err
	}
	if u.RemovesActiveAdmin() {
		others, err := otherActiveAdmins(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if err := u.AllowAdminRemoval(others); err != nil {
			return nil, err
		}
	}
	row := fromDomainUser(u)
	// The id comes from the locked row: fn cannot re-target the write.
	if _, err := tx.NewRaw(
		"UPDATE users SET email = ?, hashed_password = ?, role = ?, is_active = ?, session_epoch = ?, email_verified_at = ? WHERE id = ?",
		row.Email, row.HashedPassword, row.Role, row.IsActive, row.SessionEpoch, nullTime(row.EmailVerifiedAt), int64(id),
	).Exec(ctx); err != nil {
		if isUniqueViolation(err, usersEmailKey) {
			return nil, domain.ErrEmailTaken
		}
		return nil, dbErr("update user", err)
	}
	if end, ok := u.EndsSessions(); ok {
		if _, err := endFamilies(ctx, tx, int64(id), end.At, end.Except); err != nil {
			return nil, err
		}
	}
	if err := insertEvents(ctx, tx, u.AuditEvents()); err != nil {
		return nil, err
	}
	// After the update, so that a mail to the user goes to the address
	// the change leaves.
	if err := insertMails(ctx, tx, u.Mails(), int64(id)); err != nil {
		return nil, err
	}
	if err := storeTokens(ctx, tx, u, int64(id)); err != nil {
		return nil, err
	}
	return u, nil
}

// otherActiveAdmins counts the active admins other than id, after taking
// the transaction-scoped lock that every change removing an admin takes:
// the count then sees every such change that committed before.
func otherActiveAdmins(ctx context.Context, tx bun.Tx, id domain.UserID) (int, error) {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", adminChangeLockKey); err != nil {
		return 0, dbErr("lock admin changes", err)
	}
	var n int
	if err := tx.NewRaw(
		"SELECT count(*) FROM users WHERE role = 'admin' AND is_active AND id <> ?", int64(id),
	).Scan(ctx, &n); err != nil {
		return 0, dbErr("count active admins", err)
	}
	return n, nil
}

// List returns up to q.Limit users with id > q.After in id order, only those
// whose email starts with q.EmailPrefix (taken literally, case-sensitive)
// when it is set. A non-positive Limit means no limit.
func (r *UserRepository) List(ctx context.Context, q ports.UserQuery) ([]*domain.User, error) {
	query := "SELECT " + userColumns + " FROM users WHERE id > ?"
	args := []any{int64(q.After)}
	if q.EmailPrefix != "" {
		query += ` AND email LIKE ? ESCAPE '\'`
		args = append(args, escapeLike(q.EmailPrefix)+"%")
	}
	query += " ORDER BY id"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}

	var rows []userRow
	if err := r.db.NewRaw(query, args...).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, dbErr("list users", err)
	}
	users := make([]*domain.User, 0, len(rows))
	for i := range rows {
		u, err := toDomainUser(&rows[i])
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match itself literally in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string { return likeEscaper.Replace(s) }
