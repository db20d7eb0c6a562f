package memory_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/memory"
	"authd/domain"
	"authd/ports"
)

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestClock(t *testing.T) {
	t.Parallel()
	c := memory.NewClock(base)
	if !c.Now().Equal(base) {
		t.Fatalf("Now = %s, want %s", c.Now(), base)
	}
	c.Advance(90 * time.Second)
	if want := base.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("after Advance: %s, want %s", c.Now(), want)
	}
	c.Set(base)
	if !c.Now().Equal(base) {
		t.Fatalf("after Set: %s, want %s", c.Now(), base)
	}
}

func TestRandomIsDeterministic(t *testing.T) {
	t.Parallel()
	read := func(seed uint64) []byte {
		b := make([]byte, 64)
		if _, err := memory.NewRandom(seed).Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read(1), read(1)) {
		t.Fatal("same seed, different bytes")
	}
	if bytes.Equal(read(1), read(2)) {
		t.Fatal("different seeds, same bytes")
	}
}

func TestNoAliasing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	users := memory.NewStore().Users()
	in, _ := domain.NewUser(domain.MustParseEmail("a@x.io"), "hash", base)
	out, err := users.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	admin, off := domain.RoleAdmin, false
	in.Apply(domain.UserChange{Role: &admin}, base)
	out.Apply(domain.UserChange{Active: &off}, base)
	got, _ := users.ByID(ctx, out.ID())
	if got.Role() != domain.RoleUser || !got.IsActive() {
		t.Fatalf("stored user changed through a returned or passed pointer: %s active=%v", got.Role(), got.IsActive())
	}
}

func TestDeactivationEndsFamiliesAtTheGivenTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := memory.NewClock(base.Add(time.Hour))
	s := memory.NewStore()
	u, _ := domain.NewUser(domain.MustParseEmail("a@x.io"), "hash", base)
	u, _ = s.Users().Create(ctx, u)
	id := uuid.New()
	_, h, _ := domain.NewRefreshSecret(memory.NewRandom(1))
	f := domain.NewFamily(id, u.Owner(), h, domain.ClientInfo{}, base, domain.DefaultSessionPolicy)
	if err := s.Families().Create(ctx, f); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := s.Users().Update(ctx, u.ID(), func(u *domain.User) error { u.Apply(domain.UserChange{Active: &off}, clock.Now()); return nil }); err != nil {
		t.Fatal(err)
	}
	var revoked time.Time
	_ = s.Families().Update(ctx, id, func(f *domain.Family) error { revoked = f.RevokedAt(); return nil })
	if !revoked.Equal(clock.Now()) {
		t.Fatalf("family ended at %s, want the update's time %s", revoked, clock.Now())
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memory.NewStore()
	s.SetUnavailable(true)
	checks := map[string]error{}
	_, checks["ByID"] = s.Users().ByID(ctx, 1)
	_, checks["List"] = s.Users().List(ctx, ports.UserQuery{})
	checks["UpdateByToken"] = s.Families().UpdateByToken(ctx, domain.TokenHash{}, func(*domain.Family) error { return nil })
	_, checks["ListLive"] = s.Families().ListLive(ctx, 1, base)
	checks["Record"] = s.Audit().Record(ctx, domain.AuthEvent{Type: domain.EventLogout})
	for name, err := range checks {
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("%s while unavailable: %v, want ports.ErrUnavailable", name, err)
		}
	}
	s.SetUnavailable(false)
	if _, err := s.Users().ByID(ctx, 1); !errors.Is(err, domain.ErrUserNotFound) {
		t.Fatalf("ByID after recovery: %v, want ErrUserNotFound", err)
	}
}
