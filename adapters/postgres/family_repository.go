package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.FamilyRepository = (*FamilyRepository)(nil)

// liveFamily is the SQL twin of domain.Family.IsLive for the family aliased
// f, live at the time bound to its one parameter: not ended, and its
// absolute end after that time. Every query that selects live sessions uses
// it.
const liveFamily = "f.revoked_at IS NULL AND f.expires_at > ?"

// FamilyRepository stores refresh-token families in token_families and
// their tokens in refresh_tokens (by SHA-256 digest only).
//
// A change costs two statements and no explicit transaction: one SELECT
// loads the family with its owner and the presented token, and one
// statement of data-modifying CTEs writes it. The write first updates the
// family row on condition that its version is the one loaded, which takes
// the row lock; the token writes, and the audit events and mails attached
// to the change, only happen when that update matched. When
// another change committed first the update matches nothing and the change
// is recomputed on the fresh state.
type FamilyRepository struct {
	db *bun.DB

	// The statements of a rotation are prepared: planning them costs
	// PostgreSQL more than running them. They run on the connection a
	// change holds from its load to its write (see hotStmt).
	loadByToken *hotStmt
	rotate      *hotStmt
	end         *hotStmt

	// observe, when set, sees every prepared statement the repository
	// sends, with its arguments; tests use it to count round trips and to
	// check the statements RotationStatements describes.
	observe func(query string, args []any)
}

// NewFamilyRepository returns a FamilyRepository on db.
func NewFamilyRepository(db *bun.DB) *FamilyRepository {
	return &FamilyRepository{
		db:          db,
		loadByToken: newHotStmt(loadByTokenStmt.SQL),
		rotate:      newHotStmt(rotateStmt.SQL),
		end:         newHotStmt(endSQL),
	}
}

// Statement is one SQL statement of the repository with the names of its
// parameters: Params[0] names $1, Params[1] names $2, and so on.
type Statement struct {
	SQL    string
	Params []string
}

// RotationStatements returns the two statements of one rotation exactly as
// FamilyRepository sends them (UpdateByToken, when the family rotates), for
// benchmarks that run authd's SQL without authd:
//
//   - load takes the presented token's digest, "token", and answers one
//     row, the family with its owner and the token, every column named;
//   - rotate stores the rotation and answers how many families it changed:
//     1, or 0 when another change to the family committed first. Each of
//     its parameters named like a column of load's row takes that column's
//     value; the others are "now" (the rotation time), "successor_token"
//     (the digest of the token issued) and "successor_expires_at" (its
//     expiry).
func RotationStatements() (load, rotate Statement) {
	return loadByTokenStmt.clone(), rotateStmt.clone()
}

func (s Statement) clone() Statement {
	return Statement{SQL: s.SQL, Params: slices.Clone(s.Params)}
}

// The prepared statements of the hot path. Parameters carry explicit types
// because a prepared statement is planned before any value is known. The
// arguments given to queryRow follow the order of Params.
var (
	loadByTokenStmt = Statement{
		SQL: `SELECT f.id AS family_id, f.user_id, f.created_at AS family_created_at, f.last_used_at,
		f.expires_at AS family_expires_at, f.revoked_at AS family_revoked_at, f.user_agent, f.ip, f.version, f.amr,
		u.role::text AS role, u.is_active, u.session_epoch,
		t.id AS token_id, t.token, t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at,
		t.created_at AS token_created_at
	FROM refresh_tokens AS t
	JOIN token_families AS f ON f.id = t.token_family
	JOIN users AS u ON u.id = f.user_id
	WHERE t.token = $1::varchar`,
		Params: []string{"token"},
	}

	// rotateStmt revokes the presented token and inserts its successor, only
	// if the family row still has the version that was loaded. Updating the
	// family first takes its row lock, so concurrent writers queue on it and
	// never deadlock on token rows; EXISTS (SELECT 1 FROM fam) is evaluated
	// once, before the token rows are touched.
	rotateStmt = Statement{
		SQL:    rotateCTEs + countFam,
		Params: []string{"now", "family_id", "version", "token_id", "successor_token", "successor_expires_at"},
	}
)

// The writes of a family change are data-modifying CTEs, the first of which
// (fam) updates the family row on condition that it still has the version
// that was loaded, followed by countFam, which answers 1 when it did and 0
// when another change committed first. A change with audit events adds
// them as one more CTE joined to fam.
const (
	// rotateCTEs revoke the presented token and insert its successor.
	rotateCTEs = `WITH fam AS (
		UPDATE token_families SET last_used_at = $1::timestamptz, version = version + 1
		WHERE id = $2::uuid AND version = $3::bigint RETURNING id, user_id
	), used AS (
		UPDATE refresh_tokens SET revoked_at = $1::timestamptz
		WHERE id = $4::bigint AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM fam)
	), issued AS (
		INSERT INTO refresh_tokens (token, token_family, user_id, expires_at, created_at)
		SELECT $5::varchar, id, user_id, $6::timestamptz, $1::timestamptz FROM fam
	)`

	// endCTEs end the family and revoke its unrevoked tokens.
	endCTEs = `WITH fam AS (
		UPDATE token_families SET revoked_at = $1::timestamptz, version = version + 1
		WHERE id = $2::uuid AND version = $3::bigint RETURNING id
	), ended AS (
		UPDATE refresh_tokens SET revoked_at = $1::timestamptz
		WHERE token_family = $2::uuid AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM fam)
	)`

	countFam = `
	SELECT count(*) FROM fam`

	endSQL = endCTEs + countFam
)

const familySelect = "SELECT f.id, f.user_id, f.created_at, f.last_used_at, f.expires_at, f.revoked_at, " +
	"f.user_agent, f.ip, f.version, f.amr, u.role, u.is_active, u.session_epoch"

// Create stores a new family and the first token it issued, in one
// statement that inserts nothing unless the owner is still active and at
// the session epoch the family was opened at; it share-locks the owner's
// row, so a change to the owner that is under way is waited for. It returns
// ports.ErrOwnerChanged when the owner changed and domain.ErrUserNotFound
// when it does not exist.
func (r *FamilyRepository) Create(ctx context.Context, f *domain.Family) error {
	first, ok := f.Issued()
	if !ok {
		return errors.New("postgres: create family: the family issued no token")
	}
	row := fromDomainFamily(f)
	// FOR SHARE waits for a change to the owner that is under way (it
	// holds FOR NO KEY UPDATE) and then sees its outcome.
	query := `WITH owner AS (
		SELECT id FROM users WHERE id = $1 AND is_active AND session_epoch = $2 FOR SHARE
	), fam AS (
		INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip, version, amr)
		SELECT $3, id, $4, $5, $6, $7, $8, $9, $10, $14::text[] FROM owner RETURNING id, user_id
	), tok AS (
		INSERT INTO refresh_tokens (token, token_family, user_id, expires_at, created_at)
		SELECT $11, id, user_id, $12, $13 FROM fam
	)`
	args := []any{
		row.UserID, f.Owner().SessionEpoch,
		row.ID, row.CreatedAt, row.LastUsedAt, row.ExpiresAt, nullTime(row.RevokedAt), row.UserAgent, row.IP, row.Version,
		first.Hash().String(), first.ExpiresAt(), first.CreatedAt(), textArray(row.AMR),
	}
	extra, args := attachedCTEs(f, args)
	query += extra
	query += fmt.Sprintf(" SELECT EXISTS (SELECT 1 FROM users WHERE id = $%d), EXISTS (SELECT 1 FROM fam)", len(args)+1)
	args = append(args, row.UserID)
	var exists, stored bool
	err := r.db.DB.QueryRowContext(ctx, query, args...).Scan(&exists, &stored)
	switch {
	case err != nil:
		return dbErr("create family", err)
	case !exists:
		return fmt.Errorf("postgres: create family: %w", domain.ErrUserNotFound)
	case !stored:
		return fmt.Errorf("postgres: create family: %w", ports.ErrOwnerChanged)
	}
	return nil
}

// UpdateByToken loads the family through the token whose digest is hash,
// applies fn and stores what the family decided, even when fn fails. It
// returns domain.ErrInvalidRefreshToken when no token has that digest,
// ports.ErrConflict when the family kept changing underneath, and otherwise
// fn's error.
func (r *FamilyRepository) UpdateByToken(ctx context.Context, hash domain.TokenHash, fn func(f *domain.Family) error) error {
	digest := hash.String()
	return withHotConn(ctx, r.db.DB, r.observe, func(h *hotConn) error {
		return r.update(ctx, h, func() (*domain.Family, error) {
			v := make([]driver.Value, loadByTokenColumns)
			found, err := h.queryRow(ctx, r.loadByToken, stmtArgs(digest), v)
			switch {
			case err != nil:
				return nil, dbErr("load family by token", err)
			case !found:
				return nil, domain.ErrInvalidRefreshToken
			}
			c := columns{v: v}
			var row familyOwnerRow
			row.ID, row.UserID, row.CreatedAt, row.LastUsedAt = c.uuid(0), c.int64(1), c.time(2), c.time(3)
			row.ExpiresAt, row.RevokedAt, row.UserAgent, row.IP = c.time(4), c.time(5), c.string(6), c.string(7)
			row.Version, row.AMR = c.int64(8), c.textArray(9)
			row.Role, row.IsActive, row.SessionEpoch = c.string(10), c.bool(11), c.int64(12)
			row.TokenID, row.TokenHash, row.TokenExpiresAt = c.int64(13), c.string(14), c.time(15)
			row.TokenRevokedAt, row.TokenCreatedAt = c.time(16), c.time(17)
			if c.err != nil {
				return nil, fmt.Errorf("postgres: load family by token: %w", c.err)
			}
			return toDomainFamily(&row, true)
		}, fn)
	})
}

// loadByTokenColumns is the number of columns of loadByTokenStmt's row.
const loadByTokenColumns = 18

// Update is UpdateByToken for the family with id. It returns
// domain.ErrSessionNotFound when no family has id.
func (r *FamilyRepository) Update(ctx context.Context, id uuid.UUID, fn func(f *domain.Family) error) error {
	return withHotConn(ctx, r.db.DB, r.observe, func(h *hotConn) error {
		return r.update(ctx, h, func() (*domain.Family, error) {
			var row familyOwnerRow
			err := r.db.NewRaw(
				familySelect+" FROM token_families AS f JOIN users AS u ON u.id = f.user_id WHERE f.id = ?",
				id,
			).Conn(h.sc).Scan(ctx, &row)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, domain.ErrSessionNotFound
			}
			if err != nil {
				return nil, dbErr("load family", err)
			}
			return toDomainFamily(&row, false)
		}, fn)
	})
}

// update loads the family with load, applies fn and stores its decision on
// h, the connection held for the whole change.
func (r *FamilyRepository) update(ctx context.Context, h *hotConn, load func() (*domain.Family, error), fn func(f *domain.Family) error) error {
	for range ports.MaxFamilyWriteAttempts {
		f, err := load()
		if err != nil {
			return err
		}
		fnErr := fn(f)
		if !f.Changed() {
			return fnErr
		}
		stored, err := r.write(ctx, h, f)
		if err != nil {
			return err
		}
		if stored {
			return fnErr
		}
	}
	return ports.ErrConflict
}

// write stores f's decision in one statement on h and reports whether it
// did; false means another change to the family committed first.
func (r *FamilyRepository) write(ctx context.Context, h *hotConn, f *domain.Family) (bool, error) {
	var st *hotStmt
	var ctes string
	var args []driver.Value
	switch {
	case f.Ended():
		st, ctes, args = r.end, endCTEs, []driver.Value{f.RevokedAt(), f.ID().String(), f.Version()}
	case f.Rotated():
		p, _ := f.Presented()
		t, ok := f.Issued()
		if !ok {
			return false, errors.New("postgres: rotated family issued no token")
		}
		st, ctes, args = r.rotate, rotateCTEs, []driver.Value{f.LastUsedAt(), f.ID().String(), f.Version(), p.ID(), t.Hash().String(), t.ExpiresAt()}
	default:
		return false, errors.New("postgres: family has no change to store")
	}
	var n int64
	var err error
	if extra, all := attachedCTEs(f, anys(args)); extra != "" {
		// The events and mails join the statement as more CTEs, inserted
		// only if the family's version matched; such a statement is not
		// prepared.
		err = h.sc.QueryRowContext(ctx, ctes+extra+countFam, all...).Scan(&n)
	} else {
		v := make([]driver.Value, 1)
		var found bool
		if found, err = h.queryRow(ctx, st, stmtArgs(args...), v); err == nil && !found {
			err = errors.New("the statement answered no row")
		}
		c := columns{v: v}
		if n = c.int64(0); err == nil {
			err = c.err
		}
	}
	if err != nil {
		return false, dbErr("store family", err)
	}
	return n == 1, nil
}

// anys returns values as a []any.
func anys(values []driver.Value) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

// attachedCTEs returns the CTEs that store the audit events and queue the
// mails attached to f, each joined to the statement's fam CTE so that they
// are written only if fam is, as a suffix to the statement's WITH list
// ("" when there are none), and args followed by their arguments.
func attachedCTEs(f *domain.Family, args []any) (string, []any) {
	var b strings.Builder
	if evs := f.AuditEvents(); len(evs) > 0 {
		ins, evArgs := eventsInsert(evs, len(args)+1, "fam", "")
		b.WriteString(", ev AS (" + ins + ")")
		args = append(args, evArgs...)
	}
	if mails := f.Mails(); len(mails) > 0 {
		ins, mailArgs := mailsInsert(mails, int64(f.UserID()), len(args)+1, "fam")
		b.WriteString(", mail AS (" + ins + ")")
		args = append(args, mailArgs...)
	}
	return b.String(), args
}

// EndAllForUser ends every live family of the user at now, except the one
// with id except, revokes their tokens and stores events, in one
// transaction. It returns how many families it ended.
func (r *FamilyRepository) EndAllForUser(ctx context.Context, userID domain.UserID, now time.Time, except uuid.UUID, events ...domain.AuthEvent) (int, error) {
	var n int
	var inner error
	err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if n, inner = endFamilies(ctx, tx, int64(userID), now, except); inner == nil {
			inner = insertEvents(ctx, tx, events)
		}
		return inner
	})
	switch {
	case inner != nil:
		return 0, inner
	case err != nil: // BEGIN or COMMIT failed
		return 0, dbErr("end sessions", err)
	}
	return n, nil
}

// ListLive returns the user's families that are live at now, newest first.
func (r *FamilyRepository) ListLive(ctx context.Context, userID domain.UserID, now time.Time) ([]*domain.Family, error) {
	var rows []familyOwnerRow
	err := r.db.NewRaw(
		familySelect+" FROM token_families AS f JOIN users AS u ON u.id = f.user_id "+
			"WHERE f.user_id = ? AND "+liveFamily+" ORDER BY f.created_at DESC, f.id DESC",
		int64(userID), now,
	).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, dbErr("list sessions", err)
	}
	families := make([]*domain.Family, 0, len(rows))
	for i := range rows {
		f, err := toDomainFamily(&rows[i], false)
		if err != nil {
			return nil, err
		}
		families = append(families, f)
	}
	return families, nil
}

// endFamilies ends, at the time at, every family of the user that is live
// then, except the one with id except (uuid.Nil: none), and revokes their
// unrevoked tokens, inside tx. It returns how many families it ended. The
// families are locked first, in id order; the tokens are revoked by a
// second statement so that its snapshot includes tokens issued by
// rotations that committed while it waited for those locks.
func endFamilies(ctx context.Context, tx bun.Tx, userID int64, at time.Time, except uuid.UUID) (int, error) {
	var ids []uuid.UUID
	if err := tx.NewRaw(
		"UPDATE token_families SET revoked_at = ?, version = version + 1 WHERE id IN ("+
			"SELECT f.id FROM token_families AS f WHERE f.user_id = ? AND "+liveFamily+" AND f.id <> ? "+
			"ORDER BY f.id FOR NO KEY UPDATE) RETURNING id",
		at, userID, at, except,
	).Scan(ctx, &ids); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr("end sessions", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := tx.NewRaw(
		"UPDATE refresh_tokens SET revoked_at = ? WHERE token_family IN (?) AND revoked_at IS NULL",
		at, bun.List(ids),
	).Exec(ctx); err != nil {
		return 0, dbErr("revoke session tokens", err)
	}
	return len(ids), nil
}

// textArray is the text[] literal of values, which must need no quoting
// (authentication method references do not).
func textArray(values []string) string {
	return "{" + strings.Join(values, ",") + "}"
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
