package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// SessionPolicy holds the lifetimes of a login session.
type SessionPolicy struct {
	// TokenTTL is the sliding lifetime of each refresh token.
	TokenTTL time.Duration
	// MaxLifetime is the absolute end of a session, counted from login;
	// rotation never extends it.
	MaxLifetime time.Duration
}

// DefaultSessionPolicy is 14 days sliding, capped at 90 days.
var DefaultSessionPolicy = SessionPolicy{TokenTTL: 14 * 24 * time.Hour, MaxLifetime: 90 * 24 * time.Hour}

// Owner is the state of a family's user at the time the family was loaded
// (or, for a new family, at the time the login read the user).
type Owner struct {
	ID     UserID
	Role   Role
	Active bool
	// SessionEpoch is the user's session epoch (see User.SessionEpoch). A
	// new family is stored only while the user's epoch is still this one.
	SessionEpoch int64
}

// Family is the refresh-token family aggregate: one login session. It decides
// rotation, reuse detection and the end of the session; repositories persist
// what it decided (see Issued, Rotated and Ended).
type Family struct {
	id         uuid.UUID
	owner      Owner
	createdAt  time.Time
	lastUsedAt time.Time
	expiresAt  time.Time
	revokedAt  time.Time
	client     ClientInfo
	version    int64
	amr        AuthMethods

	presented *RefreshToken // the token the family was loaded through, if any
	issued    *RefreshToken // the token issued by this change
	rotated   bool          // presented was revoked by this change
	ended     bool          // the family was revoked by this change
	events                  // the audit events of this change
	outbox                  // the mails this change sends
}

// FamilyRecord is the stored state of a family, for RehydrateFamily.
type FamilyRecord struct {
	ID         uuid.UUID
	Owner      Owner
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero while the session is live
	Client     ClientInfo
	// Version increases with every stored change; adapters use it to make
	// their conditional writes race-free.
	Version int64
	// AMR is how the session was authenticated at login.
	AMR AuthMethods
}

// NewFamily opens a session for owner authenticated by its password alone,
// issuing its first refresh token whose digest is first. The session ends
// at now+p.MaxLifetime at the latest.
func NewFamily(id uuid.UUID, owner Owner, first TokenHash, client ClientInfo, now time.Time, p SessionPolicy) *Family {
	return NewFamilyAuthenticated(id, owner, first, client, PasswordOnly(), now, p)
}

// NewFamilyAuthenticated is NewFamily for a session authenticated by amr
// (a second factor, a passkey), which the session keeps across rotations.
func NewFamilyAuthenticated(id uuid.UUID, owner Owner, first TokenHash, client ClientInfo, amr AuthMethods, now time.Time, p SessionPolicy) *Family {
	f := &Family{
		id:         id,
		owner:      owner,
		createdAt:  now,
		lastUsedAt: now,
		expiresAt:  now.Add(p.MaxLifetime),
		client:     client,
		amr:        slices.Clone(amr),
	}
	f.issue(first, now, p)
	return f
}

// RehydrateFamily rebuilds a stored family. presented is the token it was
// looked up by, or nil when it was loaded by id.
func RehydrateFamily(r FamilyRecord, presented *RefreshToken) *Family {
	f := &Family{
		id:         r.ID,
		owner:      r.Owner,
		createdAt:  r.CreatedAt,
		lastUsedAt: r.LastUsedAt,
		expiresAt:  r.ExpiresAt,
		revokedAt:  r.RevokedAt,
		client:     r.Client,
		version:    r.Version,
		amr:        slices.Clone(r.AMR),
	}
	if presented != nil {
		p := *presented
		f.presented = &p
	}
	return f
}

// Rotate exchanges the presented token for a new one whose digest is next.
//
// It returns ErrAccountDisabled, after ending the session, when the owner is
// inactive; ErrInvalidRefreshToken when the session has ended or expired or
// the presented token has expired; ErrRefreshTokenReused, after ending the
// session, when the presented token was already rotated (someone holds a
// copy). On success the successor expires after p.TokenTTL but never past
// the session's absolute end.
func (f *Family) Rotate(next TokenHash, now time.Time, p SessionPolicy) error {
	if f.presented == nil {
		return errNoPresentedToken
	}
	switch {
	case !f.owner.Active:
		// Deactivation already ended the session; ending it here covers a
		// session that was opened while the deactivation committed.
		f.End(now)
		return ErrAccountDisabled
	case !f.IsLive(now):
		return ErrInvalidRefreshToken
	case f.presented.IsRevoked():
		f.End(now)
		return ErrRefreshTokenReused
	case !now.Before(f.presented.expiresAt):
		return ErrInvalidRefreshToken
	}
	f.presented.revokedAt = now
	f.rotated = true
	f.lastUsedAt = now
	f.issue(next, now, p)
	return nil
}

func (f *Family) issue(hash TokenHash, now time.Time, p SessionPolicy) {
	exp := now.Add(p.TokenTTL)
	if exp.After(f.expiresAt) {
		exp = f.expiresAt
	}
	f.issued = &RefreshToken{hash: hash, expiresAt: exp, createdAt: now}
}

// End revokes the session and every token in it. Ending an ended session
// changes nothing.
func (f *Family) End(now time.Time) {
	if !f.revokedAt.IsZero() {
		return
	}
	f.revokedAt = now
	f.ended = true
	f.issued = nil
	f.rotated = false
}

// IsLive reports whether the session can still be used at now: it has not
// ended and its absolute end is after now. This is the one meaning of "live
// session"; a repository that selects live sessions in a query states the
// same condition (see adapters/postgres.liveFamily).
func (f *Family) IsLive(now time.Time) bool {
	return SessionIsLive(f.revokedAt, f.expiresAt, now)
}

// SessionIsLive is Family.IsLive on a session's stored end times, for
// adapters that hold sessions without rebuilding them.
func SessionIsLive(revokedAt, expiresAt, now time.Time) bool {
	return revokedAt.IsZero() && now.Before(expiresAt)
}

// ID returns the family (session) id, carried as "sid" in access tokens.
func (f *Family) ID() uuid.UUID { return f.id }

// Owner returns the family's user as seen when it was loaded.
func (f *Family) Owner() Owner { return f.owner }

// UserID returns the id of the family's user.
func (f *Family) UserID() UserID { return f.owner.ID }

// CreatedAt returns when the session was opened (the login).
func (f *Family) CreatedAt() time.Time { return f.createdAt }

// LastUsedAt returns the time of the last rotation (or the login).
func (f *Family) LastUsedAt() time.Time { return f.lastUsedAt }

// ExpiresAt returns the absolute end of the session.
func (f *Family) ExpiresAt() time.Time { return f.expiresAt }

// RevokedAt returns when the session ended; zero while it has not.
func (f *Family) RevokedAt() time.Time { return f.revokedAt }

// Client returns the user agent and IP that opened the session.
func (f *Family) Client() ClientInfo { return f.client }

// AuthMethods returns how the session was authenticated at login; access
// tokens of the session carry it as their "amr" claim.
func (f *Family) AuthMethods() AuthMethods { return slices.Clone(f.amr) }

// Version returns the stored version the family was loaded at.
func (f *Family) Version() int64 { return f.version }

// Presented returns the token the family was loaded through, if any.
func (f *Family) Presented() (RefreshToken, bool) {
	if f.presented == nil {
		return RefreshToken{}, false
	}
	return *f.presented, true
}

// Issued returns the token issued by NewFamily or Rotate, if any.
func (f *Family) Issued() (RefreshToken, bool) {
	if f.issued == nil {
		return RefreshToken{}, false
	}
	return *f.issued, true
}

// Rotated reports whether this change revoked the presented token.
func (f *Family) Rotated() bool { return f.rotated }

// Ended reports whether this change ended the session.
func (f *Family) Ended() bool { return f.ended }

// Changed reports whether the family holds a change to persist. Audit
// events and mails attached to a family without a change are not stored.
func (f *Family) Changed() bool { return f.ended || f.rotated }
