// Package porttest holds the contract test suites of the repository ports
// and of the abuse limiter.
// Every adapter runs them from its own tests, for example:
//
//	func TestUserRepository(t *testing.T) {
//		porttest.UserRepository(t, func(t *testing.T) porttest.Repos {
//			s := memory.NewStore()
//			return porttest.Repos{Users: s.Users(), Families: s.Families(), ...}
//		})
//	}
//
// Each suite runs parallel subtests and asks for fresh repositories per
// subtest; the constructors must return repositories over an empty,
// isolated store (for example a new schema), because some checks, such as
// the active-admin count, observe every row. The suites assume nothing
// about ids beyond "positive and increasing" and compare times to the
// microsecond, as PostgreSQL stores them.
package porttest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"authd/domain"
	"authd/ports"
)

// Repos are the repositories of one isolated store, as the suites need
// them: families belong to users, and a user change ends families.
type Repos struct {
	Users    ports.UserRepository
	Families ports.FamilyRepository
	Audit    ports.AuditLog
	Outbox   ports.MailOutbox
	// MFA and Challenges are the multi-factor repositories of the store.
	MFA        ports.MFARepository
	Challenges ports.WebAuthnChallenges
	// Tokens are the one-time tokens that the user changes issue.
	Tokens ports.OneTimeTokenRepository
	// BreakSessionEnds makes every later attempt to end a session in this
	// store fail, as a failing write would, so that the suites can check
	// that a change and the session endings it decided are stored
	// together or not at all.
	BreakSessionEnds func(t *testing.T)
	// InspectMail returns the stored state of the queued mail with id, so
	// that the outbox suite can check what a claim does not show (that a
	// sent mail's bodies are gone).
	InspectMail func(t *testing.T, id int64) MailState
}

func (r Repos) pair() (ports.UserRepository, ports.FamilyRepository) { return r.Users, r.Families }

// base is the suites' fixed "now"; it has no sub-microsecond part, so times
// derived from it survive a round trip through PostgreSQL unchanged.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// uniq returns a short random string, so that emails do not collide even if
// an adapter's stores were shared after all.
func uniq(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want.Truncate(time.Microsecond)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// phc is a syntactically plausible stored password hash; the repositories
// never interpret it.
const phc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func newUser(t *testing.T, email string) *domain.User {
	t.Helper()
	u, err := domain.NewUser(domain.MustParseEmail(email), phc, base)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
