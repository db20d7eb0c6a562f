package memory

import (
	"cmp"
	"context"
	"runtime"
	"slices"
	"strings"
	"time"

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

// Create stores u with the next id. It returns domain.ErrEmailTaken when
// another user has the same email.
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
	r.s.lastUserID++
	row := toUserRow(u)
	row.id = r.s.lastUserID
	r.s.users[row.id] = row
	r.s.userByEmail[row.email.String()] = row.id
	return row.toDomain(), nil
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
	return row.toDomain(), nil
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
	return r.s.users[id].toDomain(), nil
}

// Update applies fn to the user with id and the number of active admins,
// serialised with every other Update, and stores the result unless fn fails.
// A deactivation ends the user's live families at now. It
// returns domain.ErrUserNotFound when no user has id, and fn's error
// unchanged.
func (r *UserRepository) Update(ctx context.Context, id domain.UserID, now time.Time, fn func(u *domain.User, activeAdmins int) error) (*domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.s.userUpdates.Lock()
	defer r.s.userUpdates.Unlock()

	if err := r.s.lock(); err != nil {
		return nil, err
	}
	row, ok := r.s.users[id]
	admins := 0
	for _, u := range r.s.users {
		if u.active && u.role == domain.RoleAdmin {
			admins++
		}
	}
	r.s.mu.Unlock()
	if !ok {
		return nil, domain.ErrUserNotFound
	}

	u := row.toDomain()
	if err := fn(u, admins); err != nil {
		return nil, err
	}
	// Yield where a database would wait for a round trip, so that the
	// contract's race tests see real interleaving.
	runtime.Gosched()

	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	next := toUserRow(u)
	next.id, next.createdAt = row.id, row.createdAt
	if next.email != row.email {
		if _, taken := r.s.userByEmail[next.email.String()]; taken {
			return nil, domain.ErrEmailTaken
		}
		delete(r.s.userByEmail, row.email.String())
		r.s.userByEmail[next.email.String()] = next.id
	}
	r.s.users[id] = next
	if row.active && !next.active {
		now := micro(now)
		for _, fid := range r.s.familiesByUser[id] {
			if f := r.s.families[fid]; f.revokedAt.IsZero() {
				r.s.endFamilyLocked(f, now)
			}
		}
	}
	return next.toDomain(), nil
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
		if u.id > q.After && strings.HasPrefix(u.email.String(), q.EmailPrefix) {
			rows = append(rows, u)
		}
	}
	slices.SortFunc(rows, func(a, b userRow) int { return cmp.Compare(a.id, b.id) })
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	out := make([]*domain.User, len(rows))
	for i, row := range rows {
		out[i] = row.toDomain()
	}
	return out, nil
}

func toUserRow(u *domain.User) userRow {
	return userRow{
		id:        u.ID(),
		email:     u.Email(),
		hash:      u.PasswordHash(),
		role:      u.Role(),
		active:    u.IsActive(),
		createdAt: micro(u.CreatedAt()),
	}
}

func (row userRow) toDomain() *domain.User {
	return domain.RehydrateUser(row.id, row.email, row.hash, row.role, row.active, row.createdAt)
}
