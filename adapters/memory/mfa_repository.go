package memory

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"authd/domain"
	"authd/ports"
)

// mfaTables are the MFA state of a Store, guarded by the store's mutex.
type mfaTables struct {
	factors     map[domain.UserID]domain.MFARecord
	handles     map[string]domain.UserID
	credentials map[string]domain.UserID // credential id: globally unique
	logins      map[domain.TokenHash]domain.PendingLoginRecord
	challenges  map[string]domain.WebAuthnChallengeRecord
}

func newMFATables() *mfaTables {
	return &mfaTables{
		factors:     map[domain.UserID]domain.MFARecord{},
		handles:     map[string]domain.UserID{},
		credentials: map[string]domain.UserID{},
		logins:      map[domain.TokenHash]domain.PendingLoginRecord{},
		challenges:  map[string]domain.WebAuthnChallengeRecord{},
	}
}

// MFA returns the store's MFARepository.
func (s *Store) MFA() *MFARepository { return &MFARepository{s: s} }

// Challenges returns the store's WebAuthnChallenges.
func (s *Store) Challenges() *WebAuthnChallenges { return &WebAuthnChallenges{s: s} }

// MFARepository implements ports.MFARepository on a Store. Changes to one
// user's factors are serialised by the user's row lock, as in PostgreSQL.
type MFARepository struct {
	s *Store
}

var _ ports.MFARepository = (*MFARepository)(nil)

// loadLocked rebuilds the MFA of user id with its owner's current state.
func (s *Store) loadMFALocked(id domain.UserID) (*domain.MFA, bool) {
	u, ok := s.users[id]
	if !ok {
		return nil, false
	}
	rec := s.mfa.factors[id]
	rec.User = id
	rec.Owner = domain.Owner{ID: id, Role: u.Role, Active: u.Active, SessionEpoch: u.SessionEpoch}
	return domain.RehydrateMFA(rec), true
}

// ByUser returns the MFA of user id, or domain.ErrUserNotFound.
func (r *MFARepository) ByUser(ctx context.Context, id domain.UserID) (*domain.MFA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	m, ok := r.s.loadMFALocked(id)
	if !ok {
		return nil, domain.ErrUserNotFound
	}
	return m, nil
}

// Summary counts the second factors of user id.
func (r *MFARepository) Summary(ctx context.Context, id domain.UserID) (domain.MFASummary, error) {
	m, err := r.ByUser(ctx, id)
	if err != nil {
		if errors.Is(err, domain.ErrUserNotFound) {
			return domain.MFASummary{}, nil
		}
		return domain.MFASummary{}, err
	}
	return m.Summary(), nil
}

// Update applies fn to the MFA of user id and stores what it decided, even
// when fn fails.
func (r *MFARepository) Update(ctx context.Context, id domain.UserID, fn func(m *domain.MFA) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer r.s.lockUser(id)()
	return r.update(id, domain.ErrUserNotFound, fn)
}

// UpdateByUserHandle is Update for the user with WebAuthn user handle
// handle, or domain.ErrPasskeyNotFound.
func (r *MFARepository) UpdateByUserHandle(ctx context.Context, handle []byte, fn func(m *domain.MFA) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.s.lock(); err != nil {
		return err
	}
	id, ok := r.s.mfa.handles[string(handle)]
	r.s.mu.Unlock()
	if !ok || len(handle) == 0 {
		return domain.ErrPasskeyNotFound
	}
	defer r.s.lockUser(id)()
	return r.update(id, domain.ErrPasskeyNotFound, fn)
}

func (r *MFARepository) update(id domain.UserID, notFound error, fn func(m *domain.MFA) error) error {
	if err := r.s.lock(); err != nil {
		return err
	}
	m, ok := r.s.loadMFALocked(id)
	r.s.mu.Unlock()
	if !ok {
		return notFound
	}
	fnErr := fn(m)
	runtime.Gosched()
	if err := r.s.lock(); err != nil {
		return err
	}
	defer r.s.mu.Unlock()
	if err := r.s.storeMFALocked(m); err != nil {
		return err
	}
	return fnErr
}

// storeMFALocked stores the decisions of m, all or nothing.
func (s *Store) storeMFALocked(m *domain.MFA) error {
	if !m.Changed() {
		return nil
	}
	id := m.UserID()
	rec := m.Record()
	for _, p := range m.PasskeysAdded() {
		if owner, taken := s.mfa.credentials[string(p.Credential().ID)]; taken && owner != id {
			return domain.ErrPasskeyExists
		}
	}
	if h := rec.UserHandle; h != nil {
		if owner, taken := s.mfa.handles[string(h)]; taken && owner != id {
			return fmt.Errorf("memory: webauthn user handle taken")
		}
	}
	mails, err := s.mailRowsLocked(m.Mails(), id)
	if err != nil {
		return err
	}
	end, ends := m.EndsSessions()
	if ends && s.breakSessionEnds {
		return errSessionEndsBroken
	}
	old := s.mfa.factors[id]
	for _, p := range old.Passkeys {
		delete(s.mfa.credentials, string(p.Credential.ID))
	}
	for i := range rec.RecoveryCodes {
		rec.RecoveryCodes[i].CreatedAt = micro(rec.RecoveryCodes[i].CreatedAt)
		rec.RecoveryCodes[i].UsedAt = micro(rec.RecoveryCodes[i].UsedAt)
	}
	for i := range rec.Passkeys {
		p := &rec.Passkeys[i]
		p.CreatedAt, p.LastUsedAt = micro(p.CreatedAt), micro(p.LastUsedAt)
		s.mfa.credentials[string(p.Credential.ID)] = id
	}
	if t := rec.TOTP; t != nil {
		t.CreatedAt, t.ConfirmedAt = micro(t.CreatedAt), micro(t.ConfirmedAt)
	}
	rec.Owner = domain.Owner{}
	s.mfa.factors[id] = rec
	if rec.UserHandle != nil {
		s.mfa.handles[string(rec.UserHandle)] = id
	}
	if ends {
		// As for a user change: no login that read the user before this
		// change opens a session after it.
		u := s.users[id]
		u.SessionEpoch++
		s.users[id] = u
		if _, err := s.endUserFamiliesLocked(id, end.At, end.Except); err != nil {
			return err
		}
	}
	s.appendEventsLocked(m.AuditEvents()...)
	s.queueMailsLocked(mails)
	return nil
}

// CreateLogin stores a pending login, or returns domain.ErrUserNotFound.
func (r *MFARepository) CreateLogin(ctx context.Context, l *domain.PendingLogin) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.s.lock(); err != nil {
		return err
	}
	defer r.s.mu.Unlock()
	rec := l.Record()
	if _, ok := r.s.users[rec.User]; !ok {
		return fmt.Errorf("memory: pending login: %w", domain.ErrUserNotFound)
	}
	if _, dup := r.s.mfa.logins[rec.Hash]; dup {
		return fmt.Errorf("memory: pending login digest already exists")
	}
	r.s.mfa.logins[rec.Hash] = microLogin(rec)
	return nil
}

func microLogin(rec domain.PendingLoginRecord) domain.PendingLoginRecord {
	rec.CreatedAt, rec.ExpiresAt, rec.UsedAt = micro(rec.CreatedAt), micro(rec.ExpiresAt), micro(rec.UsedAt)
	return rec
}

// Login returns the pending login with digest hash, or
// domain.ErrInvalidMFAToken.
func (r *MFARepository) Login(ctx context.Context, hash domain.TokenHash) (*domain.PendingLogin, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.s.lock(); err != nil {
		return nil, err
	}
	defer r.s.mu.Unlock()
	rec, ok := r.s.mfa.logins[hash]
	if !ok {
		return nil, domain.ErrInvalidMFAToken
	}
	return domain.RehydratePendingLogin(rec), nil
}

// UpdateLogin applies fn to the pending login with digest hash and its
// user's MFA, serialised with the user's other changes, and stores what
// both decided, even when fn fails.
func (r *MFARepository) UpdateLogin(ctx context.Context, hash domain.TokenHash, fn func(l *domain.PendingLogin, m *domain.MFA) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := r.Login(ctx, hash)
	if err != nil {
		return err
	}
	defer r.s.lockUser(l.UserID())()
	// Read again under the lock: a change that committed meanwhile counts.
	if l, err = r.Login(ctx, hash); err != nil {
		return err
	}
	if err := r.s.lock(); err != nil {
		return err
	}
	m, ok := r.s.loadMFALocked(l.UserID())
	r.s.mu.Unlock()
	if !ok {
		return domain.ErrInvalidMFAToken
	}
	fnErr := fn(l, m)
	runtime.Gosched()
	if err := r.s.lock(); err != nil {
		return err
	}
	defer r.s.mu.Unlock()
	mails, err := r.s.mailRowsLocked(l.Mails(), l.UserID())
	if err != nil {
		return err
	}
	if err := r.s.storeMFALocked(m); err != nil {
		return err
	}
	if l.Changed() {
		r.s.mfa.logins[hash] = microLogin(l.Record())
	}
	r.s.appendEventsLocked(l.AuditEvents()...)
	r.s.queueMailsLocked(mails)
	return fnErr
}

// PruneLogins deletes the pending logins that expired before now.
func (r *MFARepository) PruneLogins(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := r.s.lock(); err != nil {
		return 0, err
	}
	defer r.s.mu.Unlock()
	n := 0
	for h, l := range r.s.mfa.logins {
		if l.ExpiresAt.Before(now) {
			delete(r.s.mfa.logins, h)
			n++
		}
	}
	return n, nil
}

// WebAuthnChallenges implements ports.WebAuthnChallenges on a Store.
type WebAuthnChallenges struct {
	s *Store
}

var _ ports.WebAuthnChallenges = (*WebAuthnChallenges)(nil)

// Save stores c.
func (w *WebAuthnChallenges) Save(ctx context.Context, c domain.WebAuthnChallenge) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.s.lock(); err != nil {
		return err
	}
	defer w.s.mu.Unlock()
	rec := c.Record()
	if _, dup := w.s.mfa.challenges[rec.Challenge]; dup {
		return fmt.Errorf("memory: webauthn challenge already exists")
	}
	if _, ok := w.s.users[rec.User]; rec.User != 0 && !ok {
		return fmt.Errorf("memory: webauthn challenge: %w", domain.ErrUserNotFound)
	}
	rec.ExpiresAt = micro(rec.ExpiresAt)
	w.s.mfa.challenges[rec.Challenge] = rec
	return nil
}

// Take removes and returns the challenge, or
// domain.ErrWebAuthnChallengeInvalid.
func (w *WebAuthnChallenges) Take(ctx context.Context, challenge string) (domain.WebAuthnChallenge, error) {
	if err := ctx.Err(); err != nil {
		return domain.WebAuthnChallenge{}, err
	}
	if err := w.s.lock(); err != nil {
		return domain.WebAuthnChallenge{}, err
	}
	defer w.s.mu.Unlock()
	rec, ok := w.s.mfa.challenges[challenge]
	if !ok {
		return domain.WebAuthnChallenge{}, domain.ErrWebAuthnChallengeInvalid
	}
	delete(w.s.mfa.challenges, challenge)
	return domain.RehydrateWebAuthnChallenge(rec), nil
}

// Prune deletes the challenges that expired before now.
func (w *WebAuthnChallenges) Prune(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := w.s.lock(); err != nil {
		return 0, err
	}
	defer w.s.mu.Unlock()
	n := 0
	for c, rec := range w.s.mfa.challenges {
		if rec.ExpiresAt.Before(now) {
			delete(w.s.mfa.challenges, c)
			n++
		}
	}
	return n, nil
}
