package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/domain"
)

// BenchmarkRotation rotates sessions through UpdateByToken from eight
// goroutines at once, each its own session, each rotation under a request
// deadline as the HTTP layer gives it. Beside the time per rotation it
// reports the CPU time this process spent per rotation (cpu-ns/op), the
// Go side of a rotation without HTTP, which hardly depends on what else
// the machine is doing; PostgreSQL's is not in it.
//
//	AUTHD_TEST_DATABASE_URL=... go test -run '^$' -bench BenchmarkRotation ./adapters/postgres
func BenchmarkRotation(b *testing.B) {
	db := pgtest.NewDB(b)
	users, families := postgres.NewUserRepository(db), postgres.NewFamilyRepository(db)
	ctx := context.Background()
	const sessions = 8
	secrets := make([]string, sessions)
	for i := range secrets {
		u, err := domain.NewUser(domain.MustParseEmail(fmt.Sprintf("rot-%d-%s@example.com", i, uuid.NewString())),
			"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if u, err = users.Create(ctx, u); err != nil {
			b.Fatal(err)
		}
		secrets[i] = uuid.NewString()
		f := domain.NewFamily(uuid.New(), u.Owner(), domain.HashRefreshToken(secrets[i]), domain.NewClientInfo("bench", "192.0.2.1"),
			time.Now(), domain.DefaultSessionPolicy)
		if err := families.Create(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((sessions + 1) / 2)
	cpu := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % sessions
		secret := secrets[i]
		for pb.Next() {
			successor := uuid.NewString()
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := families.UpdateByToken(rctx, domain.HashRefreshToken(secret), func(f *domain.Family) error {
				return f.Rotate(domain.HashRefreshToken(successor), time.Now(), domain.DefaultSessionPolicy)
			})
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			secret = successor
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
