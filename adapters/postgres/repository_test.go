package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
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

func openRepos(t *testing.T) repos {
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
	u.Apply(domain.UserChange{Role: &role}, t0)
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
	f := domain.NewFamily(uuid.New(), u.Owner(), domain.HashRefreshToken(secret), domain.NewClientInfo("test", "192.0.2.1"), now, domain.DefaultSessionPolicy)
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

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestFamilyStoresOnlyTokenDigests(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
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
	r := openRepos(t)
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

func TestFamilyClientInfoIsMadeStorable(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
	u := r.createUser(t, "ivan@example.com", domain.RoleUser)
	ua := strings.Repeat("é", 600) + "\x00\xff"
	f := domain.NewFamily(uuid.New(), u.Owner(), domain.HashRefreshToken("y"),
		domain.NewClientInfo(ua, strings.Repeat("1", 100)), t0, domain.DefaultSessionPolicy)
	if err := r.families.Create(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	live, err := r.families.ListLive(context.Background(), u.ID(), t0)
	if err != nil || len(live) != 1 {
		t.Fatalf("ListLive: %v %v", live, err)
	}
	if got := live[0].Client(); len([]rune(got.UserAgent())) != 512 || len(got.IP()) != 64 {
		t.Errorf("client info stored as %d runes / %d bytes, want 512 / 64", len([]rune(got.UserAgent())), len(got.IP()))
	}
}

func TestDeletingUserCascades(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
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

func TestAuditLogStoresUnknownsAsNull(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
	ctx := context.Background()
	u := r.createUser(t, "mia@example.com", domain.RoleUser)
	sid := uuid.New()
	events := []domain.AuthEvent{
		{Type: domain.EventLoginFailed, Client: domain.NewClientInfo("curl", "192.0.2.7"), At: t0},
		{Type: domain.EventLoginSucceeded, UserID: u.ID(), SessionID: sid, Client: domain.NewClientInfo("", "192.0.2.8"), At: t0.Add(time.Second)},
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

// TestByLiveSessionIsIndexed: authenticating a Bearer request is one
// statement of two primary-key lookups, whatever the tables hold. The
// planner is told to avoid sequential scans, so that a plan without one
// proves the statement can use indexes even on the test's tiny tables.
func TestByLiveSessionIsIndexed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := openRepos(t)
	// database/sql itself, which sends $n parameters as they are.
	tx, err := r.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	var plan []string
	rows, err := tx.QueryContext(ctx, "EXPLAIN "+postgres.BySessionSQL, uuid.New(), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	text := strings.Join(plan, "\n")
	for _, want := range []string{"token_families_pkey", "users_pkey"} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan does not use %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Seq Scan") {
		t.Errorf("the plan scans a table:\n%s", text)
	}
}
