package ports

import (
	"context"
	"time"

	"authd/domain"
)

// OneTimeTokenRepository consumes and prunes the one-time tokens (mailed
// links) that user changes issue: a change that issues one
// (domain.User.IssueToken, RequestEmailChange) stores it through
// UserRepository.Create or Update, in the transaction that queues its
// mail, so a link is never mailed for a token that was not stored.
type OneTimeTokenRepository interface {
	// Find returns the token whose digest is hash, provided it has purpose
	// p and is usable at now (domain.OneTimeToken.Usable), and
	// domain.ErrInvalidOneTimeToken otherwise. It changes nothing: callers
	// check a token before costly work (hashing a new password) and then
	// Redeem it.
	Find(ctx context.Context, hash domain.TokenHash, p domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error)
	// Redeem uses the token whose digest is hash, in one transaction: it
	// locks the row of the token's user, consumes the token with one
	// guarded write (purpose p, unused and unexpired at now: of concurrent
	// redemptions of one token, exactly one gets past it), applies fn to
	// the consumed token and the user, and unless fn fails stores the user
	// and carries out what the change decided, as UserRepository.Update
	// does (session endings, token revocations and issues, events, mails).
	// If fn or any step fails nothing is stored and the token stays
	// usable; fn's error is returned unchanged. It returns
	// domain.ErrInvalidOneTimeToken when no token of purpose p usable at
	// now has that digest, and domain.ErrEmailTaken when the change gives
	// the user an address another user has.
	Redeem(ctx context.Context, hash domain.TokenHash, p domain.TokenPurpose, now time.Time,
		fn func(t domain.OneTimeToken, u *domain.User) error) (*domain.User, error)
	// Prune deletes up to limit tokens that were used (or revoked) or
	// expired at or before before, and returns how many it deleted; fewer
	// than limit means none is left. Concurrent prunes skip each other's
	// rows.
	Prune(ctx context.Context, before time.Time, limit int) (int, error)
}
