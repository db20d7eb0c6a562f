// Package ports declares the interfaces the application needs from the
// outside world: storage, password hashing, access tokens, time, randomness
// and abuse limits. Adapters implement them; ports/porttest holds the
// contract suites every implementation must pass.
//
// Ports speak domain types only and take ctx first where they may block.
package ports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"authd/domain"
)

// Clock supplies the current time. Use cases read it once and pass the
// instant down so that a whole operation agrees on "now".
type Clock interface {
	Now() time.Time
}

// RandomSource supplies cryptographically secure random bytes
// (crypto/rand.Reader in production).
type RandomSource = io.Reader

// UserRepository stores users. Every change stores the audit events
// attached to the user (domain.User.Audit) in the same transaction.
type UserRepository interface {
	// Create stores u, and the events and one-time tokens attached to it
	// with u's new id as their user, and returns it with its assigned id.
	// It returns domain.ErrEmailTaken when another user has the same email.
	Create(ctx context.Context, u *domain.User) (*domain.User, error)
	// ByID returns the user with id, or domain.ErrUserNotFound.
	ByID(ctx context.Context, id domain.UserID) (*domain.User, error)
	// ByEmail returns the user with email, or domain.ErrUserNotFound.
	ByEmail(ctx context.Context, email domain.Email) (*domain.User, error)
	// ByLiveSession returns the user of the session (family) with id sid,
	// provided that session is live at now (domain.Family.IsLive), in one
	// lookup. It returns domain.ErrSessionNotFound when no session has id
	// sid or it has ended or expired. The user is returned whatever its
	// active flag; callers decide what an inactive user may do.
	ByLiveSession(ctx context.Context, sid uuid.UUID, now time.Time) (*domain.User, error)
	// Update loads the user with id under a row lock, applies fn and, unless
	// fn fails, stores the user and carries out what the change decided, all
	// in one transaction:
	//   - when u.RemovesActiveAdmin(), the other active admins are counted
	//     while every such change is serialised, and u.AllowAdminRemoval
	//     decides; its error (domain.ErrLastAdmin) stores nothing;
	//   - when u.EndsSessions(), every live family of the user except the
	//     one it keeps is ended at the decision's time;
	//   - when u.RevokesTokens(), the user's unused one-time tokens of
	//     those purposes are revoked (marked used), and then the tokens of
	//     u.IssuedTokens() are stored.
	// Other changes (a password change, a rehash) lock only the user's row.
	// If fn or any step fails nothing is stored and the error is returned;
	// fn's error unchanged. It returns domain.ErrUserNotFound when no user
	// has id, and domain.ErrEmailTaken when the change gives the user an
	// address another user has (domain.User.ChangeEmail).
	Update(ctx context.Context, id domain.UserID, fn func(u *domain.User) error) (*domain.User, error)
	// List returns up to q.Limit users with id > q.After, ordered by id,
	// whose email starts with q.EmailPrefix (matched literally) when it is
	// not empty. A Limit of zero or less means no limit; use cases bound it.
	List(ctx context.Context, q UserQuery) ([]*domain.User, error)
}

// UserQuery selects a page of users by keyset pagination on id.
type UserQuery struct {
	After       domain.UserID
	Limit       int
	EmailPrefix string
}

// FamilyRepository stores refresh-token families (sessions) and their
// tokens. Every change goes through a closure so that the lock, the domain
// decision and the write form one atomic step; the audit events attached to
// a family (domain.Family.Audit) are stored by the same write, and only if
// it is stored.
type FamilyRepository interface {
	// Create stores a new family and the first token it issued, provided
	// its owner is still active and at the session epoch of f.Owner(). It
	// returns an error wrapping ErrOwnerChanged when the owner was
	// deactivated or its sessions were ended since it was read (so a login
	// that checked an old password opens no session), and one wrapping
	// domain.ErrUserNotFound when the owner does not exist.
	Create(ctx context.Context, f *domain.Family) error
	// UpdateByToken loads the family through the token whose digest is hash,
	// applies fn and stores what the family decided (see domain.Family:
	// Issued, Rotated, Ended). The decision is stored even when fn returns an
	// error, so "end the session, then fail the request" commits the end.
	// If another change to the family committed first, fn is called again on
	// the fresh state; fn must therefore have no side effects beyond f.
	// After MaxFamilyWriteAttempts lost races it gives up with ErrConflict.
	// It returns domain.ErrInvalidRefreshToken when no token has that digest,
	// and otherwise fn's error.
	UpdateByToken(ctx context.Context, hash domain.TokenHash, fn func(f *domain.Family) error) error
	// Update is UpdateByToken for a family looked up by id. It returns
	// domain.ErrSessionNotFound when no family has id.
	Update(ctx context.Context, id uuid.UUID, fn func(f *domain.Family) error) error
	// EndAllForUser ends every live family of the user at now, except the
	// one with id except (uuid.Nil ends them all), stores events in the
	// same transaction, and returns how many families it ended.
	EndAllForUser(ctx context.Context, userID domain.UserID, now time.Time, except uuid.UUID, events ...domain.AuthEvent) (int, error)
	// ListLive returns the user's families that are live at now, newest first.
	ListLive(ctx context.Context, userID domain.UserID, now time.Time) ([]*domain.Family, error)
}

// PasswordHasher hashes and verifies passwords. Implementations bound how
// many hashes run at once and how many calls wait for their turn: a call
// that finds the queue full returns an error wrapping ErrOverloaded at
// once, and a call waiting for its turn returns ctx.Err() when ctx ends
// first. Passwords are hashed and verified in the form
// domain.NormalizePassword gives them.
type PasswordHasher interface {
	// Hash returns an encoded (PHC) hash of plain.
	Hash(ctx context.Context, plain string) (string, error)
	// Verify reports whether plain matches encoded, in constant time, and
	// whether encoded should be replaced by a fresh Hash: it uses outdated
	// parameters, or it was made from plain as typed before passwords were
	// normalised (such a hash still matches). A malformed encoded hash is
	// an error.
	Verify(ctx context.Context, plain, encoded string) (ok, needsRehash bool, err error)
	// VerifyDummy costs what a Verify costs, against a fixed hash, so that a
	// login for an unknown email takes as long as one for a known email.
	VerifyDummy(ctx context.Context, plain string) error
}

// AccessTokenIssuer signs short-lived access tokens.
type AccessTokenIssuer interface {
	// Issue returns a signed token for g, valid from now, and its lifetime.
	Issue(g domain.AccessGrant, now time.Time) (token string, expiresIn time.Duration, err error)
}

// AccessTokenVerifier checks access tokens.
type AccessTokenVerifier interface {
	// Verify returns the principal of a valid token, or an error wrapping
	// domain.ErrInvalidAccessToken for anything else.
	Verify(token string, now time.Time) (domain.Principal, error)
}

// Limiter enforces the abuse limits of a domain.LimitPolicy: failed
// password checks per account and IP, per account and per IP,
// registrations per IP, and requests for mailed links per IP and per
// address. Its counters are shared by every instance that uses
// the same store, so the limits hold across instances and restarts. Each
// call costs at most one statement.
//
// Every method returns a *domain.RateLimitError (matching
// domain.ErrRateLimited) when it refuses an attempt, an error wrapping
// ErrUnavailable when the store cannot be reached, and ctx's error when ctx
// ends first. Callers refuse the attempt on any error: limits fail closed.
type Limiter interface {
	// AdmitPassword decides, before any password is hashed, whether the
	// password check a may go ahead. It refuses it when the account and
	// the IP together, or the IP alone, are at their limit of failures, or
	// when the account is at its budget and the IP has not logged in to it
	// within the policy's KnownIPTTL. An admitted attempt is counted as a
	// failure at once, so that attempts racing each other cannot exceed a
	// limit; SettlePassword takes the count back when it did not fail.
	// Refused attempts are not counted. The error's RetryAfter is the wait
	// until the attempt would be admitted; its FirstRefusal is true once per
	// limit key and block of refusals.
	AdmitPassword(ctx context.Context, a domain.PasswordAttempt) error
	// SettlePassword records how the admitted attempt a ended:
	// domain.AttemptFailed keeps the count (and costs nothing);
	// domain.AttemptSucceeded takes it back and remembers a's IP as one
	// that logged in to the account, keeping the policy's
	// KnownIPsPerAccount most recent of them; domain.AttemptAborted takes
	// it back.
	SettlePassword(ctx context.Context, a domain.PasswordAttempt, o domain.AttemptOutcome) error
	// AdmitRegistration counts a registration from client at now, whatever
	// its outcome, or refuses it (uncounted) when the client's IP is at its
	// limit of registrations.
	AdmitRegistration(ctx context.Context, client domain.ClientInfo, now time.Time) error
	// AdmitMailRequest counts a request from client at now that asks for a
	// link of purpose p to be mailed, whatever its outcome, or refuses it
	// (uncounted) when the client's IP is at the policy's
	// MailRequestsPerIP for p.
	AdmitMailRequest(ctx context.Context, p domain.TokenPurpose, client domain.ClientInfo, now time.Time) error
	// AdmitMailTo counts a link of purpose p mailed to address at now, or
	// refuses it (uncounted) when the address is at the policy's
	// MailsPerAddress for p. Callers drop a refused mail silently, so that
	// the answer does not tell whether the address has an account.
	AdmitMailTo(ctx context.Context, p domain.TokenPurpose, address domain.Email, now time.Time) error
	// AdmitPasskeyCeremony counts a passwordless sign-in started by client
	// at now, which stores a WebAuthn ceremony, or refuses it (uncounted)
	// when the client's IP is at the policy's PasskeyCeremoniesPerIP.
	AdmitPasskeyCeremony(ctx context.Context, client domain.ClientInfo, now time.Time) error
}

// AuditLog stores the audit trail of authentication events. Events that
// describe a change (a login, a logout, a password change) are stored by
// the repository making the change; Record is for the others (a failed
// login, a refused attempt).
type AuditLog interface {
	// Record appends e; its ID is assigned by the store.
	Record(ctx context.Context, e domain.AuthEvent) error
	// List returns up to q.Limit events with id > q.After, oldest first,
	// only those of q.UserID when it is not zero. A Limit of zero or less
	// means no limit; use cases bound it.
	List(ctx context.Context, q AuditQuery) ([]domain.AuthEvent, error)
}

// AuditQuery selects a page of the audit trail by keyset pagination on id.
type AuditQuery struct {
	UserID domain.UserID
	After  int64
	Limit  int
}

// MaxFamilyWriteAttempts bounds how often a family change is recomputed
// when other changes to the same family keep committing first.
const MaxFamilyWriteAttempts = 10

// ErrConflict is returned by FamilyRepository updates that lost the race to
// concurrent changes MaxFamilyWriteAttempts times in a row. It matches
// ErrUnavailable: the request may be retried and is answered "try again
// later".
var ErrConflict = fmt.Errorf("family changed concurrently too often: %w", ErrUnavailable)

// ErrOwnerChanged is returned by FamilyRepository.Create when the owner was
// deactivated, or its sessions ended, after the caller read it.
var ErrOwnerChanged = errors.New("session owner changed since it was read")

// ErrOverloaded is returned by a PasswordHasher whose queue is full: the
// request is refused at once rather than waiting without bound, and may be
// retried shortly.
var ErrOverloaded = errors.New("too many requests waiting for a password hash")

// ErrUnavailable marks errors of a backing service that cannot be reached
// (the database is down or refusing connections). Adapters wrap such errors
// with it so that callers can answer "try again later" instead of "bug".
var ErrUnavailable = errors.New("backing service unavailable")
