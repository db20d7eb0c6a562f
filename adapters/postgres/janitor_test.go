package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/adapters/postgres"
	"authd/domain"
)

var retention = postgres.Retention{PruneAfter: 7 * 24 * time.Hour, AuditRetention: 400 * 24 * time.Hour, KnownIPTTL: 30 * 24 * time.Hour}

// TestJanitorPrunesOnlyWhatHasServedItsPurpose ages every kind of row past
// its retention or keeps it inside: after a pass the first are gone and the
// second, a rotated token still recognised as reused among them, are there.
func TestJanitorPrunesOnlyWhatHasServedItsPurpose(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
	ctx := context.Background()
	now := t0.Add(400 * 24 * time.Hour)
	old, recent := now.Add(-retention.PruneAfter-time.Hour), now.Add(-retention.PruneAfter+time.Hour)
	u := r.createUser(t, "pia@example.com", domain.RoleUser)

	// A live session rotated a day ago: its rotated token must still be
	// recognised as reused.
	_, s1 := r.login(t, u, now.Add(-48*time.Hour))
	s2, err := r.rotate(s1, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// A session ended long ago, and one ended recently.
	endedOld, _ := r.login(t, u, old.Add(-time.Hour))
	endedRecent, _ := r.login(t, u, recent.Add(-time.Hour))
	for f, at := range map[string]time.Time{endedOld.ID().String(): old, endedRecent.ID().String(): recent} {
		if _, err := r.db.ExecContext(ctx, "UPDATE token_families SET revoked_at = ? WHERE id = ?", at, f); err != nil {
			t.Fatal(err)
		}
	}
	// A session that expired long ago (opened more than its lifetime before).
	expired, _ := r.login(t, u, old.Add(-domain.DefaultSessionPolicy.MaxLifetime))
	// A live session whose first token expired long ago.
	live, _ := r.login(t, u, now.Add(-time.Hour))
	if _, err := r.db.ExecContext(ctx, "UPDATE refresh_tokens SET expires_at = ? WHERE token_family = ?", old, live.ID()); err != nil {
		t.Fatal(err)
	}

	for _, at := range []time.Time{now.Add(-retention.AuditRetention - time.Hour), now.Add(-retention.AuditRetention + time.Hour)} {
		if err := r.audit.Record(ctx, domain.AuthEvent{Type: domain.EventLoginFailed, UserID: u.ID(), At: at}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct {
		status string
		at     time.Time
	}{{"sent", old}, {"failed", old}, {"pending", old}, {"sent", recent}} {
		if _, err := r.db.ExecContext(ctx, "INSERT INTO mail_outbox (recipient, template, status, created_at) VALUES ('pia@example.com', 'password_changed', ?, ?)", m.status, m.at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.db.ExecContext(ctx, `INSERT INTO limit_counters (scope, key, hits, expires_at) VALUES
		('password_ip', 'gone', ARRAY[?::timestamptz], ?), ('password_ip', 'kept', ARRAY[?::timestamptz], ?)`,
		old, now.Add(-time.Second), now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.ExecContext(ctx, `INSERT INTO known_ips (account, ip, succeeded_at) VALUES
		('pia@example.com', '192.0.2.1', ?), ('pia@example.com', '192.0.2.2', ?)`,
		now.Add(-retention.KnownIPTTL-time.Hour), now.Add(-retention.KnownIPTTL+time.Hour)); err != nil {
		t.Fatal(err)
	}

	pruned, err := postgres.NewJanitor(r.db, retention).Pass(ctx, now)
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	want := postgres.Pruned{"refresh_tokens": 2, "token_families": 2, "auth_events": 1, "mail_outbox": 2, "limit_counters": 1, "known_ips": 1}
	if diff := cmp.Diff(want, pruned); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	families := r.strs(t, "SELECT id::text FROM token_families ORDER BY id")
	for id, kept := range map[string]bool{endedOld.ID().String(): false, expired.ID().String(): false, endedRecent.ID().String(): true, live.ID().String(): true} {
		if got := contains(families, id); got != kept {
			t.Errorf("family %s kept = %v, want %v", id, got, kept)
		}
	}
	if got := r.strs(t, "SELECT count(*)::text FROM refresh_tokens WHERE token_family = ?", live.ID()); got[0] != "0" {
		t.Errorf("%s expired tokens of a live session remain", got[0])
	}
	if got := r.strs(t, "SELECT status::text FROM mail_outbox ORDER BY id"); fmt.Sprint(got) != "[pending sent]" {
		t.Errorf("mail left = %v, want the pending one and the recent one", got)
	}
	if got := r.strs(t, "SELECT key FROM limit_counters"); fmt.Sprint(got) != "[kept]" {
		t.Errorf("counters left = %v", got)
	}
	if got := r.strs(t, "SELECT ip FROM known_ips"); fmt.Sprint(got) != "[192.0.2.2]" {
		t.Errorf("known IPs left = %v", got)
	}
	// The rotated token inside PruneAfter is still there to be recognised.
	if _, err := r.rotate(s1, now); !errors.Is(err, domain.ErrRefreshTokenReused) {
		t.Errorf("presenting the rotated token after a pass: %v, want ErrRefreshTokenReused", err)
	}
	if _, err := r.rotate(s2, now); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Errorf("its successor after the reuse: %v, want ErrInvalidRefreshToken", err)
	}
	// A second pass finds nothing more.
	if pruned, err := postgres.NewJanitor(r.db, retention).Pass(ctx, now); err != nil || total(pruned) != 0 {
		t.Errorf("second pass = %v, %v; want nothing", pruned, err)
	}
}

// TestJanitorBatchesAndYields deletes more rows than a batch holds, and
// skips its pass while another instance holds the janitor's lock.
func TestJanitorBatchesAndYields(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
	ctx := context.Background()
	now := t0.Add(1000 * 24 * time.Hour)
	for i := range 7 {
		if err := r.audit.Record(ctx, domain.AuthEvent{Type: domain.EventLoginFailed, At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	small := retention
	small.Batch = 2
	j := postgres.NewJanitor(r.db, small)

	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(x'617574686a616e'::bigint)"); err != nil {
		t.Fatal(err)
	}
	if pruned, err := j.Pass(ctx, now); !errors.Is(err, postgres.ErrJanitorBusy) || total(pruned) != 0 {
		t.Errorf("Pass while another instance prunes = %v, %v; want ErrJanitorBusy and nothing", pruned, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	pruned, err := j.Pass(ctx, now)
	if err != nil || pruned["auth_events"] != 7 {
		t.Fatalf("Pass = %v, %v; want 7 audit events in batches of 2", pruned, err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func total(p postgres.Pruned) int {
	n := 0
	for _, v := range p {
		n += v
	}
	return n
}

// TestJanitorRestsHoldingItsLock paces a pass through a backlog: after each
// full batch the janitor rests, and while it does no other instance prunes.
func TestJanitorRestsHoldingItsLock(t *testing.T) {
	t.Parallel()
	r := openRepos(t)
	ctx := context.Background()
	now := t0.Add(1000 * 24 * time.Hour)
	for i := range 3 {
		if err := r.audit.Record(ctx, domain.AuthEvent{Type: domain.EventLoginFailed, At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	paced := retention
	paced.Batch = 1
	paced.Rest = 500 // a batch of one row takes about a millisecond
	first := make(chan struct{})
	go func() {
		defer close(first)
		// The first batch is visible once its transaction, rest included,
		// has committed; the pass then rests after its second.
		for left := 3; left == 3; {
			if err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM auth_events").Scan(&left); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	done := make(chan error, 1)
	var pruned postgres.Pruned
	go func() {
		var err error
		pruned, err = postgres.NewJanitor(r.db, paced).Pass(ctx, now)
		done <- err
	}()
	<-first
	if other, err := postgres.NewJanitor(r.db, retention).Pass(ctx, now); !errors.Is(err, postgres.ErrJanitorBusy) || total(other) != 0 {
		t.Errorf("Pass while the other rests = %v, %v; want ErrJanitorBusy and nothing", other, err)
	}
	if err := <-done; err != nil || pruned["auth_events"] != 3 {
		t.Fatalf("paced Pass = %v, %v; want the 3 audit events", pruned, err)
	}
}
