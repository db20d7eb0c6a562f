package memory

import (
	"cmp"
	"context"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// UserRepository implements ports.UserRepository on a Store.
type UserRepository struct {
	s *Store
}

var _ ports.UserRepository = (*UserRepository)(nil)

// NewUserRepository returns the UserRepository of a new, empty Store.
func NewUserRepository() *UserRepository { return NewStore().Users() }

// Create stores u with the next id, and the events, mails and one-time
// tokens attached to it. It returns domain.ErrEmailTaken when another user
// has the same email.
func (r *UserRepository) Create(ctx context.Context, u *domain.User) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	if _, taken := r.s.userByEmail[u.Email().String()]; taken {
		return nil, domain.ErrEmailTaken
	}
	row := toUserRow(u)
	row.ID = r.s.lastUserID + 1
	if err := r.s.checkTokensLocked(u.IssuedTokens()); err != nil {
		return nil, err
	}
	r.s.users[row.ID] = row
	mails, err := r.s.mailRowsLocked(u.Mails(), row.ID)
	if err != nil {
		delete(r.s.users, row.ID)
		return nil, err
	}
	r.s.lastUserID = row.ID
	r.s.userByEmail[row.Email.String()] = row.ID
	r.s.queueMailsLocked(mails)
	r.s.storeTokensLocked(row.ID, u)
	for _, e := range u.AuditEvents() {
		if e.UserID == 0 {
			e.UserID = row.ID
		}
		r.s.appendEventsLocked(e)
	}
	return domain.RehydrateUser(row), nil
}

// ByID returns the user with id, or domain.ErrUserNotFound.
func (r *UserRepository) ByID(ctx context.Context, id domain.UserID) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	row, ok := r.s.users[id]
	if !ok {
		return nil, domain.ErrUserNotFound
	}
	return domain.RehydrateUser(row), nil
}

// ByEmail returns the user with email, or domain.ErrUserNotFound.
func (r *UserRepository) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	id, ok := r.s.userByEmail[email.String()]
	if !ok {
		return nil, domain.ErrUserNotFound
	}
	return domain.RehydrateUser(r.s.users[id]), nil
}

// ByLiveSession returns the user of the family with id sid if that family
// is live at now, or domain.ErrSessionNotFound.
func (r *UserRepository) ByLiveSession(ctx context.Context, sid uuid.UUID, now time.Time) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	f, ok := r.s.families[sid]
	if !ok || !domain.SessionIsLive(f.revokedAt, f.expiresAt, now) {
		return nil, domain.ErrSessionNotFound
	}
	return domain.RehydrateUser(r.s.users[f.userID]), nil
}

// Update applies fn to the user with id, serialised with the other updates
// of that user, and unless fn fails stores the user together with what the
// change decided: a change removing an active admin is allowed or refused
// by the user given the other active admins (counted in the same critical
// section as the write, so such changes are serialised), a change ending
// sessions ends them, and one revoking or issuing one-time tokens does so.
// It returns domain.ErrUserNotFound when no user has id,
// domain.ErrEmailTaken when the change gives the user another user's
// address, and fn's error unchanged.
func (r *UserRepository) Update(ctx context.Context, id domain.UserID, fn func(u *domain.User) error) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer r.s.lockUser(id)()
	return r.s.updateUser(id, fn)
}

// updateUser is Update for a caller that holds the lock of user id.
func (s *Store) updateUser(id domain.UserID, fn func(u *domain.User) error) (*domain.User, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	row, ok := s.users[id]
	s.mu.Unlock()
	if !ok {
		return nil, domain.ErrUserNotFound
	}

	u := domain.RehydrateUser(row)
	if err := fn(u); err != nil {
		return nil, err
	}
	// Yield where a database would wait for a round trip, so that the
	// contract's race tests see real interleaving.
	runtime.Gosched()

	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if u.RemovesActiveAdmin() {
		if err := u.AllowAdminRemoval(s.otherActiveAdminsLocked(id)); err != nil {
			return nil, err
		}
	}
	// Everything is checked before anything is written, so that a failure
	// stores nothing, as a rolled-back transaction would.
	end, ends := u.EndsSessions()
	if ends && s.breakSessionEnds {
		return nil, errSessionEndsBroken
	}
	next := toUserRow(u)
	// The id comes from the stored row: fn cannot re-target the write.
	next.ID, next.CreatedAt = row.ID, row.CreatedAt
	moved := next.Email != row.Email
	if other, taken := s.userByEmail[next.Email.String()]; moved && taken && other != id {
		return nil, domain.ErrEmailTaken
	}
	if err := s.checkTokensLocked(u.IssuedTokens()); err != nil {
		return nil, err
	}
	// Mails to the user go to the address the change leaves.
	s.users[id] = next
	mails, err := s.mailRowsLocked(u.Mails(), id)
	if err != nil {
		s.users[id] = row
		return nil, err
	}
	if moved {
		delete(s.userByEmail, row.Email.String())
		s.userByEmail[next.Email.String()] = id
	}
	s.queueMailsLocked(mails)
	if ends {
		if _, err := s.endUserFamiliesLocked(id, end.At, end.Except); err != nil {
			return nil, err
		}
	}
	s.storeTokensLocked(id, u)
	s.appendEventsLocked(u.AuditEvents()...)
	return u, nil
}

// otherActiveAdminsLocked counts the active admins other than id.
func (s *Store) otherActiveAdminsLocked(id domain.UserID) int {
	n := 0
	for _, u := range s.users {
		if u.ID != id && u.Active && u.Role == domain.RoleAdmin {
			n++
		}
	}
	return n
}

// List returns up to q.Limit users with id > q.After in id order whose email
// starts with q.EmailPrefix (compared literally). A non-positive Limit means
// no limit.
func (r *UserRepository) List(ctx context.Context, q ports.UserQuery) ([]*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	var rows []userRow
	for _, u := range r.s.users {
		if u.ID > q.After && strings.HasPrefix(u.Email.String(), q.EmailPrefix) {
			rows = append(rows, u)
		}
	}
	slices.SortFunc(rows, func(a, b userRow) int { return cmp.Compare(a.ID, b.ID) })
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	out := make([]*domain.User, len(rows))
	for i, row := range rows {
		out[i] = domain.RehydrateUser(row)
	}
	return out, nil
}

// toUserRow is the stored form of u, with times truncated as PostgreSQL
// stores them.
func toUserRow(u *domain.User) userRow {
	row := u.Record()
	row.CreatedAt = micro(row.CreatedAt)
	row.EmailVerifiedAt = micro(row.EmailVerifiedAt)
	return row
}
