package memory

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"authd/domain"
	"authd/ports"
)

// OneTimeTokenRepository implements ports.OneTimeTokenRepository on a
// Store. Tokens are stored by the store's UserRepository with the changes
// that issue them.
type OneTimeTokenRepository struct {
	s *Store
}

var _ ports.OneTimeTokenRepository = (*OneTimeTokenRepository)(nil)

// errTokenTaken is a digest that is stored already, which the unique
// constraint of one_time_tokens refuses in PostgreSQL; with 256 random
// bits it does not happen unless the randomness is broken.
var errTokenTaken = errors.New("memory: a one-time token with this digest exists")

// checkTokensLocked refuses tokens whose digests are stored already.
func (s *Store) checkTokensLocked(ts []domain.OneTimeToken) error {
	for _, t := range ts {
		if _, ok := s.oneTimeTokens[t.Hash()]; ok {
			return errTokenTaken
		}
	}
	return nil
}

// storeTokensLocked carries out what u's change decided about the one-time
// tokens of user id: it revokes the unused ones of the purposes it revokes,
// then stores those it issued.
func (s *Store) storeTokensLocked(id domain.UserID, u *domain.User) {
	if purposes, at := u.RevokesTokens(); len(purposes) > 0 {
		for _, r := range s.oneTimeTokens {
			if r.UserID == id && r.UsedAt.IsZero() && slices.Contains(purposes, r.Purpose) {
				r.UsedAt = micro(at)
			}
		}
	}
	for _, t := range u.IssuedTokens() {
		rec := t.Record()
		s.lastOneTimeTokenID++
		rec.ID, rec.UserID = s.lastOneTimeTokenID, id
		rec.CreatedAt, rec.ExpiresAt, rec.UsedAt = micro(rec.CreatedAt), micro(rec.ExpiresAt), micro(rec.UsedAt)
		s.oneTimeTokens[rec.Hash] = &rec
	}
}

// Find returns the token with digest hash if it has purpose p and is
// usable at now, or domain.ErrInvalidOneTimeToken.
func (r *OneTimeTokenRepository) Find(ctx context.Context, hash domain.TokenHash, p domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	if err := ctx.Err(); err != nil {
		return domain.OneTimeToken{}, err
	}
	if err := r.s.lock(); err != nil {
		return domain.OneTimeToken{}, err
	}
	defer r.s.mu.Unlock()
	rec, ok := r.s.oneTimeTokens[hash]
	if !ok || rec.Purpose != p {
		return domain.OneTimeToken{}, domain.ErrInvalidOneTimeToken
	}
	t := domain.RehydrateOneTimeToken(*rec)
	if !t.Usable(now) {
		return domain.OneTimeToken{}, domain.ErrInvalidOneTimeToken
	}
	return t, nil
}

// Redeem consumes the token with digest hash under its user's lock,
// applies fn and stores the user's change as Update does; when that fails
// the consumption is undone.
func (r *OneTimeTokenRepository) Redeem(ctx context.Context, hash domain.TokenHash, p domain.TokenPurpose, now time.Time,
	fn func(t domain.OneTimeToken, u *domain.User) error) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	rec, ok := r.s.oneTimeTokens[hash]
	var user domain.UserID
	if ok {
		user = rec.UserID
	}
	r.s.mu.Unlock()
	if !ok || rec.Purpose != p {
		return nil, domain.ErrInvalidOneTimeToken
	}
	// As in PostgreSQL, the user's row is locked before the token is
	// consumed, in the order every user change takes its locks.
	defer r.s.lockUser(user)()
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	t, err := domain.RehydrateOneTimeToken(*rec).Consume(micro(now))
	if err == nil {
		rec.UsedAt = t.UsedAt()
	}
	r.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	u, err := r.s.updateUser(user, func(u *domain.User) error { return fn(t, u) })
	if err != nil {
		// Nothing was stored, so the token was not used either.
		r.s.mu.Lock()
		rec.UsedAt = time.Time{}
		r.s.mu.Unlock()
		return nil, err
	}
	return u, nil
}

// Prune deletes up to limit tokens used or expired at or before before,
// oldest first.
func (r *OneTimeTokenRepository) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := r.s.lock(); err != nil {
		return 0, err
	}
	defer r.s.mu.Unlock()
	var done []*domain.OneTimeTokenRecord
	for _, rec := range r.s.oneTimeTokens {
		if !doneAt(rec).After(before) {
			done = append(done, rec)
		}
	}
	slices.SortFunc(done, func(a, b *domain.OneTimeTokenRecord) int {
		if c := doneAt(a).Compare(doneAt(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if limit < 0 {
		limit = 0
	}
	done = done[:min(len(done), limit)]
	for _, rec := range done {
		delete(r.s.oneTimeTokens, rec.Hash)
	}
	return len(done), nil
}

// doneAt is when a token stopped being usable: when it was used or
// revoked, or when it expired, whichever came first (PostgreSQL's
// least(used_at, expires_at)).
func doneAt(r *domain.OneTimeTokenRecord) time.Time {
	if !r.UsedAt.IsZero() && r.UsedAt.Before(r.ExpiresAt) {
		return r.UsedAt
	}
	return r.ExpiresAt
}

// OneTimeTokenState returns the stored state of the token with digest
// hash, and whether it exists, for tests.
func (s *Store) OneTimeTokenState(hash domain.TokenHash) (domain.OneTimeTokenRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.oneTimeTokens[hash]
	if !ok {
		return domain.OneTimeTokenRecord{}, false
	}
	return *rec, true
}
