package application_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/jwt"
	"authd/adapters/memory"
	"authd/adapters/password"
	"authd/application"
	"authd/domain"
	"authd/ports"
)

// t0 is the fixed time every fixture's clock starts at.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// Passwords that pass the policy, common-password check included.
const (
	goodPassword  = "plum-Garden-Violin-42"
	otherPassword = "Tundra_Copper_Maple_88"
	adminPassword = "Harbor!Nimbus-Quill-7"
)

// cheapParams keep argon2id fast enough for unit tests on a small machine.
var cheapParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Built once: each costs a hash, a word list or a key pair, and all are
// safe for concurrent use.
var (
	sharedHasher = sync.OnceValue(func() *password.Hasher {
		return mustHasher(cheapParams)
	})
	sharedCommon = sync.OnceValue(password.NewCommonPasswords)
	sharedIssuer = sync.OnceValue(func() *jwt.Issuer {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		i, err := jwt.New(jwt.Config{PrivateKey: priv, Issuer: "https://authd.test", Audience: "authd-test"})
		if err != nil {
			panic(err)
		}
		return i
	})
)

func mustHasher(p password.Params) *password.Hasher {
	h, err := password.NewHasher(p, 0, 0)
	if err != nil {
		panic(err)
	}
	return h
}

// countingHasher counts the calls made to the hasher it wraps, to prove
// which inputs cost a hash and which do not.
type countingHasher struct {
	ports.PasswordHasher
	hashes   atomic.Int64
	verifies atomic.Int64
	dummies  atomic.Int64
}

var _ ports.PasswordHasher = (*countingHasher)(nil)

func (h *countingHasher) Hash(ctx context.Context, plain string) (string, error) {
	h.hashes.Add(1)
	return h.PasswordHasher.Hash(ctx, plain)
}

func (h *countingHasher) Verify(ctx context.Context, plain, encoded string) (bool, bool, error) {
	h.verifies.Add(1)
	return h.PasswordHasher.Verify(ctx, plain, encoded)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, plain string) error {
	h.dummies.Add(1)
	return h.PasswordHasher.VerifyDummy(ctx, plain)
}

// calls returns the counts as hashes, verifies, dummy verifies.
func (h *countingHasher) calls() [3]int64 {
	return [3]int64{h.hashes.Load(), h.verifies.Load(), h.dummies.Load()}
}

// fixture is one fake database with a fixed clock and the use cases wired
// to it.
type fixture struct {
	clock    *memory.Clock
	store    *memory.Store
	users    *memory.UserRepository
	families *memory.FamilyRepository
	audit    *memory.AuditLog
	hasher   *countingHasher
	issuer   *jwt.Issuer
	random   *memory.Random
	env      application.Env
	// limiter is the abuse limiter of login, register and changePassword:
	// none unless a test sets limits with limitTo.
	limiter ports.Limiter
	// later runs the deferred work of password reset requests.
	later *application.Deferred
	// inbox holds the mails claimed by mailsTo and not taken yet.
	inbox []ports.ClaimedMail
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := memory.NewClock(t0)
	store := memory.NewStore()
	random := memory.NewRandom(1)
	return &fixture{
		clock:    clock,
		store:    store,
		users:    store.Users(),
		families: store.Families(),
		audit:    store.Audit(),
		hasher:   &countingHasher{PasswordHasher: sharedHasher()},
		issuer:   sharedIssuer(),
		random:   random,
		env: application.NewEnv(clock, random, store.Audit(), slog.New(slog.DiscardHandler)).WithMail(sharedRenderer()).
			WithEmailOptions(application.EmailOptions{Links: testLinks}),
		limiter: application.NoLimits,
	}
}

// limitTo makes the fixture's use cases enforce p, on a memory limiter it
// returns.
func (f *fixture) limitTo(t *testing.T, p domain.LimitPolicy) *memory.Limiter {
	t.Helper()
	l, err := memory.NewLimiter(p)
	if err != nil {
		t.Fatal(err)
	}
	f.limiter = l
	return l
}

func (f *fixture) register() *application.Register {
	return application.NewRegister(f.users, f.hasher, sharedCommon(), f.limiter, f.env)
}

func (f *fixture) login() *application.Login {
	return application.NewLogin(f.users, f.families, f.store.MFA(), f.hasher, f.issuer, domain.DefaultSessionPolicy, f.limiter, f.env)
}

func (f *fixture) refresh() *application.Refresh {
	return application.NewRefresh(f.families, f.issuer, domain.DefaultSessionPolicy, f.env)
}

func (f *fixture) logout() *application.Logout { return application.NewLogout(f.families, f.env) }

func (f *fixture) logoutAll() *application.LogoutAll {
	return application.NewLogoutAll(f.families, f.env)
}

func (f *fixture) currentUser() *application.GetCurrentUser {
	return application.NewGetCurrentUser(f.users, f.env)
}

// countingUsers counts the calls made to the repository it wraps.
type countingUsers struct {
	ports.UserRepository
	calls atomic.Int64
}

func (r *countingUsers) ByID(ctx context.Context, id domain.UserID) (*domain.User, error) {
	r.calls.Add(1)
	return r.UserRepository.ByID(ctx, id)
}

func (r *countingUsers) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	r.calls.Add(1)
	return r.UserRepository.ByEmail(ctx, email)
}

func (r *countingUsers) ByLiveSession(ctx context.Context, sid uuid.UUID, now time.Time) (*domain.User, error) {
	r.calls.Add(1)
	return r.UserRepository.ByLiveSession(ctx, sid, now)
}

func (f *fixture) listSessions() *application.ListSessions {
	return application.NewListSessions(f.families, f.env)
}

func (f *fixture) revokeSession() *application.RevokeSession {
	return application.NewRevokeSession(f.families, f.env)
}

func (f *fixture) changePassword() *application.ChangePassword {
	return application.NewChangePassword(f.users, f.hasher, sharedCommon(), f.limiter, f.env)
}

func (f *fixture) createAdmin() *application.CreateAdmin {
	return application.NewCreateAdmin(f.users, f.hasher, sharedCommon(), f.env)
}

func (f *fixture) updateUser() *application.UpdateUser {
	return application.NewUpdateUser(f.users, f.env)
}

// mustRegister registers email with pw through the Register use case.
func (f *fixture) mustRegister(t *testing.T, email, pw string) *domain.User {
	t.Helper()
	u, err := f.register().Do(t.Context(), application.RegisterInput{Email: email, Password: pw})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// mustCreateAdmin creates an active admin through the CreateAdmin use case.
func (f *fixture) mustCreateAdmin(t *testing.T, email string) *domain.User {
	t.Helper()
	u, _, err := f.createAdmin().Do(t.Context(), email, adminPassword)
	if err != nil {
		t.Fatalf("create admin %s: %v", email, err)
	}
	return u
}

// adminPrincipal is the caller an admin's access token stands for.
func adminPrincipal(a *domain.User) domain.Principal {
	return domain.Principal{UserID: a.ID(), Role: domain.RoleAdmin}
}

// mustLogin logs in from client and returns the new session's tokens.
func (f *fixture) mustLogin(t *testing.T, email, pw string, client domain.ClientInfo) application.TokenPair {
	t.Helper()
	tp, err := f.login().Do(t.Context(), application.LoginInput{Email: email, Password: pw, Client: client})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return tp
}

// mustRefresh rotates token and returns the successor pair.
func (f *fixture) mustRefresh(t *testing.T, token string) application.TokenPair {
	t.Helper()
	tp, err := f.refresh().Do(t.Context(), application.RefreshInput{RefreshToken: token})
	if err != nil {
		t.Fatalf("refresh at %s: %v", f.clock.Now().Sub(t0), err)
	}
	return tp
}

// principal verifies the access token of tp at the fixture's clock.
func (f *fixture) principal(t *testing.T, tp application.TokenPair) domain.Principal {
	t.Helper()
	p, err := f.issuer.Verify(tp.AccessToken, f.clock.Now())
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	return p
}

// caller logs email in and returns the user its access token stands for,
// as GetCurrentUser reads it on a request.
func (f *fixture) caller(t *testing.T, email, pw string) *domain.User {
	t.Helper()
	u, err := f.currentUser().Do(t.Context(), f.principal(t, f.mustLogin(t, email, pw, domain.ClientInfo{})))
	if err != nil {
		t.Fatalf("current user of %s: %v", email, err)
	}
	return u
}

// setActive switches a user on or off through the repository, bypassing
// the use cases (and so the audit trail).
func (f *fixture) setActive(t *testing.T, id domain.UserID, active bool) {
	t.Helper()
	if _, err := f.users.Update(t.Context(), id, func(u *domain.User) error {
		u.Apply(domain.UserChange{Active: &active}, f.clock.Now())
		return nil
	}); err != nil {
		t.Fatalf("set active=%v on user %d: %v", active, id, err)
	}
}

// storedUser reads a user back from the store.
func (f *fixture) storedUser(t *testing.T, id domain.UserID) *domain.User {
	t.Helper()
	u, err := f.users.ByID(t.Context(), id)
	if err != nil {
		t.Fatalf("user %d: %v", id, err)
	}
	return u
}

// liveSessions returns the ids of the user's live sessions, newest first.
func (f *fixture) liveSessions(t *testing.T, id domain.UserID) []uuid.UUID {
	t.Helper()
	fs, err := f.families.ListLive(t.Context(), id, f.clock.Now())
	if err != nil {
		t.Fatalf("list live sessions: %v", err)
	}
	ids := make([]uuid.UUID, len(fs))
	for i, fam := range fs {
		ids[i] = fam.ID()
	}
	return ids
}

// events returns the audit trail, only that of user when it is not zero.
func (f *fixture) events(t *testing.T, user domain.UserID) []domain.AuthEvent {
	t.Helper()
	es, err := f.audit.List(t.Context(), ports.AuditQuery{UserID: user})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return es
}

// eventTypes returns the types of the user's audit events, oldest first.
func (f *fixture) eventTypes(t *testing.T, user domain.UserID) []domain.EventType {
	t.Helper()
	es := f.events(t, user)
	types := make([]domain.EventType, len(es))
	for i, e := range es {
		types[i] = e.Type
	}
	return types
}

// fieldNames returns the fields a *domain.ValidationError names, or fails
// the test when err is not one.
func fieldNames(t *testing.T, err error) []string {
	t.Helper()
	verr, ok := errors.AsType[*domain.ValidationError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *domain.ValidationError", err, err)
	}
	names := make([]string, len(verr.Fields))
	for i, fe := range verr.Fields {
		names[i] = fe.Field
	}
	return names
}

// testLinks lead to hosted pages on authd.test.
var testLinks = func() application.Links {
	l, err := application.NewLinks("https://authd.test", "")
	if err != nil {
		panic(err)
	}
	return l
}()
