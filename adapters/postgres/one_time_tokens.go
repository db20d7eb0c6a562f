package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.OneTimeTokenRepository = (*OneTimeTokenRepository)(nil)

// OneTimeTokenRepository consumes and prunes the rows of one_time_tokens,
// which hold the SHA-256 digests of mailed links, never the links. The
// UserRepository stores and revokes them with the user changes that
// decide so (see insertTokens).
type OneTimeTokenRepository struct {
	db *bun.DB
}

// NewOneTimeTokenRepository returns a OneTimeTokenRepository on db.
func NewOneTimeTokenRepository(db *bun.DB) *OneTimeTokenRepository {
	return &OneTimeTokenRepository{db: db}
}

// oneTimeTokensHashKey is the unique constraint on one_time_tokens.token_hash.
const oneTimeTokensHashKey = "one_time_tokens_token_hash_key"

// doneAtSQL is when a token stopped being usable: used, revoked or
// expired, whichever came first (least ignores a NULL used_at). Pruning
// selects by it, through the index of the same expression.
const doneAtSQL = "least(used_at, expires_at)"

// tokenPurposeLabels are the labels of one_time_token_purpose, in order.
func tokenPurposeLabels() []string {
	ps := domain.TokenPurposes()
	labels := make([]string, len(ps))
	for i, p := range ps {
		labels[i] = string(p)
	}
	return labels
}

// usableAtSQL is the SQL twin of domain.OneTimeTokenUsable for the token
// aliased t, usable at the time bound to $3: unused and not expired.
const usableAtSQL = "t.used_at IS NULL AND t.expires_at > $3::timestamptz"

// findTokenSQL loads a usable token of purpose $2 by its digest $1.
const findTokenSQL = `SELECT t.id, t.user_id, t.email, t.session_id, t.created_at, t.expires_at
	FROM one_time_tokens AS t
	WHERE t.token_hash = $1::varchar AND t.purpose = $2::one_time_token_purpose AND ` + usableAtSQL

// redeemOwnerSQL names the user of the token with digest $1 and purpose $2,
// so that Redeem can lock that user's row before it consumes the token.
const redeemOwnerSQL = `SELECT t.user_id FROM one_time_tokens AS t
	WHERE t.token_hash = $1::varchar AND t.purpose = $2::one_time_token_purpose`

// ConsumeTokenSQL is the guarded write that uses a one-time token: it sets
// used_at only while the token of digest $1, purpose $2 and user $4 is
// usable at $3, so of two transactions racing with one token the second
// waits for the first's row lock, then finds used_at set and matches
// nothing.
const ConsumeTokenSQL = `UPDATE one_time_tokens AS t SET used_at = $3::timestamptz
	WHERE t.token_hash = $1::varchar AND t.purpose = $2::one_time_token_purpose AND t.user_id = $4::bigint
	  AND ` + usableAtSQL + `
	RETURNING t.id, t.email, t.session_id, t.created_at, t.expires_at`

// Find returns the token with digest hash if it has purpose p and is
// usable at now, or domain.ErrInvalidOneTimeToken.
func (r *OneTimeTokenRepository) Find(ctx context.Context, hash domain.TokenHash, p domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	var rec domain.OneTimeTokenRecord
	var email string
	var session uuid.NullUUID
	err := r.db.DB.QueryRowContext(ctx, findTokenSQL, hash.String(), string(p), now).
		Scan(&rec.ID, &rec.UserID, &email, &session, &rec.CreatedAt, &rec.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.OneTimeToken{}, domain.ErrInvalidOneTimeToken
	}
	if err != nil {
		return domain.OneTimeToken{}, dbErr("find one-time token", err)
	}
	rec.Hash, rec.Purpose, rec.Email, rec.SessionID = hash, p, domain.RehydrateEmail(email), session.UUID
	return domain.RehydrateOneTimeToken(rec), nil
}

// Redeem locks the row of the token's user, consumes the token with
// ConsumeTokenSQL, applies fn and stores the user's change as
// UserRepository.Update does, in one transaction. The user's row is locked first, as every
// user change does before it revokes tokens, so that a redemption and a
// change revoking the same token cannot deadlock.
func (r *OneTimeTokenRepository) Redeem(ctx context.Context, hash domain.TokenHash, p domain.TokenPurpose, now time.Time,
	fn func(t domain.OneTimeToken, u *domain.User) error) (*domain.User, error) {
	var owner int64
	err := r.db.DB.QueryRowContext(ctx, redeemOwnerSQL, hash.String(), string(p)).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrInvalidOneTimeToken
	}
	if err != nil {
		return nil, dbErr("find one-time token", err)
	}
	var updated *domain.User
	var inner error // the closure's own error, already described
	err = r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		updated, inner = updateUser(ctx, tx, domain.UserID(owner), func(u *domain.User) error {
			t, err := consumeToken(ctx, tx, hash, p, owner, now)
			if err != nil {
				return err
			}
			return fn(t, u)
		})
		return inner
	})
	switch {
	case errors.Is(inner, domain.ErrUserNotFound):
		// The user went away with its tokens between the two statements.
		return nil, domain.ErrInvalidOneTimeToken
	case inner != nil:
		return nil, inner
	case err != nil: // BEGIN or COMMIT failed
		return nil, dbErr("redeem one-time token", err)
	}
	return updated, nil
}

// consumeToken runs ConsumeTokenSQL in tx and returns the consumed token,
// or domain.ErrInvalidOneTimeToken when it matched nothing.
func consumeToken(ctx context.Context, tx bun.Tx, hash domain.TokenHash, p domain.TokenPurpose, owner int64, now time.Time) (domain.OneTimeToken, error) {
	rec := domain.OneTimeTokenRecord{Hash: hash, Purpose: p, UserID: domain.UserID(owner), UsedAt: now}
	var email string
	var session uuid.NullUUID
	err := tx.Tx.QueryRowContext(ctx, ConsumeTokenSQL, hash.String(), string(p), now, owner).
		Scan(&rec.ID, &email, &session, &rec.CreatedAt, &rec.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.OneTimeToken{}, domain.ErrInvalidOneTimeToken
	}
	if err != nil {
		return domain.OneTimeToken{}, dbErr("consume one-time token", err)
	}
	rec.Email, rec.SessionID = domain.RehydrateEmail(email), session.UUID
	return domain.RehydrateOneTimeToken(rec), nil
}

// oneTimeTokensPruneTask deletes the tokens used, revoked or expired by
// the cutoff, oldest first; Prune and the Janitor run it.
func oneTimeTokensPruneTask() pruneTask {
	return pruneTask{"one_time_tokens", `DELETE FROM one_time_tokens WHERE id IN (
		SELECT id FROM one_time_tokens WHERE ` + doneAtSQL + ` <= ?
		ORDER BY ` + doneAtSQL + ` LIMIT ? FOR UPDATE SKIP LOCKED)`, before(0)}
}

// Prune deletes one batch of up to limit tokens used, revoked or expired at
// or before before.
func (r *OneTimeTokenRepository) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := r.db.NewRaw(oneTimeTokensPruneTask().sql, before, limit).Exec(ctx)
	if err != nil {
		return 0, dbErr("prune one-time tokens", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("prune one-time tokens", err)
	}
	return int(n), nil
}

// storeTokens carries out, inside tx, what the change to user u decided
// about user's one-time tokens: it revokes the unused ones of the purposes
// it revokes, then inserts those it issued, for user.
func storeTokens(ctx context.Context, tx bun.Tx, u *domain.User, user int64) error {
	if purposes, at := u.RevokesTokens(); len(purposes) > 0 {
		labels := make([]string, len(purposes))
		for i, p := range purposes {
			labels[i] = string(p)
		}
		if _, err := tx.NewRaw(
			"UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND purpose::text IN (?) AND used_at IS NULL",
			at, user, bun.List(labels),
		).Exec(ctx); err != nil {
			return dbErr("revoke one-time tokens", err)
		}
	}
	issued := u.IssuedTokens()
	if len(issued) == 0 {
		return nil
	}
	var b strings.Builder
	args := make([]any, 0, 7*len(issued))
	b.WriteString("INSERT INTO one_time_tokens (token_hash, purpose, user_id, email, session_id, created_at, expires_at) VALUES ")
	for i, t := range issued {
		if i > 0 {
			b.WriteString(", ")
		}
		n := 7*i + 1
		fmt.Fprintf(&b, "($%d::varchar, $%d::one_time_token_purpose, $%d::bigint, $%d::varchar, $%d::uuid, $%d::timestamptz, $%d::timestamptz)",
			n, n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, t.Hash().String(), string(t.Purpose()), user, t.Email().String(), nullUUID(t.SessionID()),
			t.CreatedAt(), t.ExpiresAt())
	}
	if _, err := tx.Tx.ExecContext(ctx, b.String(), args...); err != nil {
		if isUniqueViolation(err, oneTimeTokensHashKey) {
			return fmt.Errorf("postgres: store one-time token: a token with this digest exists: %w", err)
		}
		return dbErr("store one-time tokens", err)
	}
	return nil
}
