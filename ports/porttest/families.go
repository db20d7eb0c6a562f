package porttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// policy is short enough that the suites can step past every deadline.
var policy = domain.SessionPolicy{TokenTTL: time.Hour, MaxLifetime: 24 * time.Hour}

// FamilyRepository runs the contract of ports.FamilyRepository against the
// repositories newRepos returns, one set per subtest.
func FamilyRepository(t *testing.T, newRepos func(t *testing.T) Repos) {
	t.Helper()
	ctx := context.Background()

	t.Run("create and load", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "alice")
		client := domain.NewClientInfo("Mozilla/5.0 (X11)", "192.0.2.7")
		id := uuid.New()
		first := newHash(t)
		if err := fams.Create(ctx, domain.NewFamily(id, owner(u), first, client, base, policy)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		var loaded *domain.Family
		if err := fams.UpdateByToken(ctx, first, func(f *domain.Family) error { loaded = f; return nil }); err != nil {
			t.Fatalf("UpdateByToken: %v", err)
		}
		if loaded.ID() != id || loaded.UserID() != u.ID() || loaded.Client() != client {
			t.Errorf("family = {%s user %d %+v}, want {%s user %d %+v}", loaded.ID(), loaded.UserID(), loaded.Client(), id, u.ID(), client)
		}
		if loaded.Owner() != owner(u) {
			t.Errorf("owner = %+v, want %+v", loaded.Owner(), owner(u))
		}
		sameTime(t, "created at", loaded.CreatedAt(), base)
		sameTime(t, "last used at", loaded.LastUsedAt(), base)
		sameTime(t, "expires at", loaded.ExpiresAt(), base.Add(policy.MaxLifetime))
		if !loaded.RevokedAt().IsZero() {
			t.Errorf("revoked at = %s, want zero", loaded.RevokedAt())
		}
		p, ok := loaded.Presented()
		if !ok || p.Hash() != first || p.IsRevoked() || p.ID() <= 0 {
			t.Fatalf("presented = %+v (%v), want the stored first token", p, ok)
		}
		sameTime(t, "token expires at", p.ExpiresAt(), base.Add(policy.TokenTTL))
		sameTime(t, "token created at", p.CreatedAt(), base)
	})

	t.Run("rotation", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "bob")
		id, h1 := mustFamily(t, fams, u, base)
		h2, h3 := newHash(t), newHash(t)
		at := base.Add(10 * time.Minute)
		if err := rotate(ctx, fams, h1, h2, at); err != nil {
			t.Fatalf("rotate first: %v", err)
		}
		var (
			family   uuid.UUID
			p        domain.RefreshToken
			lastUsed time.Time
		)
		if err := fams.UpdateByToken(ctx, h2, func(f *domain.Family) error {
			family, lastUsed = f.ID(), f.LastUsedAt()
			p, _ = f.Presented()
			return f.Rotate(h3, at.Add(time.Minute), policy)
		}); err != nil {
			t.Fatalf("rotate successor: %v", err)
		}
		if family != id {
			t.Fatalf("successor belongs to family %s, want %s", family, id)
		}
		sameTime(t, "successor expires at", p.ExpiresAt(), at.Add(policy.TokenTTL))
		sameTime(t, "successor created at", p.CreatedAt(), at)
		sameTime(t, "last used at", lastUsed, at)
		live := mustListLive(t, fams, u.ID(), at.Add(time.Minute))
		if len(live) != 1 {
			t.Fatalf("live families = %d, want 1", len(live))
		}
		sameTime(t, "listed last used at", live[0].LastUsedAt(), at.Add(time.Minute))
	})

	t.Run("reuse ends the family", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "carol")
		_, h1 := mustFamily(t, fams, u, base)
		h2, stolen := newHash(t), newHash(t)
		if err := rotate(ctx, fams, h1, h2, base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := rotate(ctx, fams, h1, stolen, base.Add(2*time.Minute)); !errors.Is(err, domain.ErrRefreshTokenReused) {
			t.Fatalf("replaying the rotated token: %v, want ErrRefreshTokenReused", err)
		}
		if err := rotate(ctx, fams, h2, newHash(t), base.Add(3*time.Minute)); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Fatalf("the successor after a reuse: %v, want ErrInvalidRefreshToken", err)
		}
		if err := rotate(ctx, fams, stolen, newHash(t), base.Add(3*time.Minute)); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Fatalf("the token the replay asked for: %v, want ErrInvalidRefreshToken (it must not be stored)", err)
		}
		if live := mustListLive(t, fams, u.ID(), base.Add(3*time.Minute)); len(live) != 0 {
			t.Fatalf("live families after a reuse = %d, want 0", len(live))
		}
		var p domain.RefreshToken
		_ = fams.UpdateByToken(ctx, h2, func(f *domain.Family) error { p, _ = f.Presented(); return nil })
		if !p.IsRevoked() {
			t.Error("the successor token is not marked revoked after the family ended")
		}
	})

	t.Run("unknown token", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		mustFamily(t, fams, mustCreate(t, users, "dave"), base)
		called := false
		err := fams.UpdateByToken(ctx, newHash(t), func(*domain.Family) error { called = true; return nil })
		if !errors.Is(err, domain.ErrInvalidRefreshToken) || called {
			t.Fatalf("UpdateByToken(unknown) = %v (fn called: %v), want ErrInvalidRefreshToken without calling fn", err, called)
		}
		ghost := domain.Owner{ID: 1 << 40, Role: domain.RoleUser, Active: true}
		if err := fams.Create(ctx, domain.NewFamily(uuid.New(), ghost, newHash(t), domain.ClientInfo{}, base, policy)); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("Create for a missing user = %v, want ErrUserNotFound", err)
		}
	})

	t.Run("token expiry", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "erin")
		_, h1 := mustFamily(t, fams, u, base)
		if err := rotate(ctx, fams, h1, newHash(t), base.Add(policy.TokenTTL)); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Fatalf("rotating at the token's expiry: %v, want ErrInvalidRefreshToken", err)
		}
		// An expired token is not a reuse: the session lives on.
		if live := mustListLive(t, fams, u.ID(), base.Add(policy.TokenTTL)); len(live) != 1 {
			t.Fatalf("live families after an expired token = %d, want 1", len(live))
		}
		_, h2 := mustFamily(t, fams, u, base)
		if err := rotate(ctx, fams, h2, newHash(t), base.Add(policy.TokenTTL-time.Second)); err != nil {
			t.Fatalf("rotating just before the token's expiry: %v", err)
		}
	})

	t.Run("absolute end", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "frank")
		short := domain.SessionPolicy{TokenTTL: time.Hour, MaxLifetime: 2 * time.Hour}
		h1 := newHash(t)
		if err := fams.Create(ctx, domain.NewFamily(uuid.New(), owner(u), h1, domain.ClientInfo{}, base, short)); err != nil {
			t.Fatal(err)
		}
		h2, h3 := newHash(t), newHash(t)
		steps := []struct {
			from, to domain.TokenHash
			at       time.Duration
		}{{h1, h2, 50 * time.Minute}, {h2, h3, 100 * time.Minute}}
		for _, s := range steps {
			if err := fams.UpdateByToken(ctx, s.from, func(f *domain.Family) error {
				return f.Rotate(s.to, base.Add(s.at), short)
			}); err != nil {
				t.Fatalf("rotate at +%s: %v", s.at, err)
			}
		}
		var p domain.RefreshToken
		var expires time.Time
		err := fams.UpdateByToken(ctx, h3, func(f *domain.Family) error {
			p, _ = f.Presented()
			expires = f.ExpiresAt()
			return f.Rotate(newHash(t), base.Add(2*time.Hour), short)
		})
		if !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Fatalf("rotating at the absolute end: %v, want ErrInvalidRefreshToken", err)
		}
		sameTime(t, "session end after rotations", expires, base.Add(2*time.Hour))
		sameTime(t, "last token's expiry (capped)", p.ExpiresAt(), base.Add(2*time.Hour))
		if live := mustListLive(t, fams, u.ID(), base.Add(2*time.Hour)); len(live) != 0 {
			t.Fatalf("live families at the absolute end = %d, want 0", len(live))
		}
		if live := mustListLive(t, fams, u.ID(), base.Add(2*time.Hour-time.Second)); len(live) != 1 {
			t.Fatalf("live families just before the absolute end = %d, want 1", len(live))
		}
	})

	t.Run("logout is idempotent", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "grace")
		id, h1 := mustFamily(t, fams, u, base)
		end := func(at time.Time) func(*domain.Family) error {
			return func(f *domain.Family) error { f.End(at); return nil }
		}
		if err := fams.UpdateByToken(ctx, h1, end(base.Add(time.Minute))); err != nil {
			t.Fatalf("end by token: %v", err)
		}
		if err := fams.UpdateByToken(ctx, h1, end(base.Add(2*time.Minute))); err != nil {
			t.Fatalf("end by token again: %v", err)
		}
		if err := fams.Update(ctx, id, end(base.Add(3*time.Minute))); err != nil {
			t.Fatalf("end by id: %v", err)
		}
		var revoked time.Time
		_ = fams.Update(ctx, id, func(f *domain.Family) error { revoked = f.RevokedAt(); return nil })
		sameTime(t, "revoked at", revoked, base.Add(time.Minute))
		if err := rotate(ctx, fams, h1, newHash(t), base.Add(4*time.Minute)); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Fatalf("rotating after logout: %v, want ErrInvalidRefreshToken", err)
		}
	})

	t.Run("decision stored when fn fails", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "heidi")
		_, h1 := mustFamily(t, fams, u, base)
		errBoom := errors.New("boom")
		err := fams.UpdateByToken(ctx, h1, func(f *domain.Family) error {
			f.End(base.Add(time.Minute))
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("UpdateByToken = %v, want fn's error", err)
		}
		if live := mustListLive(t, fams, u.ID(), base.Add(time.Minute)); len(live) != 0 {
			t.Fatalf("live families = %d, want 0: the end must be stored although fn failed", len(live))
		}
	})

	t.Run("concurrent rotations of one token", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "ivan")
		_, h1 := mustFamily(t, fams, u, base)
		const n = 50
		next := make([]domain.TokenHash, n)
		for i := range next {
			next[i] = newHash(t)
		}
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = rotate(ctx, fams, h1, next[i], base.Add(time.Minute))
			})
		}
		close(start)
		wg.Wait()
		wins, reused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, domain.ErrRefreshTokenReused):
				reused++
			case errors.Is(err, domain.ErrInvalidRefreshToken):
			default:
				t.Fatalf("rotation %d: unexpected error %v", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d rotations succeeded, want exactly 1", wins)
		}
		// At most one token of the family is usable, and none once a reuse
		// was detected.
		usable := 0
		for _, h := range next {
			if rotate(ctx, fams, h, newHash(t), base.Add(2*time.Minute)) == nil {
				usable++
			}
		}
		if usable > 1 || (reused > 0 && usable != 0) {
			t.Fatalf("%d successor tokens usable after %d reuses, want at most 1 and none after a reuse", usable, reused)
		}
	})

	t.Run("end all for user", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "judy")
		other := mustCreate(t, users, "mallory")
		// An expired session is not live, so it is neither ended nor counted.
		mustFamily(t, fams, u, base.Add(-2*policy.MaxLifetime))
		f1, _ := mustFamily(t, fams, u, base)
		f2, h2 := mustFamily(t, fams, u, base.Add(time.Minute))
		f3, _ := mustFamily(t, fams, u, base.Add(2*time.Minute))
		fo, _ := mustFamily(t, fams, other, base)
		now := base.Add(3 * time.Minute)
		if n, err := fams.EndAllForUser(ctx, u.ID(), now, f2); err != nil || n != 2 {
			t.Fatalf("EndAllForUser(except f2) = (%d, %v), want (2, nil)", n, err)
		}
		checkFamilies(t, mustListLive(t, fams, u.ID(), now), f2)
		checkFamilies(t, mustListLive(t, fams, other.ID(), now), fo)
		for _, id := range []uuid.UUID{f1, f3} {
			var revoked time.Time
			_ = fams.Update(ctx, id, func(f *domain.Family) error { revoked = f.RevokedAt(); return nil })
			sameTime(t, "revoked at", revoked, now)
		}
		if err := rotate(ctx, fams, h2, newHash(t), now); err != nil {
			t.Fatalf("the kept family no longer rotates: %v", err)
		}
		if n, err := fams.EndAllForUser(ctx, u.ID(), now, uuid.Nil); err != nil || n != 1 {
			t.Fatalf("EndAllForUser(all) = (%d, %v), want (1, nil)", n, err)
		}
		if n, err := fams.EndAllForUser(ctx, u.ID(), now, uuid.Nil); err != nil || n != 0 {
			t.Fatalf("EndAllForUser(again) = (%d, %v), want (0, nil)", n, err)
		}
		checkFamilies(t, mustListLive(t, fams, other.ID(), now), fo)
	})

	t.Run("list live newest first", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "niaj")
		short := domain.SessionPolicy{TokenTTL: time.Minute, MaxLifetime: time.Minute}
		if err := fams.Create(ctx, domain.NewFamily(uuid.New(), owner(u), newHash(t), domain.ClientInfo{}, base, short)); err != nil {
			t.Fatal(err)
		}
		f1, _ := mustFamily(t, fams, u, base)
		f2, _ := mustFamily(t, fams, u, base.Add(time.Minute))
		ended, _ := mustFamily(t, fams, u, base.Add(90*time.Second))
		f3, _ := mustFamily(t, fams, u, base.Add(2*time.Minute))
		if err := fams.Update(ctx, ended, func(f *domain.Family) error { f.End(base.Add(2 * time.Minute)); return nil }); err != nil {
			t.Fatal(err)
		}
		now := base.Add(3 * time.Minute)
		live := mustListLive(t, fams, u.ID(), now)
		checkFamilies(t, live, f3, f2, f1)
		if len(live) == 3 {
			sameTime(t, "created at", live[1].CreatedAt(), base.Add(time.Minute))
			sameTime(t, "expires at", live[1].ExpiresAt(), base.Add(time.Minute+policy.MaxLifetime))
			if _, ok := live[1].Presented(); ok {
				t.Error("a listed family has a presented token")
			}
		}
		if live := mustListLive(t, fams, u.ID()+1000, now); len(live) != 0 {
			t.Errorf("families of an unknown user = %d, want 0", len(live))
		}
	})

	t.Run("update by id", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "olivia")
		id, h1 := mustFamily(t, fams, u, base)
		called := false
		if err := fams.Update(ctx, uuid.New(), func(*domain.Family) error { called = true; return nil }); !errors.Is(err, domain.ErrSessionNotFound) || called {
			t.Fatalf("Update(unknown id) = %v (fn called: %v), want ErrSessionNotFound without calling fn", err, called)
		}
		errBoom := errors.New("boom")
		if err := fams.Update(ctx, id, func(f *domain.Family) error {
			if _, ok := f.Presented(); ok {
				t.Error("a family loaded by id has a presented token")
			}
			if f.ID() != id || f.UserID() != u.ID() {
				t.Errorf("loaded family %s of user %d, want %s of %d", f.ID(), f.UserID(), id, u.ID())
			}
			f.End(base.Add(time.Minute))
			return errBoom
		}); !errors.Is(err, errBoom) {
			t.Fatalf("Update = %v, want fn's error", err)
		}
		if err := rotate(ctx, fams, h1, newHash(t), base.Add(2*time.Minute)); !errors.Is(err, domain.ErrInvalidRefreshToken) {
			t.Fatalf("rotating in a family ended by id: %v, want ErrInvalidRefreshToken", err)
		}
	})

	t.Run("owner is loaded fresh", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "peggy")
		_, h1 := mustFamily(t, fams, u, base)
		mustPromote(t, users, u.ID())
		var got domain.Owner
		_ = fams.UpdateByToken(ctx, h1, func(f *domain.Family) error { got = f.Owner(); return nil })
		if want := (domain.Owner{ID: u.ID(), Role: domain.RoleAdmin, Active: true, SessionEpoch: u.SessionEpoch()}); got != want {
			t.Fatalf("owner = %+v, want %+v", got, want)
		}
	})

	t.Run("events are stored with the change and only with it", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "tess")
		id, h1 := uuid.New(), newHash(t)
		f := domain.NewFamily(id, owner(u), h1, domain.ClientInfo{}, base, policy)
		f.Audit(domain.AuthEvent{Type: domain.EventLoginSucceeded, UserID: u.ID(), SessionID: id, At: base})
		if err := r.Families.Create(ctx, f); err != nil {
			t.Fatal(err)
		}
		// A family that does not change stores no event.
		if err := r.Families.UpdateByToken(ctx, h1, func(f *domain.Family) error {
			f.Audit(domain.AuthEvent{Type: domain.EventRoleChanged, UserID: u.ID(), At: base})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A reuse: the end and its event are stored although fn fails.
		h2 := newHash(t)
		if err := rotate(ctx, r.Families, h1, h2, base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := r.Families.UpdateByToken(ctx, h1, func(f *domain.Family) error {
			err := f.Rotate(newHash(t), base.Add(2*time.Minute), policy)
			f.Audit(domain.AuthEvent{Type: domain.EventRefreshReused, UserID: u.ID(), SessionID: id, At: base.Add(2 * time.Minute)})
			return err
		}); !errors.Is(err, domain.ErrRefreshTokenReused) {
			t.Fatalf("reuse: %v", err)
		}
		// A family refused because its owner changed stores no event.
		stale := domain.NewFamily(uuid.New(), owner(u), newHash(t), domain.ClientInfo{}, base, policy)
		stale.Audit(domain.AuthEvent{Type: domain.EventLoginSucceeded, UserID: u.ID(), At: base})
		mustSetActive(t, r.Users, u.ID(), false, base.Add(3*time.Minute))
		if err := r.Families.Create(ctx, stale); !errors.Is(err, ports.ErrOwnerChanged) {
			t.Fatalf("Create with a stale owner: %v", err)
		}
		v := mustCreate(t, r.Users, "uri")
		mustFamily(t, r.Families, v, base)
		if n, err := r.Families.EndAllForUser(ctx, v.ID(), base.Add(4*time.Minute), uuid.Nil,
			domain.AuthEvent{Type: domain.EventLogoutAll, UserID: v.ID(), At: base.Add(4 * time.Minute)}); err != nil || n != 1 {
			t.Fatalf("EndAllForUser = %d, %v", n, err)
		}
		var types []domain.EventType
		for _, e := range mustEvents(t, r.Audit) {
			types = append(types, e.Type)
		}
		want := []domain.EventType{domain.EventLoginSucceeded, domain.EventRefreshReused, domain.EventLogoutAll}
		if fmt.Sprint(types) != fmt.Sprint(want) {
			t.Errorf("events = %v, want %v", types, want)
		}
	})

	t.Run("deactivating the user ends its families", func(t *testing.T) {
		t.Parallel()
		users, fams := newRepos(t).pair()
		u := mustCreate(t, users, "rupert")
		other := mustCreate(t, users, "sybil")
		_, h1 := mustFamily(t, fams, u, base)
		mustFamily(t, fams, u, base)
		fo, _ := mustFamily(t, fams, other, base)
		mustSetActive(t, users, u.ID(), false, base)
		now := base.Add(time.Minute)
		if live := mustListLive(t, fams, u.ID(), now); len(live) != 0 {
			t.Fatalf("live families of a deactivated user = %d, want 0", len(live))
		}
		checkFamilies(t, mustListLive(t, fams, other.ID(), now), fo)
		if err := rotate(ctx, fams, h1, newHash(t), now); !errors.Is(err, domain.ErrAccountDisabled) {
			t.Fatalf("rotating after deactivation: %v, want ErrAccountDisabled", err)
		}
	})
}

func owner(u *domain.User) domain.Owner { return u.Owner() }

func newHash(t *testing.T) domain.TokenHash {
	t.Helper()
	_, h, err := domain.NewRefreshSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mustFamily opens a session for u at now and returns its id and first token.
func mustFamily(t *testing.T, fams ports.FamilyRepository, u *domain.User, now time.Time) (uuid.UUID, domain.TokenHash) {
	t.Helper()
	id, h := uuid.New(), newHash(t)
	if err := fams.Create(context.Background(), domain.NewFamily(id, owner(u), h, domain.NewClientInfo("test", "192.0.2.1"), now, policy)); err != nil {
		t.Fatalf("Create family: %v", err)
	}
	return id, h
}

func rotate(ctx context.Context, fams ports.FamilyRepository, from, to domain.TokenHash, at time.Time) error {
	return fams.UpdateByToken(ctx, from, func(f *domain.Family) error { return f.Rotate(to, at, policy) })
}

func mustListLive(t *testing.T, fams ports.FamilyRepository, id domain.UserID, now time.Time) []*domain.Family {
	t.Helper()
	live, err := fams.ListLive(context.Background(), id, now)
	if err != nil {
		t.Fatalf("ListLive: %v", err)
	}
	return live
}

func checkFamilies(t *testing.T, got []*domain.Family, want ...uuid.UUID) {
	t.Helper()
	ids := make([]uuid.UUID, len(got))
	for i, f := range got {
		ids[i] = f.ID()
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("families = %v, want %v", ids, want)
	}
}
