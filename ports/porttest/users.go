package porttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// UserRepository runs the contract of ports.UserRepository against the
// repositories newRepos returns, one set per subtest.
func UserRepository(t *testing.T, newRepos func(t *testing.T) Repos) {
	t.Helper()
	ctx := context.Background()

	t.Run("create and get", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		in := newUser(t, "Alice."+uniq(t)+"@Example.COM")
		u, err := repo.Create(ctx, in)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if u.ID() <= 0 {
			t.Fatalf("Create assigned id %d, want positive", u.ID())
		}
		if in.ID() != 0 {
			t.Fatal("Create modified its argument")
		}
		checkUser(t, u, in.Email(), domain.RoleUser, true)
		sameTime(t, "created at", u.CreatedAt(), base)
		if u.PasswordHash() != phc {
			t.Errorf("password hash = %q, want %q", u.PasswordHash(), phc)
		}
		byID, err := repo.ByID(ctx, u.ID())
		if err != nil {
			t.Fatalf("ByID: %v", err)
		}
		checkSameUser(t, byID, u)
		byEmail, err := repo.ByEmail(ctx, in.Email())
		if err != nil {
			t.Fatalf("ByEmail: %v", err)
		}
		checkSameUser(t, byEmail, u)

		second, err := repo.Create(ctx, newUser(t, "bob."+uniq(t)+"@example.com"))
		if err != nil {
			t.Fatalf("Create second: %v", err)
		}
		if second.ID() <= u.ID() {
			t.Fatalf("second id %d not after first id %d", second.ID(), u.ID())
		}
	})

	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		u, err := repo.Create(ctx, newUser(t, "carol."+uniq(t)+"@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.ByID(ctx, u.ID()+1000); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("ByID(missing) error = %v, want ErrUserNotFound", err)
		}
		if _, err := repo.ByEmail(ctx, domain.MustParseEmail("nobody."+uniq(t)+"@example.com")); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("ByEmail(missing) error = %v, want ErrUserNotFound", err)
		}
	})

	t.Run("email taken", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		local := "dave." + uniq(t)
		if _, err := repo.Create(ctx, newUser(t, local+"@x.io")); err != nil {
			t.Fatal(err)
		}
		for _, variant := range []string{local + "@x.io", local + "@X.IO", "  " + local + "@x.Io "} {
			if _, err := repo.Create(ctx, newUser(t, variant)); !errors.Is(err, domain.ErrEmailTaken) {
				t.Errorf("Create(%q) error = %v, want ErrEmailTaken", variant, err)
			}
		}
	})

	t.Run("update role and deactivate", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		u := mustCreate(t, repo, "erin")
		admin := domain.RoleAdmin
		got, err := repo.Update(ctx, u.ID(), func(u *domain.User) error {
			u.Apply(domain.UserChange{Role: &admin}, base)
			u.UpgradePasswordHash(phc + "x")
			return nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		checkUser(t, got, u.Email(), domain.RoleAdmin, true)
		stored, _ := repo.ByID(ctx, u.ID())
		checkSameUser(t, stored, got)
		if stored.PasswordHash() != phc+"x" {
			t.Errorf("password hash not stored: %q", stored.PasswordHash())
		}
		sameTime(t, "created at", stored.CreatedAt(), base)

		// A second admin, so that deactivating the first is allowed.
		mustPromote(t, repo, mustCreate(t, repo, "frank").ID())
		mustSetActive(t, repo, u.ID(), false, base)
		stored, _ = repo.ByID(ctx, u.ID())
		checkUser(t, stored, u.Email(), domain.RoleAdmin, false)
		if stored.SessionEpoch() != u.SessionEpoch()+1 {
			t.Errorf("session epoch after deactivation = %d, want %d", stored.SessionEpoch(), u.SessionEpoch()+1)
		}
	})

	t.Run("update failure stores nothing", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		u := mustCreate(t, repo, "grace")
		errBoom := errors.New("boom")
		admin, off := domain.RoleAdmin, false
		got, err := repo.Update(ctx, u.ID(), func(u *domain.User) error {
			u.Apply(domain.UserChange{Role: &admin, Active: &off}, base)
			return errBoom
		})
		if !errors.Is(err, errBoom) || got != nil {
			t.Fatalf("Update = (%v, %v), want (nil, errBoom)", got, err)
		}
		stored, _ := repo.ByID(ctx, u.ID())
		checkUser(t, stored, u.Email(), domain.RoleUser, true)
	})

	t.Run("update missing user", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		u := mustCreate(t, repo, "heidi")
		called := false
		_, err := repo.Update(ctx, u.ID()+1000, func(*domain.User) error { called = true; return nil })
		if !errors.Is(err, domain.ErrUserNotFound) || called {
			t.Fatalf("Update(missing) = %v (fn called: %v), want ErrUserNotFound without calling fn", err, called)
		}
	})

	t.Run("only active admins count as other admins", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		a := mustCreate(t, repo, "ivan")
		b := mustCreate(t, repo, "judy")
		mustPromote(t, repo, a.ID())
		mustPromote(t, repo, b.ID())
		// An inactive admin is not an active admin: with b switched off, a
		// is the last one.
		mustSetActive(t, repo, b.ID(), false, base)
		user := domain.RoleUser
		if _, err := repo.Update(ctx, a.ID(), func(u *domain.User) error {
			u.Apply(domain.UserChange{Role: &user}, base)
			return nil
		}); !errors.Is(err, domain.ErrLastAdmin) {
			t.Fatalf("demoting the only active admin: %v, want ErrLastAdmin", err)
		}
		mustSetActive(t, repo, b.ID(), true, base)
		if _, err := repo.Update(ctx, a.ID(), func(u *domain.User) error {
			u.Apply(domain.UserChange{Role: &user}, base)
			return nil
		}); err != nil {
			t.Fatalf("demoting one of two active admins: %v", err)
		}
	})

	t.Run("last admin", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		a := mustCreate(t, repo, "niaj")
		mustPromote(t, repo, a.ID())
		user, off := domain.RoleUser, false
		for _, c := range []domain.UserChange{{Role: &user}, {Active: &off}, {Role: &user, Active: &off}} {
			if _, err := repo.Update(ctx, a.ID(), func(u *domain.User) error {
				u.Apply(c, base)
				return nil
			}); !errors.Is(err, domain.ErrLastAdmin) {
				t.Errorf("Update(%+v) on the last admin error = %v, want ErrLastAdmin", c, err)
			}
		}
		stored, _ := repo.ByID(ctx, a.ID())
		checkUser(t, stored, a.Email(), domain.RoleAdmin, true)
		if stored.SessionEpoch() != a.SessionEpoch() {
			t.Errorf("a refused deactivation moved the session epoch to %d", stored.SessionEpoch())
		}
	})

	t.Run("two admins demote each other concurrently", func(t *testing.T) {
		t.Parallel()
		for round := range 10 {
			repo := newRepos(t).Users
			a := mustCreate(t, repo, fmt.Sprint("olivia", round))
			b := mustCreate(t, repo, fmt.Sprint("peggy", round))
			mustPromote(t, repo, a.ID())
			mustPromote(t, repo, b.ID())
			user := domain.RoleUser
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, id := range []domain.UserID{a.ID(), b.ID()} {
				wg.Go(func() {
					<-start
					_, errs[i] = repo.Update(ctx, id, func(u *domain.User) error {
						u.Apply(domain.UserChange{Role: &user}, base)
						return nil
					})
				})
			}
			close(start)
			wg.Wait()
			ok, last := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, domain.ErrLastAdmin):
					last++
				default:
					t.Fatalf("round %d: unexpected error %v", round, err)
				}
			}
			if ok != 1 || last != 1 {
				t.Fatalf("round %d: %d succeeded and %d got ErrLastAdmin, want 1 and 1", round, ok, last)
			}
			admins := 0
			for _, id := range []domain.UserID{a.ID(), b.ID()} {
				if u, _ := repo.ByID(ctx, id); u.IsAdmin() {
					admins++
				}
			}
			if admins != 1 {
				t.Fatalf("round %d: %d active admins left, want 1", round, admins)
			}
		}
	})

	t.Run("a change that keeps every admin waits for no other user", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		a := mustCreate(t, repo, "quentin")
		b := mustCreate(t, repo, "rosa")
		mustPromote(t, repo, a.ID())
		mustPromote(t, repo, b.ID())
		// An update of b holds b while its fn runs.
		entered, release := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() {
			_, err := repo.Update(ctx, b.ID(), func(*domain.User) error {
				close(entered)
				<-release
				return nil
			})
			held <- err
		}()
		<-entered
		// A password change of the other admin neither counts nor locks
		// the admins, so it does not wait for b.
		done := make(chan error, 1)
		go func() {
			_, err := repo.Update(ctx, a.ID(), func(u *domain.User) error {
				u.ChangePassword(phc+"new", uuid.Nil, base)
				return nil
			})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
			close(release)
		case <-time.After(5 * time.Second):
			t.Error("a password change waited for an update of another admin")
			close(release)
			err = <-done
		}
		if err != nil {
			t.Errorf("password change of another admin: %v", err)
		}
		if err := <-held; err != nil {
			t.Fatalf("held update: %v", err)
		}
	})

	t.Run("deactivation ends every session in the same transaction", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "sam")
		other := mustCreate(t, r.Users, "tara")
		mustFamily(t, r.Families, u, base)
		mustFamily(t, r.Families, u, base)
		fo, _ := mustFamily(t, r.Families, other, base)
		now := base.Add(time.Minute)
		mustSetActive(t, r.Users, u.ID(), false, now)
		if live := mustListLive(t, r.Families, u.ID(), now); len(live) != 0 {
			t.Fatalf("live sessions after deactivation = %d, want 0", len(live))
		}
		checkFamilies(t, mustListLive(t, r.Families, other.ID(), now), fo)

		// When ending the sessions fails, the deactivation is not stored
		// either.
		v := mustCreate(t, r.Users, "uma")
		fv, _ := mustFamily(t, r.Families, v, base)
		r.BreakSessionEnds(t)
		off := false
		if _, err := r.Users.Update(ctx, v.ID(), func(u *domain.User) error {
			u.Apply(domain.UserChange{Active: &off}, now)
			return nil
		}); err == nil {
			t.Fatal("deactivation succeeded although its sessions could not be ended")
		}
		stored, _ := r.Users.ByID(ctx, v.ID())
		checkUser(t, stored, v.Email(), domain.RoleUser, true)
		checkFamilies(t, mustListLive(t, r.Families, v.ID(), now), fv)
	})

	t.Run("password change ends the other sessions atomically", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "victor")
		keep, _ := mustFamily(t, r.Families, u, base)
		mustFamily(t, r.Families, u, base)
		now := base.Add(time.Minute)
		if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
			u.ChangePassword(phc+"2", keep, now)
			return nil
		}); err != nil {
			t.Fatalf("password change: %v", err)
		}
		checkFamilies(t, mustListLive(t, r.Families, u.ID(), now), keep)

		// A failure between the two writes leaves neither.
		v := mustCreate(t, r.Users, "wanda")
		k2, _ := mustFamily(t, r.Families, v, base)
		o2, _ := mustFamily(t, r.Families, v, base.Add(time.Second))
		r.BreakSessionEnds(t)
		if _, err := r.Users.Update(ctx, v.ID(), func(u *domain.User) error {
			u.ChangePassword(phc+"3", k2, now)
			return nil
		}); err == nil {
			t.Fatal("password change succeeded although the other sessions could not be ended")
		}
		stored, _ := r.Users.ByID(ctx, v.ID())
		if stored.PasswordHash() != phc || stored.SessionEpoch() != v.SessionEpoch() {
			t.Errorf("after the failed change: hash %q epoch %d, want the old ones", stored.PasswordHash(), stored.SessionEpoch())
		}
		checkFamilies(t, mustListLive(t, r.Families, v.ID(), now), o2, k2)
	})

	t.Run("a login racing a password change cannot keep a session made with the old password", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "xena")
		read := u // what a login read before checking the password
		mustChangePassword(t, r.Users, u.ID(), base)
		_, err := createFamily(ctx, r.Families, read, base.Add(time.Second))
		if !errors.Is(err, ports.ErrOwnerChanged) {
			t.Fatalf("opening a session with the user as read before the change: %v, want ErrOwnerChanged", err)
		}
		// A deactivation in between refuses the session the same way.
		v := mustCreate(t, r.Users, "yuri")
		mustSetActive(t, r.Users, v.ID(), false, base)
		if _, err := createFamily(ctx, r.Families, v, base.Add(time.Second)); !errors.Is(err, ports.ErrOwnerChanged) {
			t.Fatalf("opening a session for a user deactivated since: %v, want ErrOwnerChanged", err)
		}
		// Read afresh, the user can log in again.
		fresh, _ := r.Users.ByID(ctx, u.ID())
		if _, err := createFamily(ctx, r.Families, fresh, base.Add(2*time.Second)); err != nil {
			t.Fatalf("opening a session after reading the user again: %v", err)
		}

		// Concurrently: sessions opened by logins that read the user
		// before the change either existed before it (and it ended them)
		// or are refused; none stays live.
		for round := range 5 {
			w := mustCreate(t, r.Users, fmt.Sprint("zoe", round))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					<-start
					for range 5 {
						if _, err := createFamily(ctx, r.Families, w, base); err != nil && !errors.Is(err, ports.ErrOwnerChanged) {
							t.Errorf("round %d: create: %v", round, err)
						}
					}
				})
			}
			close(start)
			mustChangePassword(t, r.Users, w.ID(), base.Add(time.Second))
			wg.Wait()
			if live := mustListLive(t, r.Families, w.ID(), base.Add(time.Minute)); len(live) != 0 {
				t.Fatalf("round %d: %d sessions opened with the old password are live", round, len(live))
			}
		}
	})

	t.Run("events are stored with the change and only with it", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		nu := newUser(t, "ava."+uniq(t)+"@example.com")
		nu.Audit(domain.AuthEvent{Type: domain.EventUserRegistered, Client: domain.NewClientInfo("curl", "192.0.2.9"), At: base})
		u, err := r.Users.Create(ctx, nu)
		if err != nil {
			t.Fatal(err)
		}
		admin := mustCreate(t, r.Users, "root")
		off := false
		if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
			u.Apply(domain.UserChange{Active: &off}, base)
			u.Audit(domain.AuthEvent{Type: domain.EventUserDeactivated, UserID: u.ID(), ActorID: admin.ID(),
				Detail: map[string]string{"why": "test"}, At: base.Add(time.Second)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A failing fn, and a change whose session endings fail, store no event.
		if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
			u.Audit(domain.AuthEvent{Type: domain.EventRoleChanged, UserID: u.ID(), At: base})
			return errors.New("boom")
		}); err == nil {
			t.Fatal("Update with a failing fn succeeded")
		}
		v := mustCreate(t, r.Users, "bea")
		mustFamily(t, r.Families, v, base)
		r.BreakSessionEnds(t)
		if _, err := r.Users.Update(ctx, v.ID(), func(u *domain.User) error {
			u.ChangePassword(phc+"x", uuid.Nil, base)
			u.Audit(domain.AuthEvent{Type: domain.EventPasswordChanged, UserID: u.ID(), At: base})
			return nil
		}); err == nil {
			t.Fatal("a password change whose sessions could not be ended succeeded")
		}
		got := mustEvents(t, r.Audit)
		want := []domain.AuthEvent{
			{Type: domain.EventUserRegistered, UserID: u.ID(), Client: domain.NewClientInfo("curl", "192.0.2.9"), At: base},
			{Type: domain.EventUserDeactivated, UserID: u.ID(), ActorID: admin.ID(), Detail: map[string]string{"why": "test"}, At: base.Add(time.Second)},
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal), cmp.FilterPath(isEventID, cmp.Ignore())); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("by live session", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "sam")
		other := mustCreate(t, users, "tess")
		sid, _ := mustFamily(t, fams, u, base)
		ended, _ := mustFamily(t, fams, u, base)
		otherSid, _ := mustFamily(t, fams, other, base)
		if err := fams.Update(ctx, ended, func(f *domain.Family) error { f.End(base.Add(time.Minute)); return nil }); err != nil {
			t.Fatal(err)
		}
		now := base.Add(2 * time.Minute)
		got, err := users.ByLiveSession(ctx, sid, now)
		if err != nil {
			t.Fatalf("ByLiveSession(live): %v", err)
		}
		checkSameUser(t, got, u)
		if got.SessionEpoch() != u.SessionEpoch() {
			t.Errorf("session epoch = %d, want %d", got.SessionEpoch(), u.SessionEpoch())
		}
		if got, err := users.ByLiveSession(ctx, otherSid, now); err != nil || got.ID() != other.ID() {
			t.Errorf("ByLiveSession(other's session) = %v, %v; want user %d", got, err, other.ID())
		}
		notFound := map[string]struct {
			sid uuid.UUID
			at  time.Time
		}{
			"unknown session":           {uuid.New(), now},
			"ended session":             {ended, now},
			"at the absolute end":       {sid, base.Add(policy.MaxLifetime)},
			"after the absolute end":    {sid, base.Add(policy.MaxLifetime + time.Second)},
			"nil session id (no claim)": {uuid.Nil, now},
		}
		for name, c := range notFound {
			if got, err := users.ByLiveSession(ctx, c.sid, c.at); !errors.Is(err, domain.ErrSessionNotFound) {
				t.Errorf("%s: ByLiveSession = %v, %v; want ErrSessionNotFound", name, got, err)
			}
		}
		if _, err := users.ByLiveSession(ctx, sid, base.Add(policy.MaxLifetime-time.Microsecond)); err != nil {
			t.Errorf("just before the absolute end: %v, want the user", err)
		}

		// The user is read fresh with its session: a promotion shows at once.
		mustPromote(t, users, u.ID())
		if got, err := users.ByLiveSession(ctx, sid, now); err != nil || got.Role() != domain.RoleAdmin {
			t.Errorf("after promotion: %v, %v; want role admin", got, err)
		}
		// Every change that ends sessions ends this lookup with them.
		mustChangePassword(t, users, u.ID(), now)
		if _, err := users.ByLiveSession(ctx, sid, now); !errors.Is(err, domain.ErrSessionNotFound) {
			t.Errorf("after a password change ending every session: %v, want ErrSessionNotFound", err)
		}
		sid2, _ := mustFamily(t, fams, mustReload(t, users, u.ID()), now)
		mustPromote(t, users, other.ID()) // so that u, an admin, is not the last one
		mustSetActive(t, users, u.ID(), false, now)
		if _, err := users.ByLiveSession(ctx, sid2, now); !errors.Is(err, domain.ErrSessionNotFound) {
			t.Errorf("after deactivation: %v, want ErrSessionNotFound", err)
		}
		if n, err := fams.EndAllForUser(ctx, other.ID(), now, uuid.Nil); err != nil || n != 1 {
			t.Fatalf("EndAllForUser = %d, %v", n, err)
		}
		if _, err := users.ByLiveSession(ctx, otherSid, now); !errors.Is(err, domain.ErrSessionNotFound) {
			t.Errorf("after ending every session of the user: %v, want ErrSessionNotFound", err)
		}
	})

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		repo := newRepos(t).Users
		p := "l" + uniq(t)
		names := []string{p + "a_b", p + "axb", p + "a%c", p + "abc", p + "zed"}
		var ids []domain.UserID
		for _, n := range names {
			ids = append(ids, mustCreateEmail(t, repo, n+"@x.io").ID())
		}
		tests := []struct {
			name string
			q    ports.UserQuery
			want []domain.UserID
		}{
			{"first page", ports.UserQuery{EmailPrefix: p, Limit: 2}, ids[:2]},
			{"second page", ports.UserQuery{EmailPrefix: p, After: ids[1], Limit: 2}, ids[2:4]},
			{"last page", ports.UserQuery{EmailPrefix: p, After: ids[3], Limit: 2}, ids[4:]},
			{"past the end", ports.UserQuery{EmailPrefix: p, After: ids[4], Limit: 2}, nil},
			{"no prefix", ports.UserQuery{After: ids[0] - 1, Limit: 5}, ids},
			{"prefix", ports.UserQuery{EmailPrefix: p + "a", Limit: 10}, ids[:4]},
			{"underscore is literal", ports.UserQuery{EmailPrefix: p + "a_", Limit: 10}, ids[:1]},
			{"percent is literal", ports.UserQuery{EmailPrefix: p + "a%", Limit: 10}, ids[2:3]},
			// Unescaped, `a\%` would match the "a%c" address.
			{"backslash is literal", ports.UserQuery{EmailPrefix: p + `a\`, Limit: 10}, nil},
			{"whole email", ports.UserQuery{EmailPrefix: p + "zed@x.io", Limit: 10}, ids[4:]},
			{"no match", ports.UserQuery{EmailPrefix: p + "q", Limit: 10}, nil},
		}
		for _, tt := range tests {
			got, err := repo.List(ctx, tt.q)
			if err != nil {
				t.Fatalf("%s: List: %v", tt.name, err)
			}
			var gotIDs []domain.UserID
			for _, u := range got {
				gotIDs = append(gotIDs, u.ID())
			}
			if fmt.Sprint(gotIDs) != fmt.Sprint(tt.want) {
				t.Errorf("%s: List(%+v) ids = %v, want %v", tt.name, tt.q, gotIDs, tt.want)
			}
		}
		page, _ := repo.List(ctx, ports.UserQuery{EmailPrefix: p + "zed", Limit: 1})
		if len(page) == 1 {
			checkUser(t, page[0], domain.MustParseEmail(p+"zed@x.io"), domain.RoleUser, true)
			sameTime(t, "created at", page[0].CreatedAt(), base)
		}
	})
}

func mustCreate(t *testing.T, repo ports.UserRepository, name string) *domain.User {
	t.Helper()
	return mustCreateEmail(t, repo, name+"."+uniq(t)+"@example.com")
}

func mustCreateEmail(t *testing.T, repo ports.UserRepository, email string) *domain.User {
	t.Helper()
	u, err := repo.Create(context.Background(), newUser(t, email))
	if err != nil {
		t.Fatalf("Create(%s): %v", email, err)
	}
	return u
}

// mustReload returns the stored state of the user with id.
func mustReload(t *testing.T, repo ports.UserRepository, id domain.UserID) *domain.User {
	t.Helper()
	u, err := repo.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("ByID(%d): %v", id, err)
	}
	return u
}

func mustPromote(t *testing.T, repo ports.UserRepository, id domain.UserID) {
	t.Helper()
	admin := domain.RoleAdmin
	if _, err := repo.Update(context.Background(), id, func(u *domain.User) error {
		u.Apply(domain.UserChange{Role: &admin}, base)
		return nil
	}); err != nil {
		t.Fatalf("promote %d: %v", id, err)
	}
}

func mustSetActive(t *testing.T, repo ports.UserRepository, id domain.UserID, active bool, now time.Time) {
	t.Helper()
	if _, err := repo.Update(context.Background(), id, func(u *domain.User) error {
		u.Apply(domain.UserChange{Active: &active}, now)
		return nil
	}); err != nil {
		t.Fatalf("set active=%v on %d: %v", active, id, err)
	}
}

// mustChangePassword changes the user's password, ending every session.
func mustChangePassword(t *testing.T, repo ports.UserRepository, id domain.UserID, now time.Time) {
	t.Helper()
	if _, err := repo.Update(context.Background(), id, func(u *domain.User) error {
		u.ChangePassword(phc+"changed", uuid.Nil, now)
		return nil
	}); err != nil {
		t.Fatalf("change password of %d: %v", id, err)
	}
}

// createFamily opens a session for u as read by a login.
func createFamily(ctx context.Context, fams ports.FamilyRepository, u *domain.User, now time.Time) (uuid.UUID, error) {
	id := uuid.New()
	_, h, err := domain.NewRefreshSecret(rand.Reader)
	if err != nil {
		return id, err
	}
	return id, fams.Create(ctx, domain.NewFamily(id, u.Owner(), h, domain.ClientInfo{}, now, policy))
}

func checkUser(t *testing.T, u *domain.User, email domain.Email, role domain.Role, active bool) {
	t.Helper()
	if u.Email() != email || u.Role() != role || u.IsActive() != active {
		t.Errorf("user = {%s %s active=%v}, want {%s %s active=%v}", u.Email(), u.Role(), u.IsActive(), email, role, active)
	}
}

func checkSameUser(t *testing.T, got, want *domain.User) {
	t.Helper()
	if got.ID() != want.ID() || got.Email() != want.Email() || got.PasswordHash() != want.PasswordHash() ||
		got.Role() != want.Role() || got.IsActive() != want.IsActive() || !got.CreatedAt().Equal(want.CreatedAt()) {
		t.Errorf("user = %+v, want %+v", *got, *want)
	}
}

// mustEvents returns the whole audit trail, oldest first.
func mustEvents(t *testing.T, audit ports.AuditLog) []domain.AuthEvent {
	t.Helper()
	es, err := audit.List(context.Background(), ports.AuditQuery{})
	if err != nil {
		t.Fatalf("List events: %v", err)
	}
	return es
}
