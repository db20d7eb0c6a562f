// Package memory implements every repository port in process memory, with
// the same observable behaviour as the PostgreSQL adapter: unit tests of the
// application run against it, and ports/porttest checks both.
//
// Domain objects are copied in and out, never shared, and times are stored
// truncated to microseconds as PostgreSQL does.
package memory

import (
	"errors"
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
	// breakSessionEnds makes every change that ends a session fail.
	breakSessionEnds bool

	users       map[domain.UserID]userRow
	userByEmail map[string]domain.UserID
	lastUserID  domain.UserID
	// userLocks serialise UserRepository.Update per user, as the
	// database's row lock does.
	userLocks map[domain.UserID]*sync.Mutex

	families       map[uuid.UUID]*familyRow
	familiesByUser map[domain.UserID][]uuid.UUID
	tokens         map[domain.TokenHash]*tokenRow
	lastTokenID    int64

	events      []domain.AuthEvent
	lastEventID int64

	mails      []*mailRow
	lastMailID int64

	mfa                *mfaTables // second factors, pending logins, WebAuthn challenges
	oneTimeTokens      map[domain.TokenHash]*domain.OneTimeTokenRecord
	lastOneTimeTokenID int64
}

type userRow = domain.UserRecord

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
	amr        domain.AuthMethods
}

type tokenRow struct {
	id        int64
	hash      domain.TokenHash
	familyID  uuid.UUID
	expiresAt time.Time
	revokedAt time.Time
	createdAt time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		users:          map[domain.UserID]userRow{},
		userByEmail:    map[string]domain.UserID{},
		userLocks:      map[domain.UserID]*sync.Mutex{},
		families:       map[uuid.UUID]*familyRow{},
		familiesByUser: map[domain.UserID][]uuid.UUID{},
		tokens:         map[domain.TokenHash]*tokenRow{},
		mfa:            newMFATables(),
		oneTimeTokens:  map[domain.TokenHash]*domain.OneTimeTokenRecord{},
	}
}

// Users returns the store's UserRepository.
func (s *Store) Users() *UserRepository { return &UserRepository{s: s} }

// Families returns the store's FamilyRepository.
func (s *Store) Families() *FamilyRepository { return &FamilyRepository{s: s} }

// Audit returns the store's AuditLog.
func (s *Store) Audit() *AuditLog { return &AuditLog{s: s} }

// Outbox returns the store's MailOutbox.
func (s *Store) Outbox() *MailOutbox { return &MailOutbox{s: s} }

// OneTimeTokens returns the store's OneTimeTokenRepository.
func (s *Store) OneTimeTokens() *OneTimeTokenRepository { return &OneTimeTokenRepository{s: s} }

// SetUnavailable makes every repository call fail with an error wrapping
// ports.ErrUnavailable while down is true, to test how callers handle a
// database outage.
func (s *Store) SetUnavailable(down bool) {
	s.mu.Lock()
	s.unavailable = down
	s.mu.Unlock()
}

// lockUser takes the lock of user id's row and returns its unlock.
func (s *Store) lockUser(id domain.UserID) (unlock func()) {
	s.mu.Lock()
	l := s.userLocks[id]
	if l == nil {
		l = &sync.Mutex{}
		s.userLocks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// ForceUserActive switches a user on or off the way a direct edit of the
// database would: without the change ending any session. It is for tests of
// states that authd itself never produces.
func (s *Store) ForceUserActive(id domain.UserID, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		u.Active = active
		s.users[id] = u
	}
}

// BreakSessionEnds makes every later change that ends a session fail, as a
// failing write would in a database, to test that a change and the session
// endings it decided are stored together or not at all.
func (s *Store) BreakSessionEnds() {
	s.mu.Lock()
	s.breakSessionEnds = true
	s.mu.Unlock()
}

// errSessionEndsBroken is the failure BreakSessionEnds injects.
var errSessionEndsBroken = errors.New("memory: ending sessions failed (injected)")

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
func (s *Store) endFamilyLocked(r *familyRow, t time.Time) error {
	if s.breakSessionEnds {
		return errSessionEndsBroken
	}
	r.revokedAt = t
	for _, h := range r.tokens {
		if tok := s.tokens[h]; tok.revokedAt.IsZero() {
			tok.revokedAt = t
		}
	}
	r.version++
	return nil
}

// endUserFamiliesLocked ends, at t, every family of the user that is live
// then, except the one with id except, and returns how many it ended.
func (s *Store) endUserFamiliesLocked(userID domain.UserID, t time.Time, except uuid.UUID) (int, error) {
	if s.breakSessionEnds {
		return 0, errSessionEndsBroken
	}
	t = micro(t)
	n := 0
	for _, id := range s.familiesByUser[userID] {
		row := s.families[id]
		if id != except && domain.SessionIsLive(row.revokedAt, row.expiresAt, t) {
			if err := s.endFamilyLocked(row, t); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// micro truncates t as a PostgreSQL timestamptz column would.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
