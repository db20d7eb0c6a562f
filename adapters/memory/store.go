// Package memory implements every repository port in process memory, with
// the same observable behaviour as the PostgreSQL adapter: unit tests of the
// application run against it, and ports/porttest checks both.
//
// Domain objects are copied in and out, never shared, and times are stored
// truncated to microseconds as PostgreSQL does.
package memory

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// Store holds the state shared by the repositories of one fake database, so
// that, as in PostgreSQL, deactivating a user ends its families and a family
// sees its owner's current role. The zero value is not usable; call NewStore.
type Store struct {
	mu          sync.Mutex
	unavailable bool

	users       map[domain.UserID]userRow
	userByEmail map[string]domain.UserID
	lastUserID  domain.UserID
	// userUpdates serialises UserRepository.Update, as the database does by
	// locking the rows the active-admin count reads.
	userUpdates sync.Mutex

	families       map[uuid.UUID]*familyRow
	familiesByUser map[domain.UserID][]uuid.UUID
	tokens         map[domain.TokenHash]*tokenRow
	lastTokenID    int64

	events      []domain.AuthEvent
	lastEventID int64
}

type userRow struct {
	id        domain.UserID
	email     domain.Email
	hash      string
	role      domain.Role
	active    bool
	createdAt time.Time
}

type familyRow struct {
	id         uuid.UUID
	userID     domain.UserID
	createdAt  time.Time
	lastUsedAt time.Time
	expiresAt  time.Time
	revokedAt  time.Time
	client     domain.ClientInfo
	version    int64
	tokens     []domain.TokenHash
}

type tokenRow struct {
	id        int64
	hash      domain.TokenHash
	familyID  uuid.UUID
	expiresAt time.Time
	revokedAt time.Time
	createdAt time.Time
}

// Option configures a Store.
type Option func(*Store)

// NewStore returns an empty store.
func NewStore(opts ...Option) *Store {
	s := &Store{
		users:          map[domain.UserID]userRow{},
		userByEmail:    map[string]domain.UserID{},
		families:       map[uuid.UUID]*familyRow{},
		familiesByUser: map[domain.UserID][]uuid.UUID{},
		tokens:         map[domain.TokenHash]*tokenRow{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Users returns the store's UserRepository.
func (s *Store) Users() *UserRepository { return &UserRepository{s: s} }

// Families returns the store's FamilyRepository.
func (s *Store) Families() *FamilyRepository { return &FamilyRepository{s: s} }

// Audit returns the store's AuditLog.
func (s *Store) Audit() *AuditLog { return &AuditLog{s: s} }

// SetUnavailable makes every repository call fail with an error wrapping
// ports.ErrUnavailable while down is true, to test how callers handle a
// database outage.
func (s *Store) SetUnavailable(down bool) {
	s.mu.Lock()
	s.unavailable = down
	s.mu.Unlock()
}

// lock takes the store's mutex unless the store is marked unavailable.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.unavailable {
		s.mu.Unlock()
		return fmt.Errorf("memory: %w", ports.ErrUnavailable)
	}
	return nil
}

// endFamilyLocked revokes family r and every token of it at t.
func (s *Store) endFamilyLocked(r *familyRow, t time.Time) {
	r.revokedAt = t
	for _, h := range r.tokens {
		if tok := s.tokens[h]; tok.revokedAt.IsZero() {
			tok.revokedAt = t
		}
	}
	r.version++
}

// micro truncates t as a PostgreSQL timestamptz column would.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
