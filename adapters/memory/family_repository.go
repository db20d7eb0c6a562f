package memory

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// FamilyRepository implements ports.FamilyRepository on a Store with the
// database adapter's concurrency scheme: read a snapshot, let the domain
// decide without holding a lock, then commit only if the family's version is
// unchanged, otherwise start again on the fresh state.
type FamilyRepository struct {
	s *Store
}

var _ ports.FamilyRepository = (*FamilyRepository)(nil)

// Create stores a new family and the first token it issued, provided its
// owner exists, is active and is still at the family owner's session epoch.
func (r *FamilyRepository) Create(ctx context.Context, f *domain.Family) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	first, ok := f.Issued()
	if !ok {
		return errors.New("memory: family has no issued token")
	}
	if err := r.s.lock(); err != nil {
		return err
	}
	defer r.s.mu.Unlock()
	switch {
	case r.s.families[f.ID()] != nil:
		return fmt.Errorf("memory: family %s already exists", f.ID())
	case r.s.tokens[first.Hash()] != nil:
		return errors.New("memory: refresh token digest already exists")
	}
	owner, ok := r.s.users[f.UserID()]
	switch {
	case !ok:
		return fmt.Errorf("memory: family owner: %w", domain.ErrUserNotFound)
	case !owner.Active || owner.SessionEpoch != f.Owner().SessionEpoch:
		return fmt.Errorf("memory: family owner: %w", ports.ErrOwnerChanged)
	}
	mails, err := r.s.mailRowsLocked(f.Mails(), f.UserID())
	if err != nil {
		return err
	}
	row := &familyRow{
		id:         f.ID(),
		userID:     f.UserID(),
		createdAt:  micro(f.CreatedAt()),
		lastUsedAt: micro(f.LastUsedAt()),
		expiresAt:  micro(f.ExpiresAt()),
		revokedAt:  micro(f.RevokedAt()),
		client:     f.Client(),
		version:    1,
		amr:        f.AuthMethods(),
	}
	r.s.families[row.id] = row
	r.s.familiesByUser[row.userID] = append(r.s.familiesByUser[row.userID], row.id)
	r.s.insertTokenLocked(row, first)
	r.s.appendEventsLocked(f.AuditEvents()...)
	r.s.queueMailsLocked(mails)
	return nil
}

// UpdateByToken loads the family through the token whose digest is hash,
// applies fn and stores what the family decided, even when fn fails. It
// returns domain.ErrInvalidRefreshToken when no token has that digest, and
// otherwise fn's error.
func (r *FamilyRepository) UpdateByToken(ctx context.Context, hash domain.TokenHash, fn func(f *domain.Family) error) error {
	return r.update(ctx, func() (*domain.Family, error) {
		tok, ok := r.s.tokens[hash]
		if !ok {
			return nil, domain.ErrInvalidRefreshToken
		}
		presented := domain.RehydrateRefreshToken(tok.id, tok.hash, tok.expiresAt, tok.revokedAt, tok.createdAt)
		return r.s.familyLocked(r.s.families[tok.familyID], &presented), nil
	}, fn)
}

// Update is UpdateByToken for the family with id. It returns
// domain.ErrSessionNotFound when no family has id.
func (r *FamilyRepository) Update(ctx context.Context, id uuid.UUID, fn func(f *domain.Family) error) error {
	return r.update(ctx, func() (*domain.Family, error) {
		row, ok := r.s.families[id]
		if !ok {
			return nil, domain.ErrSessionNotFound
		}
		return r.s.familyLocked(row, nil), nil
	}, fn)
}

func (r *FamilyRepository) update(ctx context.Context, load func() (*domain.Family, error), fn func(f *domain.Family) error) error {
	for range ports.MaxFamilyWriteAttempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.s.lock(); err != nil {
			return err
		}
		f, err := load()
		r.s.mu.Unlock()
		if err != nil {
			return err
		}

		fnErr := fn(f)
		if !f.Changed() {
			return fnErr
		}
		// Yield where a database would wait for a round trip, so that
		// concurrent updates really interleave and the retry path is
		// exercised by the contract's race tests.
		runtime.Gosched()

		if err := r.s.lock(); err != nil {
			return err
		}
		committed, err := r.s.commitLocked(f)
		r.s.mu.Unlock()
		if err != nil {
			return err
		}
		if committed {
			return fnErr
		}
	}
	return ports.ErrConflict
}

// commitLocked stores the decision of f if the family is still at the
// version f was loaded at; it reports false when another change came first.
func (s *Store) commitLocked(f *domain.Family) (bool, error) {
	row := s.families[f.ID()]
	if row == nil || row.version != f.Version() {
		return false, nil
	}
	mails, err := s.mailRowsLocked(f.Mails(), f.UserID())
	if err != nil {
		return false, err
	}
	switch {
	case f.Ended():
		if err := s.endFamilyLocked(row, micro(f.RevokedAt())); err != nil {
			return false, err
		}
	case f.Rotated():
		presented, _ := f.Presented()
		next, _ := f.Issued()
		if s.tokens[next.Hash()] != nil {
			return false, errors.New("memory: refresh token digest already exists")
		}
		s.tokens[presented.Hash()].revokedAt = micro(presented.RevokedAt())
		s.insertTokenLocked(row, next)
		row.lastUsedAt = micro(f.LastUsedAt())
		row.version++
	}
	s.appendEventsLocked(f.AuditEvents()...)
	s.queueMailsLocked(mails)
	return true, nil
}

func (s *Store) insertTokenLocked(row *familyRow, t domain.RefreshToken) {
	s.lastTokenID++
	s.tokens[t.Hash()] = &tokenRow{
		id:        s.lastTokenID,
		hash:      t.Hash(),
		familyID:  row.id,
		expiresAt: micro(t.ExpiresAt()),
		revokedAt: micro(t.RevokedAt()),
		createdAt: micro(t.CreatedAt()),
	}
	row.tokens = append(row.tokens, t.Hash())
}

// familyLocked rebuilds the family of row with its owner's current state.
func (s *Store) familyLocked(row *familyRow, presented *domain.RefreshToken) *domain.Family {
	owner := s.users[row.userID]
	return domain.RehydrateFamily(domain.FamilyRecord{
		ID:         row.id,
		Owner:      domain.Owner{ID: owner.ID, Role: owner.Role, Active: owner.Active, SessionEpoch: owner.SessionEpoch},
		CreatedAt:  row.createdAt,
		LastUsedAt: row.lastUsedAt,
		ExpiresAt:  row.expiresAt,
		RevokedAt:  row.revokedAt,
		Client:     row.client,
		Version:    row.version,
		AMR:        row.amr,
	}, presented)
}

// EndAllForUser ends every family of the user that is live at now, except
// the one with id except, stores events, and returns how many it ended.
func (r *FamilyRepository) EndAllForUser(ctx context.Context, userID domain.UserID, now time.Time, except uuid.UUID, events ...domain.AuthEvent) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := r.s.lock(); err != nil {
		return 0, err
	}
	defer r.s.mu.Unlock()
	n, err := r.s.endUserFamiliesLocked(userID, now, except)
	if err != nil {
		return 0, err
	}
	r.s.appendEventsLocked(events...)
	return n, nil
}

// ListLive returns the user's families live at now, newest first.
func (r *FamilyRepository) ListLive(ctx context.Context, userID domain.UserID, now time.Time) ([]*domain.Family, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	var rows []*familyRow
	for _, id := range r.s.familiesByUser[userID] {
		if row := r.s.families[id]; domain.SessionIsLive(row.revokedAt, row.expiresAt, now) {
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b *familyRow) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return slices.Compare(b.id[:], a.id[:])
	})
	out := make([]*domain.Family, len(rows))
	for i, row := range rows {
		out[i] = r.s.familyLocked(row, nil)
	}
	return out, nil
}
