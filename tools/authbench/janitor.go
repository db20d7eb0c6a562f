package main

import (
	"context"
	"fmt"
	"time"
)

// janitorTarget is DESIGN.md's bar: refresh throughput with the janitor
// running stays within 10% of without.
const janitorTarget = 0.9

// Session sets of the janitor phase.
const (
	kindJanitorOff = "janitoroff" // rotated while no janitor runs
	kindJanitorOn  = "janitoron"  // rotated while the janitor prunes the backlog
	// rotated when the janitor has stopped
	kindJanitorOffAgain = "janitoroffagain"
	kindBacklog         = "backlog" // owner of the sessions that have served their purpose
)

// backlogTokensPerFamily is how many expired refresh tokens each ended
// session of the backlog holds, about a week of rotations every 15 minutes
// at the tail of a session's life.
const backlogTokensPerFamily = 50

// janitor measures refresh over HTTP on the main authd with no janitor
// running, then while another authd's janitor (AUTHD_PRUNE_INTERVAL=1s, the
// rest of its defaults) prunes a backlog of o.janitorBacklog expired
// refresh tokens, their ended sessions and a quarter as many audit events
// past retention, then with no janitor again; the reference is the mean of
// the two runs without, so that a drift of the machine's speed during the
// phase does not pass for the janitor's cost. Every authd of the benchmark
// but that one prunes once a day, so that only it deletes anything. The
// bar holds only if backlog was left when the measurement ended: otherwise
// the janitor was not busy all along.
func (b *bench) janitor(ctx context.Context) error {
	b.step("janitor: seeding sessions and a backlog of %d expired refresh tokens", b.o.janitorBacklog)
	off, err := b.db.seedChains(ctx, kindJanitorOff, b.o.concurrency*chainsPerWorker, b.hash)
	if err != nil {
		return err
	}
	offAgain, err := b.db.seedChains(ctx, kindJanitorOffAgain, b.o.concurrency*chainsPerWorker, b.hash)
	if err != nil {
		return err
	}
	on, err := b.db.seedChains(ctx, kindJanitorOn, b.o.concurrency*chainsPerWorker, b.hash)
	if err != nil {
		return err
	}
	if err := b.db.seedBacklog(ctx, b.hash, b.o.janitorBacklog); err != nil {
		return err
	}
	if err := b.settle(ctx); err != nil {
		return err
	}

	b.step("janitor: refresh over HTTP, no janitor running")
	var without, with, withoutAgain loadResult
	offUse := b.watchCPU("refresh, no janitor running", func() { without = refreshHTTP(ctx, b.o, b.cl, off) })
	if err := b.settle(ctx); err != nil {
		return err
	}

	before, err := b.db.backlog(ctx)
	if err != nil {
		return err
	}
	srv, err := b.extraServer(ctx, "janitor", b.db.dsn, "AUTHD_PRUNE_INTERVAL=1s", "AUTHD_SHUTDOWN_DRAIN=0s")
	if err != nil {
		return err
	}
	defer srv.stop()
	// The janitor's first pass starts one interval after start-up.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(1500 * time.Millisecond):
	}
	b.step("janitor: refresh over HTTP while another authd's janitor prunes")
	start, startLeft := time.Now(), 0
	if startLeft, err = b.db.backlog(ctx); err != nil {
		return err
	}
	onUse := b.watchCPU("refresh, janitor pruning", func() { with = refreshHTTP(ctx, b.o, b.cl, on) })
	elapsed := time.Since(start)
	left, err := b.db.backlog(ctx)
	if err != nil {
		return err
	}
	srv.stop()
	if err := b.settle(ctx); err != nil {
		return err
	}
	b.step("janitor: refresh over HTTP, no janitor running again")
	b.watchCPU("refresh, no janitor running again", func() { withoutAgain = refreshHTTP(ctx, b.o, b.cl, offAgain) })

	busy := left > 0 && startLeft < before
	ref := (without.rate() + withoutAgain.rate()) / 2
	b.rep.bar("refresh rotations/s, HTTP, janitor pruning", perSec(with.rate(), "rot"),
		fmt.Sprintf("%s no janitor (%.0f before, %.0f after)", perSec(ref, "rot"), without.rate(), withoutAgain.rate()),
		ratio(with.rate(), ref), fmt.Sprintf(">= %.1fx", janitorTarget),
		busy && with.rate() >= janitorTarget*ref && with.failed == 0 && without.failed == 0 && withoutAgain.failed == 0)
	b.rep.note("janitor: backlog of %d rows (expired refresh tokens, %d per ended session, the sessions, and audit events past retention); "+
		"%d left when the measurement began, %d when it ended: %.0f rows/s pruned while refreshing%s",
		before, backlogTokensPerFamily, startLeft, left, float64(startLeft-left)/elapsed.Seconds(),
		map[bool]string{true: "", false: " (NOT busy all along: raise -janitor-backlog)"}[busy])
	b.rep.note("CPU per rotation with no janitor running: authd %s, PostgreSQL %s; while it prunes: authd %s, PostgreSQL %s (the pruning included)",
		perOp(offUse.server, without.rate()), perOp(offUse.pg, without.rate()), perOp(onUse.server, with.rate()), perOp(onUse.pg, with.rate()))
	b.errorNote("refresh, no janitor running", without)
	b.errorNote("refresh, janitor pruning", with)
	b.errorNote("refresh, no janitor running again", withoutAgain)
	return nil
}

// seedBacklog gives one user of kindBacklog n refresh tokens that expired
// 30 days ago, backlogTokensPerFamily to a session that ended then, and
// n/4 audit events from 500 days ago: rows the janitor deletes with its
// defaults.
func (b *benchDB) seedBacklog(ctx context.Context, hash string, n int) error {
	if err := b.seedUsers(ctx, kindBacklog, 1, hash); err != nil {
		return fmt.Errorf("seed backlog owner: %w", err)
	}
	families := (n + backlogTokensPerFamily - 1) / backlogTokensPerFamily
	type stmt struct {
		q    string
		args []any
	}
	stmts := []stmt{
		{"INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip) " +
			"SELECT gen_random_uuid(), u.id, now() - interval '60 days', now() - interval '30 days', " +
			"now() + interval '30 days', now() - interval '30 days', 'authbench backlog', '127.0.0.1' " +
			"FROM users AS u, generate_series(1, ?) WHERE u.email LIKE ?", []any{families, kindBacklog + "-%"}},
		{"INSERT INTO auth_events (type, user_id, ip, user_agent, created_at) " +
			"SELECT 'login_failed', u.id, '127.0.0.1', 'authbench backlog', now() - interval '500 days' " +
			"FROM users AS u, generate_series(1, ?) WHERE u.email LIKE ?", []any{n / 4, kindBacklog + "-%"}},
	}
	// One token per session and statement keeps each statement short.
	for range backlogTokensPerFamily {
		stmts = append(stmts, stmt{"INSERT INTO refresh_tokens (token, token_family, user_id, expires_at, created_at, revoked_at) " +
			"SELECT encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex'), f.id, f.user_id, " +
			"now() - interval '30 days', now() - interval '44 days', now() - interval '30 days' " +
			"FROM token_families AS f WHERE f.user_agent = 'authbench backlog'", nil})
	}
	for _, s := range stmts {
		if _, err := b.db.NewRaw(s.q, s.args...).Exec(ctx); err != nil {
			return fmt.Errorf("seed backlog: %w", err)
		}
	}
	return nil
}

// backlog counts the rows of the backlog that are left.
func (b *benchDB) backlog(ctx context.Context) (int, error) {
	var n int
	err := b.db.NewRaw("SELECT (SELECT count(*) FROM refresh_tokens AS t JOIN token_families AS f ON f.id = t.token_family "+
		"WHERE f.user_agent = 'authbench backlog') + "+
		"(SELECT count(*) FROM token_families WHERE user_agent = 'authbench backlog') + "+
		"(SELECT count(*) FROM auth_events WHERE user_agent = 'authbench backlog')").Scan(ctx, &n)
	return n, err
}
