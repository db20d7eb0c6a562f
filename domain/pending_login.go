package domain

import (
	"io"
	"time"
)

// The policy of the second step of a login.
const (
	// MFATokenTTL is how long a login waits for its second factor.
	MFATokenTTL = 5 * time.Minute
	// MaxMFAFailures wrong second factors end the login's mfa_token.
	MaxMFAFailures = 5
)

// NewMFAToken draws the mfa_token of a login from r: 32 random bytes,
// base64url; only its digest is stored.
func NewMFAToken(r io.Reader) (token string, hash TokenHash, err error) {
	return NewRefreshSecret(r)
}

// LooksLikeMFAToken reports whether s has the shape of an mfa_token.
func LooksLikeMFAToken(s string) bool { return LooksLikeRefreshSecret(s) }

// PendingLogin is a login whose password was right and that waits for a
// second factor: the mfa_token's state. It is bound to its user and to the
// user's session epoch when the password was checked, so that a password
// change in between leaves it unable to open a session.
type PendingLogin struct {
	hash      TokenHash
	user      UserID
	account   Email
	epoch     int64
	client    ClientInfo
	createdAt time.Time
	expiresAt time.Time
	usedAt    time.Time
	failures  int

	changed bool
	events
	outbox
}

// PendingLoginRecord is the stored state of a pending login.
type PendingLoginRecord struct {
	Hash TokenHash
	User UserID
	// Account is the email the login named, under which the abuse limits
	// count the second step's failures.
	Account      Email
	SessionEpoch int64
	Client       ClientInfo
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       time.Time // zero until a second factor completed it
	Failures     int
}

// NewPendingLogin returns the pending login of u, whose password was right
// at now, under the mfa_token digest hash; account is the email the login
// named.
func NewPendingLogin(hash TokenHash, u *User, account Email, client ClientInfo, now time.Time) *PendingLogin {
	return &PendingLogin{
		hash: hash, user: u.ID(), account: account, epoch: u.SessionEpoch(), client: client,
		createdAt: now, expiresAt: now.Add(MFATokenTTL),
	}
}

// RehydratePendingLogin rebuilds a stored pending login.
func RehydratePendingLogin(r PendingLoginRecord) *PendingLogin {
	return &PendingLogin{
		hash: r.Hash, user: r.User, account: r.Account, epoch: r.SessionEpoch, client: r.Client,
		createdAt: r.CreatedAt, expiresAt: r.ExpiresAt, usedAt: r.UsedAt, failures: r.Failures,
	}
}

// Record returns the state of l.
func (l *PendingLogin) Record() PendingLoginRecord {
	return PendingLoginRecord{
		Hash: l.hash, User: l.user, Account: l.account, SessionEpoch: l.epoch, Client: l.client,
		CreatedAt: l.createdAt, ExpiresAt: l.expiresAt, UsedAt: l.usedAt, Failures: l.failures,
	}
}

// Hash returns the digest of the mfa_token.
func (l *PendingLogin) Hash() TokenHash { return l.hash }

// UserID returns the user whose password was right.
func (l *PendingLogin) UserID() UserID { return l.user }

// Account returns the email the login named.
func (l *PendingLogin) Account() Email { return l.account }

// SessionEpoch returns the user's session epoch when the password was
// checked: the session the login opens is stored only while it holds.
func (l *PendingLogin) SessionEpoch() int64 { return l.epoch }

// Client returns who logged in.
func (l *PendingLogin) Client() ClientInfo { return l.client }

// ExpiresAt returns when the mfa_token stops working.
func (l *PendingLogin) ExpiresAt() time.Time { return l.expiresAt }

// Failures returns how many wrong second factors were presented.
func (l *PendingLogin) Failures() int { return l.failures }

// Usable returns ErrInvalidMFAToken unless the login still waits for its
// second factor at now: not completed, not expired, and fewer than
// MaxMFAFailures wrong second factors.
func (l *PendingLogin) Usable(now time.Time) error {
	if !l.usedAt.IsZero() || !now.Before(l.expiresAt) || l.failures >= MaxMFAFailures {
		return ErrInvalidMFAToken
	}
	return nil
}

// Fail records a wrong second factor at now; the MaxMFAFailures-th ends
// the login. It returns ErrInvalidSecondFactor, the answer to the attempt.
func (l *PendingLogin) Fail(now time.Time) error {
	if l.Usable(now) == nil {
		l.failures++
		l.changed = true
	}
	return ErrInvalidSecondFactor
}

// Complete records that a second factor finished the login at now, so the
// mfa_token cannot be used again. It returns ErrInvalidMFAToken when the
// login is not Usable.
func (l *PendingLogin) Complete(now time.Time) error {
	if err := l.Usable(now); err != nil {
		return err
	}
	l.usedAt = now
	l.changed = true
	return nil
}

// Changed reports whether this change counted a failure or completed the
// login.
func (l *PendingLogin) Changed() bool { return l.changed }
