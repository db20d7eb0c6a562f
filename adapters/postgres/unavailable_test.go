package postgres_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/postgres"
	"authd/domain"
	"authd/ports"
)

// TestUnreachableServerIsUnavailable needs no server: every operation on a
// port where nothing listens must fail with ports.ErrUnavailable.
func TestUnreachableServerIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more

	db, err := postgres.Open("postgres://postgres@"+addr+"/x?sslmode=disable", postgres.PoolOptions{DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	users := postgres.NewUserRepository(db)
	families := postgres.NewFamilyRepository(db)
	audit := postgres.NewAuditLog(db)
	ctx := context.Background()
	u, _ := domain.NewUser(domain.MustParseEmail("x@example.com"), "h", t0)
	ops := map[string]func() error{
		"Create": func() error { _, err := users.Create(ctx, u); return err },
		"ByID":   func() error { _, err := users.ByID(ctx, 1); return err },
		"List":   func() error { _, err := users.List(ctx, ports.UserQuery{}); return err },
		"Update": func() error {
			_, err := users.Update(ctx, 1, func(*domain.User) error { return nil })
			return err
		},
		"Refresh": func() error {
			return families.UpdateByToken(ctx, domain.HashRefreshToken("x"), func(*domain.Family) error { return nil })
		},
		"EndAll": func() error {
			_, err := families.EndAllForUser(ctx, 1, t0, uuid.Nil)
			return err
		},
		"Record": func() error { return audit.Record(ctx, domain.AuthEvent{Type: domain.EventLogout}) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("%s: %v, want ports.ErrUnavailable", name, err)
		}
	}
}

func TestOpenRejectsBadDSN(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "postgres://user:secret@host:notaport/db"} {
		if _, err := postgres.Open(dsn, postgres.DefaultPoolOptions()); err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
		} else if dsn != "" && containsSecret(err.Error()) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func containsSecret(s string) bool { return strings.Contains(s, "secret") }
