package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/domain"
)

// BenchmarkLimiterLogin measures what the abuse limits add to a login on
// PostgreSQL: AdmitPassword (one statement) and SettlePassword (none for a
// failure, one for a success), one attempt per iteration. Each iteration is
// a new account from one of 1000 IPs, so every attempt creates its pair and
// account counters and updates an existing IP counter. The baseline is a
// SELECT 1 through the same pool, to read the others against on a busy
// machine.
//
//	AUTHD_TEST_DATABASE_URL=... go test -run '^$' -bench BenchmarkLimiterLogin ./adapters/postgres
func BenchmarkLimiterLogin(b *testing.B) {
	db := pgtest.NewDB(b)
	l, err := postgres.NewLimiter(db, domain.DefaultLimitPolicy)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Runs of a sub-benchmark (-count) share the database: each run names
	// its own accounts and takes its own times.
	runs := 0
	attempt := func(run string, i int) domain.PasswordAttempt {
		email := domain.MustParseEmail(fmt.Sprintf("%s-%d-%d@example.com", run, runs, i))
		ip := domain.NewClientInfo("", fmt.Sprintf("10.%d.%d.%d", runs%250, i/250%4, i%250))
		return domain.NewPasswordAttempt(email, ip, time.Now())
	}
	b.Run("baseline SELECT 1", func(b *testing.B) {
		for b.Loop() {
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name    string
		outcome domain.AttemptOutcome
	}{
		{"failed", domain.AttemptFailed},
		{"succeeded", domain.AttemptSucceeded},
	} {
		b.Run(bc.name, func(b *testing.B) {
			runs++
			i := 0
			for b.Loop() {
				a := attempt(bc.name, i)
				if err := l.AdmitPassword(ctx, a); err != nil {
					b.Fatal(err)
				}
				if err := l.SettlePassword(ctx, a, bc.outcome); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	b.Run("refused", func(b *testing.B) {
		runs++
		a := attempt("refused", 0)
		for range domain.DefaultLimitPolicy.PerAccountIP.Max {
			if err := l.AdmitPassword(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if err := l.AdmitPassword(ctx, a); err == nil {
				b.Fatal("admitted past the limit")
			}
		}
	})
}
