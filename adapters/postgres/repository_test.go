package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/domain"
	"authd/ports"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type repos struct {
	db       *bun.DB
	users    *postgres.UserRepository
	families *postgres.FamilyRepository
	audit    *postgres.AuditLog
}

func newRepos(t *testing.T) repos {
	t.Helper()
	db := pgtest.NewDB(t)
	return repos{db, postgres.NewUserRepository(db), postgres.NewFamilyRepository(db), postgres.NewAuditLog(db)}
}

func (r repos) createUser(t *testing.T, email string, role domain.Role) *domain.User {
	t.Helper()
	u, err := domain.NewUser(domain.MustParseEmail(email), "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", t0)
	if err != nil {
		t.Fatal(err)
	}
	u.ChangeRole(role)
	created, err := r.users.Create(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// login opens a family for u and returns it with the secret of its first token.
func (r repos) login(t *testing.T, u *domain.User, now time.Time) (*domain.Family, string) {
	t.Helper()
	secret := fmt.Sprintf("secret-%s", uuid.NewString())
	owner := domain.Owner{ID: u.ID(), Role: u.Role(), Active: u.IsActive()}
	f := domain.NewFamily(uuid.New(), owner, domain.HashRefreshToken(secret), domain.ClientInfo{UserAgent: "test", IP: "192.0.2.1"}, now, domain.DefaultSessionPolicy)
	if err := r.families.Create(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return f, secret
}

// rotate presents secret and, on success, returns the secret of its successor.
func (r repos) rotate(secret string, now time.Time) (string, error) {
	next := fmt.Sprintf("secret-%s", uuid.NewString())
	err := r.families.UpdateByToken(context.Background(), domain.HashRefreshToken(secret), func(f *domain.Family) error {
		return f.Rotate(domain.HashRefreshToken(next), now, domain.DefaultSessionPolicy)
	})
	return next, err
}

func (r repos) strs(t *testing.T, query string, args ...any) []string {
	t.Helper()
	return strs(t, r.db, query, args...)
}

func TestUserCreateTranslatesDuplicateEmail(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	first := r.createUser(t, "Alice@Example.COM", domain.RoleUser)
	if first.ID() == 0 || first.Email().String() != "alice@example.com" {
		t.Fatalf("created %v %q", first.ID(), first.Email())
	}
	u, _ := domain.NewUser(domain.MustParseEmail("  ALICE@example.com "), "h", t0)
	_, err := r.users.Create(context.Background(), u)
	if !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("second Create: %v, want ErrEmailTaken", err)
	}

	// Changing another user's email to a taken one is translated too.
	bob := r.createUser(t, "bob@example.com", domain.RoleUser)
	_, err = r.users.Update(context.Background(), bob.ID(), time.Now(), func(u *domain.User, _ int) error {
		*u = *domain.RehydrateUser(u.ID(), domain.MustParseEmail("alice@example.com"), u.PasswordHash(), u.Role(), u.IsActive(), u.CreatedAt())
		return nil
	})
	if !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("Update to a taken email: %v, want ErrEmailTaken", err)
	}
}

func TestUserNotFound(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	ctx := context.Background()
	if _, err := r.users.ByID(ctx, 42); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("ByID: %v", err)
	}
	if _, err := r.users.ByEmail(ctx, domain.MustParseEmail("nobody@example.com")); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("ByEmail: %v", err)
	}
	if _, err := r.users.Update(ctx, 42, time.Now(), func(*domain.User, int) error { return nil }); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("Update: %v", err)
	}
}

func TestUserListEscapesLikeWildcards(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	for _, e := range []string{"a_b@example.com", "axb@example.com", "a%c@example.com", "abc@example.com"} {
		r.createUser(t, e, domain.RoleUser)
	}
	for prefix, want := range map[string][]string{
		"a_": {"a_b@example.com"},
		"a%": {"a%c@example.com"},
		// Unescaped, `a\%` would match "a%c@example.com".
		`a\`:  {},
		"a":   {"a_b@example.com", "axb@example.com", "a%c@example.com", "abc@example.com"},
		"zzz": {},
	} {
		users, err := r.users.List(context.Background(), ports.UserQuery{Limit: 10, EmailPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, u := range users {
			got = append(got, u.Email().String())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("prefix %q (-want +got):\n%s", prefix, diff)
		}
	}
}

func TestUserDeactivationEndsFamiliesInSameTransaction(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	ctx := context.Background()
	u := r.createUser(t, "carol@example.com", domain.RoleUser)
	other := r.createUser(t, "dave@example.com", domain.RoleUser)
	_, s1 := r.login(t, u, t0)
	if _, err := r.rotate(s1, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.login(t, u, t0)
	r.login(t, other, t0)

	updated, err := r.users.Update(ctx, u.ID(), time.Now(), func(u *domain.User, _ int) error { u.Deactivate(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if updated.IsActive() {
		t.Fatal("user still active")
	}
	got := r.strs(t, `SELECT f.user_id || ' ' || (f.revoked_at IS NOT NULL) || ' ' || f.version || ' ' ||
			(SELECT count(*) FROM refresh_tokens t WHERE t.token_family = f.id AND t.revoked_at IS NULL)
		FROM token_families f ORDER BY f.user_id, f.version`)
	want := []string{
		fmt.Sprintf("%d true 1 0", u.ID()),
		fmt.Sprintf("%d true 2 0", u.ID()),
		fmt.Sprintf("%d false 0 1", other.ID()),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("families: user_id revoked version live_tokens (-want +got):\n%s", diff)
	}

	// A failing fn stores nothing, and its error comes back unchanged.
	boom := errors.New("boom")
	_, err = r.users.Update(ctx, other.ID(), time.Now(), func(u *domain.User, _ int) error { u.Deactivate(); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	if got, _ := r.users.ByID(ctx, other.ID()); !got.IsActive() {
		t.Error("a failed update deactivated the user")
	}
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestFamilyStoresOnlyTokenDigests(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	u := r.createUser(t, "erin@example.com", domain.RoleUser)
	_, s1 := r.login(t, u, t0)
	s2, err := r.rotate(s1, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	stored := r.strs(t, "SELECT token FROM refresh_tokens ORDER BY id")
	want := []string{domain.HashRefreshToken(s1).String(), domain.HashRefreshToken(s2).String()}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Fatalf("stored tokens (-want +got):\n%s", diff)
	}
	for _, tok := range stored {
		if !hexDigest.MatchString(tok) {
			t.Errorf("stored token %q is not 64 lower-case hex characters", tok)
		}
	}
	// The secrets appear nowhere in the database.
	for _, s := range []string{s1, s2} {
		dump := strings.Join(r.strs(t, `SELECT row_to_json(t)::text FROM refresh_tokens t
			UNION ALL SELECT row_to_json(f)::text FROM token_families f`), "\n")
		if strings.Contains(dump, s) {
			t.Errorf("secret %q stored in plain text", s)
		}
	}
}

func TestFamilyRotationRowsAndRoundTrips(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	u := r.createUser(t, "frank@example.com", domain.RoleUser)
	f, s1 := r.login(t, u, t0)

	// Statements sent through bun and prepared statements sent directly.
	var queries atomic.Int64
	r.families = postgres.NewFamilyRepository(r.db.WithQueryHook(countHook{&queries}))
	postgres.ObserveStatements(r.families, func(string, []any) { queries.Add(1) })
	s2, err := r.rotate(s1, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n := queries.Load(); n != 2 {
		t.Errorf("a rotation took %d statements, want 2 (load, write)", n)
	}

	got := r.strs(t, `SELECT token || ' ' || coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'HH24:MI'), '-') || ' ' ||
		to_char(expires_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI') FROM refresh_tokens ORDER BY id`)
	want := []string{
		domain.HashRefreshToken(s1).String() + " 13:00 03-15 12:00",
		domain.HashRefreshToken(s2).String() + " - 03-15 13:00",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens: digest revoked expires (-want +got):\n%s", diff)
	}
	fam := r.strs(t, `SELECT version || ' ' || to_char(last_used_at AT TIME ZONE 'UTC', 'HH24:MI') || ' ' || (revoked_at IS NULL) FROM token_families WHERE id = ?`, f.ID())
	if diff := cmp.Diff([]string{"1 13:00 true"}, fam); diff != "" {
		t.Errorf("family: version last_used live (-want +got):\n%s", diff)
	}
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (h countHook) AfterQuery(context.Context, *bun.QueryEvent)                        { h.n.Add(1) }

func TestFamilyReuseRevocationIsCommitted(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	u := r.createUser(t, "grace@example.com", domain.RoleUser)
	f, s1 := r.login(t, u, t0)
	s2, err := r.rotate(s1, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.rotate(s1, t0.Add(2*time.Minute)); !errors.Is(err, domain.ErrRefreshTokenReused) {
		t.Fatalf("replay: %v, want ErrRefreshTokenReused", err)
	}
	if got := r.strs(t, "SELECT count(*)::text FROM refresh_tokens WHERE revoked_at IS NULL"); got[0] != "0" {
		t.Errorf("%s tokens still usable after reuse", got[0])
	}
	if got := r.strs(t, "SELECT (revoked_at IS NOT NULL)::text FROM token_families WHERE id = ?", f.ID()); got[0] != "true" {
		t.Error("family not revoked after reuse")
	}
	if _, err := r.rotate(s2, t0.Add(3*time.Minute)); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Errorf("successor after reuse: %v, want ErrInvalidRefreshToken", err)
	}
}

// TestFamilyConcurrentRotation presents one token from many goroutines:
// exactly one rotation wins and the family never has two usable tokens.
func TestFamilyConcurrentRotation(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	u := r.createUser(t, "heidi@example.com", domain.RoleUser)
	for round := range 5 {
		f, s := r.login(t, u, t0)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = r.rotate(s, t0.Add(time.Minute)) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrRefreshTokenReused), errors.Is(err, domain.ErrInvalidRefreshToken):
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d rotations succeeded, want exactly 1 (%v)", round, ok, errs)
		}
		// The losers saw a rotated token: the family is ended, with no usable token.
		got := r.strs(t, `SELECT (f.revoked_at IS NOT NULL) || ' ' ||
			(SELECT count(*) FROM refresh_tokens t WHERE t.token_family = f.id AND t.revoked_at IS NULL)
			FROM token_families f WHERE f.id = ?`, f.ID())
		if diff := cmp.Diff([]string{"true 0"}, got); diff != "" {
			t.Errorf("round %d: family revoked, usable tokens (-want +got):\n%s", round, diff)
		}
	}
}

func TestFamilyLookupErrors(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	ctx := context.Background()
	called := false
	err := r.families.UpdateByToken(ctx, domain.HashRefreshToken("unknown"), func(*domain.Family) error { called = true; return nil })
	if !errors.Is(err, domain.ErrInvalidRefreshToken) || called {
		t.Errorf("unknown token: %v (fn called: %v)", err, called)
	}
	err = r.families.Update(ctx, uuid.New(), func(*domain.Family) error { called = true; return nil })
	if !errors.Is(err, domain.ErrSessionNotFound) || called {
		t.Errorf("unknown family: %v (fn called: %v)", err, called)
	}
	ghost := domain.RehydrateUser(999, domain.MustParseEmail("ghost@example.com"), "h", domain.RoleUser, true, t0)
	f := domain.NewFamily(uuid.New(), domain.Owner{ID: ghost.ID()}, domain.HashRefreshToken("x"), domain.ClientInfo{}, t0, domain.DefaultSessionPolicy)
	if err := r.families.Create(ctx, f); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("Create for a missing user: %v, want ErrUserNotFound", err)
	}
}

func TestFamilyClientInfoIsMadeStorable(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	u := r.createUser(t, "ivan@example.com", domain.RoleUser)
	ua := strings.Repeat("é", 600) + "\x00\xff"
	f := domain.NewFamily(uuid.New(), domain.Owner{ID: u.ID(), Role: u.Role(), Active: true}, domain.HashRefreshToken("y"),
		domain.ClientInfo{UserAgent: ua, IP: strings.Repeat("1", 100)}, t0, domain.DefaultSessionPolicy)
	if err := r.families.Create(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	live, err := r.families.ListLive(context.Background(), u.ID(), t0)
	if err != nil || len(live) != 1 {
		t.Fatalf("ListLive: %v %v", live, err)
	}
	if got := live[0].Client(); len([]rune(got.UserAgent)) != 512 || len(got.IP) != 64 {
		t.Errorf("client info stored as %d runes / %d bytes, want 512 / 64", len([]rune(got.UserAgent)), len(got.IP))
	}
}

func TestDeletingUserCascades(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	ctx := context.Background()
	u := r.createUser(t, "judy@example.com", domain.RoleUser)
	keep := r.createUser(t, "ken@example.com", domain.RoleUser)
	f, s := r.login(t, u, t0)
	if _, err := r.rotate(s, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.login(t, keep, t0)
	if err := r.audit.Record(ctx, domain.AuthEvent{Type: domain.EventLogout, UserID: u.ID(), SessionID: f.ID(), At: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.ExecContext(ctx, "DELETE FROM users WHERE id = ?", int64(u.ID())); err != nil {
		t.Fatal(err)
	}
	got := r.strs(t, `SELECT 'families ' || count(*) FROM token_families
		UNION ALL SELECT 'tokens ' || count(*) FROM refresh_tokens
		UNION ALL SELECT 'events ' || count(*) || ' ' || count(user_id) FROM auth_events`)
	if diff := cmp.Diff([]string{"families 1", "tokens 1", "events 1 0"}, got); diff != "" {
		t.Errorf("after deleting a user (-want +got):\n%s", diff)
	}
	// Deleting a family takes its tokens with it.
	if _, err := r.db.ExecContext(ctx, "DELETE FROM token_families"); err != nil {
		t.Fatal(err)
	}
	if got := r.strs(t, "SELECT count(*)::text FROM refresh_tokens"); got[0] != "0" {
		t.Errorf("%s tokens outlived their family", got[0])
	}
}

func TestEndAllForUserAndListLive(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	ctx := context.Background()
	u := r.createUser(t, "leo@example.com", domain.RoleUser)
	short := domain.SessionPolicy{TokenTTL: time.Hour, MaxLifetime: time.Hour}
	expired := domain.NewFamily(uuid.New(), domain.Owner{ID: u.ID(), Role: u.Role(), Active: true}, domain.HashRefreshToken("old"), domain.ClientInfo{}, t0.Add(-2*time.Hour), short)
	if err := r.families.Create(ctx, expired); err != nil {
		t.Fatal(err)
	}
	a, _ := r.login(t, u, t0)
	b, _ := r.login(t, u, t0.Add(time.Minute))
	c, _ := r.login(t, u, t0.Add(2*time.Minute))

	live, err := r.families.ListLive(ctx, u.ID(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(fs []*domain.Family) []uuid.UUID {
		out := []uuid.UUID{}
		for _, f := range fs {
			out = append(out, f.ID())
		}
		return out
	}
	if diff := cmp.Diff([]uuid.UUID{c.ID(), b.ID(), a.ID()}, ids(live)); diff != "" {
		t.Errorf("ListLive newest first (-want +got):\n%s", diff)
	}
	if o := live[0].Owner(); o.ID != u.ID() || o.Role != domain.RoleUser || !o.Active {
		t.Errorf("owner = %+v", o)
	}

	n, err := r.families.EndAllForUser(ctx, u.ID(), t0.Add(time.Hour), b.ID())
	if err != nil || n != 2 {
		t.Fatalf("EndAllForUser = %d, %v; want 2 (the expired one is not live)", n, err)
	}
	live, err = r.families.ListLive(ctx, u.ID(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uuid.UUID{b.ID()}, ids(live)); diff != "" {
		t.Errorf("after EndAllForUser (-want +got):\n%s", diff)
	}
	got := r.strs(t, `SELECT count(*)::text FROM refresh_tokens t JOIN token_families f ON f.id = t.token_family
		WHERE f.revoked_at IS NOT NULL AND t.revoked_at IS NULL`)
	if got[0] != "0" {
		t.Errorf("%s tokens of ended families are still unrevoked", got[0])
	}
}

func TestAuditLogStoresUnknownsAsNull(t *testing.T) {
	t.Parallel()
	r := newRepos(t)
	ctx := context.Background()
	u := r.createUser(t, "mia@example.com", domain.RoleUser)
	sid := uuid.New()
	events := []domain.AuthEvent{
		{Type: domain.EventLoginFailed, IP: "192.0.2.7", UserAgent: "curl", At: t0},
		{Type: domain.EventLoginSucceeded, UserID: u.ID(), SessionID: sid, IP: "192.0.2.8", At: t0.Add(time.Second)},
	}
	for _, e := range events {
		if err := r.audit.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got := r.strs(t, `SELECT type || ' ' || coalesce(user_id::text, 'NULL') || ' ' || coalesce(session_id::text, 'NULL') FROM auth_events ORDER BY id`)
	want := []string{
		"login_failed NULL NULL",
		fmt.Sprintf("login_succeeded %d %s", u.ID(), sid),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	list, err := r.audit.List(ctx, ports.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list {
		events[i].ID = list[i].ID
	}
	if diff := cmp.Diff(events, list, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}
