package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.UserRepository = (*UserRepository)(nil)

// UserRepository stores users in the users table.
type UserRepository struct {
	db *bun.DB
}

// NewUserRepository returns a UserRepository on db.
func NewUserRepository(db *bun.DB) *UserRepository {
	return &UserRepository{db: db}
}

const userColumns = "id, email, hashed_password, role, is_active, created_at"

// Create stores u and returns it with its id and stored creation time. It
// returns domain.ErrEmailTaken when the email is already registered. A zero
// CreatedAt takes the database's clock.
func (r *UserRepository) Create(ctx context.Context, u *domain.User) (*domain.User, error) {
	row := fromDomainUser(u)
	var created userRow
	err := r.db.NewRaw(
		"INSERT INTO users (email, hashed_password, role, is_active, created_at) "+
			"VALUES (?, ?, ?, ?, coalesce(?, now())) RETURNING "+userColumns,
		row.Email, row.HashedPassword, row.Role, row.IsActive, nullTime(row.CreatedAt),
	).Scan(ctx, &created)
	if err != nil {
		if isUniqueViolation(err, usersEmailKey) {
			return nil, domain.ErrEmailTaken
		}
		return nil, dbErr("create user", err)
	}
	return toDomainUser(&created)
}

// ByID returns the user with id, or domain.ErrUserNotFound.
func (r *UserRepository) ByID(ctx context.Context, id domain.UserID) (*domain.User, error) {
	return r.one(ctx, "id = ?", int64(id))
}

// ByEmail returns the user with email, or domain.ErrUserNotFound.
func (r *UserRepository) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	return r.one(ctx, "email = ?", email.String())
}

func (r *UserRepository) one(ctx context.Context, where string, arg any) (*domain.User, error) {
	var row userRow
	err := r.db.NewRaw("SELECT "+userColumns+" FROM users WHERE "+where, arg).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrUserNotFound
	}
	if err != nil {
		return nil, dbErr("load user", err)
	}
	return toDomainUser(&row)
}

// Update locks the active admins and the user with id (in id order, so
// concurrent updates cannot deadlock), applies fn with the number of active
// admins and writes the user, all in one transaction. When the user goes
// from active to inactive, every family of the user that has not ended is
// ended at now, with its tokens, in the same transaction. It returns
// domain.ErrUserNotFound when no user has id, domain.ErrEmailTaken when the
// new email is taken, and fn's error unchanged, storing nothing, when fn fails.
func (r *UserRepository) Update(ctx context.Context, id domain.UserID, now time.Time, fn func(u *domain.User, activeAdmins int) error) (*domain.User, error) {
	var updated *domain.User
	var inner error // the closure's own error, already described
	err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		updated, inner = r.update(ctx, tx, id, now, fn)
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

func (r *UserRepository) update(ctx context.Context, tx bun.Tx, id domain.UserID, now time.Time, fn func(u *domain.User, activeAdmins int) error) (*domain.User, error) {
	// FOR NO KEY UPDATE, not FOR UPDATE: it does not conflict with the
	// KEY SHARE locks that inserts into token_families and
	// refresh_tokens take on their user through the foreign keys.
	var rows []userRow
	if err := tx.NewRaw(
		"SELECT "+userColumns+" FROM users WHERE id = ? OR (role = 'admin' AND is_active) "+
			"ORDER BY id FOR NO KEY UPDATE",
		int64(id),
	).Scan(ctx, &rows); err != nil {
		return nil, dbErr("lock user", err)
	}
	var target *userRow
	admins := 0
	for i := range rows {
		if rows[i].Role == domain.RoleAdmin && rows[i].IsActive {
			admins++
		}
		if rows[i].ID == int64(id) {
			target = &rows[i]
		}
	}
	if target == nil {
		return nil, domain.ErrUserNotFound
	}
	u, err := toDomainUser(target)
	if err != nil {
		return nil, err
	}
	wasActive := u.IsActive()
	if err := fn(u, admins); err != nil {
		return nil, err
	}
	row := fromDomainUser(u)
	if _, err := tx.NewRaw(
		"UPDATE users SET email = ?, hashed_password = ?, role = ?, is_active = ? WHERE id = ?",
		row.Email, row.HashedPassword, row.Role, row.IsActive, int64(id),
	).Exec(ctx); err != nil {
		if isUniqueViolation(err, usersEmailKey) {
			return nil, domain.ErrEmailTaken
		}
		return nil, dbErr("update user", err)
	}
	if wasActive && !u.IsActive() {
		if _, err := endFamilies(ctx, tx, familyFilter{userID: int64(id), now: now}); err != nil {
			return nil, err
		}
	}
	// The id comes from the locked row: fn cannot re-target the write.
	updated := domain.RehydrateUser(id, u.Email(), u.PasswordHash(), u.Role(), u.IsActive(), target.CreatedAt)
	return updated, nil
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
