package porttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"authd/domain"
	"authd/ports"
)

// UserRepository runs the contract of ports.UserRepository against the
// repositories newRepo returns, one per subtest.
func UserRepository(t *testing.T, newRepo func(t *testing.T) ports.UserRepository) {
	t.Helper()
	ctx := context.Background()

	t.Run("create and get", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
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
		repo := newRepo(t)
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
		repo := newRepo(t)
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
		repo := newRepo(t)
		u := mustCreate(t, repo, "erin")
		got, err := repo.Update(ctx, u.ID(), time.Now(), func(u *domain.User, _ int) error {
			u.ChangeRole(domain.RoleAdmin)
			u.ChangePasswordHash(phc + "x")
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
		off := false
		if _, err := repo.Update(ctx, u.ID(), time.Now(), func(u *domain.User, admins int) error {
			return u.Apply(domain.UserChange{Active: &off}, admins)
		}); err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		stored, _ = repo.ByID(ctx, u.ID())
		checkUser(t, stored, u.Email(), domain.RoleAdmin, false)
	})

	t.Run("update failure stores nothing", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		u := mustCreate(t, repo, "grace")
		errBoom := errors.New("boom")
		got, err := repo.Update(ctx, u.ID(), time.Now(), func(u *domain.User, _ int) error {
			u.ChangeRole(domain.RoleAdmin)
			u.Deactivate()
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
		repo := newRepo(t)
		u := mustCreate(t, repo, "heidi")
		called := false
		_, err := repo.Update(ctx, u.ID()+1000, time.Now(), func(*domain.User, int) error { called = true; return nil })
		if !errors.Is(err, domain.ErrUserNotFound) || called {
			t.Fatalf("Update(missing) = %v (fn called: %v), want ErrUserNotFound without calling fn", err, called)
		}
	})

	t.Run("active admins are counted", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		a := mustCreate(t, repo, "ivan")
		b := mustCreate(t, repo, "judy")
		c := mustCreate(t, repo, "mallory")
		if n := adminsSeen(t, repo, a.ID()); n != 0 {
			t.Fatalf("active admins = %d, want 0", n)
		}
		mustPromote(t, repo, a.ID())
		mustPromote(t, repo, b.ID())
		if n := adminsSeen(t, repo, c.ID()); n != 2 {
			t.Fatalf("active admins = %d, want 2", n)
		}
		// An inactive admin is not an active admin.
		if _, err := repo.Update(ctx, b.ID(), time.Now(), func(u *domain.User, _ int) error { u.Deactivate(); return nil }); err != nil {
			t.Fatal(err)
		}
		if n := adminsSeen(t, repo, c.ID()); n != 1 {
			t.Fatalf("active admins after deactivating one = %d, want 1", n)
		}
	})

	t.Run("last admin", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		a := mustCreate(t, repo, "niaj")
		mustPromote(t, repo, a.ID())
		user, off := domain.RoleUser, false
		for _, c := range []domain.UserChange{{Role: &user}, {Active: &off}, {Role: &user, Active: &off}} {
			if _, err := repo.Update(ctx, a.ID(), time.Now(), func(u *domain.User, admins int) error {
				return u.Apply(c, admins)
			}); !errors.Is(err, domain.ErrLastAdmin) {
				t.Errorf("Update(%+v) on the last admin error = %v, want ErrLastAdmin", c, err)
			}
		}
		stored, _ := repo.ByID(ctx, a.ID())
		checkUser(t, stored, a.Email(), domain.RoleAdmin, true)
	})

	t.Run("two admins demote each other concurrently", func(t *testing.T) {
		t.Parallel()
		for round := range 10 {
			repo := newRepo(t)
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
					_, errs[i] = repo.Update(ctx, id, time.Now(), func(u *domain.User, admins int) error {
						return u.Apply(domain.UserChange{Role: &user}, admins)
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
			if n := adminsSeen(t, repo, a.ID()); n != 1 {
				t.Fatalf("round %d: %d active admins left, want 1", round, n)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
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

func mustPromote(t *testing.T, repo ports.UserRepository, id domain.UserID) {
	t.Helper()
	admin := domain.RoleAdmin
	if _, err := repo.Update(context.Background(), id, time.Now(), func(u *domain.User, admins int) error {
		return u.Apply(domain.UserChange{Role: &admin}, admins)
	}); err != nil {
		t.Fatalf("promote %d: %v", id, err)
	}
}

// adminsSeen returns the active-admin count an Update of id is given.
func adminsSeen(t *testing.T, repo ports.UserRepository, id domain.UserID) int {
	t.Helper()
	errSeen := errors.New("seen")
	n := -1
	if _, err := repo.Update(context.Background(), id, time.Now(), func(_ *domain.User, admins int) error {
		n = admins
		return errSeen
	}); !errors.Is(err, errSeen) {
		t.Fatalf("Update: %v", err)
	}
	return n
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
