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
	kindBacklog    = "backlog"    // owner of the sessions that have served their purpose
)

// backlogTokensPerFamily is how many expired refresh tokens each ended
// session of the backlog holds, about a week of rotations every 15 minutes
// at the tail of a session's life.
const backlogTokensPerFamily = 50

// janitorRound is one round of the janitor phase: refresh over HTTP while
// a janitor prunes, between two runs with none.
type janitorRound struct {
	before, with, after loadResult
	// startLeft and left are the backlog's rows when the run with the
	// janitor began and ended; elapsed is how long it ran.
	startLeft, left int
	elapsed         time.Duration
	withUse         cpuUse
}

func (r janitorRound) reference() float64 { return (r.before.rate() + r.after.rate()) / 2 }
func (r janitorRound) ratio() float64     { return safeRatio(r.with.rate(), r.reference()) }
func (r janitorRound) busy() bool         { return r.left > 0 && r.left < r.startLeft }

// janitor measures refresh over HTTP on the main authd in rounds (-rounds):
// each run while another authd's janitor (AUTHD_PRUNE_INTERVAL=1s, the rest
// of its defaults) prunes a backlog of o.janitorBacklog expired refresh
// tokens, their ended sessions and a quarter as many audit events past
// retention sits between two runs with no janitor, and is compared with
// their mean, so that a drift of the machine's speed does not pass for the
// janitor's cost; the bar is the median of the rounds' ratios. Every authd
// of the benchmark but that one prunes once a day, so that only it deletes
// anything. The bar holds only if the janitor pruned during every run
// with it and left backlog for the last: otherwise it was not busy all
// along.
func (b *bench) janitor(ctx context.Context) error {
	b.step("janitor: seeding sessions and a backlog of %d expired refresh tokens", b.o.janitorBacklog)
	off, err := b.db.seedChains(ctx, kindJanitorOff, b.o.concurrency*chainsPerWorker, b.hash)
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
	seeded, err := b.db.backlog(ctx)
	if err != nil {
		return err
	}

	// without refreshes with no janitor running.
	without := func(of string) (loadResult, error) {
		b.step("janitor: refresh over HTTP, no janitor running%s", of)
		var r loadResult
		b.watchCPU("refresh, no janitor running"+of, func() { r = refreshHTTP(ctx, b.o, b.cl, off) })
		return r, b.settle(ctx)
	}
	rounds := make([]janitorRound, b.o.rounds)
	first, err := without("")
	if err != nil {
		return err
	}
	for i := range rounds {
		r := &rounds[i]
		of := ""
		if b.o.rounds > 1 {
			of = fmt.Sprintf(", round %d of %d", i+1, b.o.rounds)
		}
		if i == 0 {
			r.before = first
		} else {
			r.before = rounds[i-1].after
		}
		if err := b.pruning(ctx, on, of, r); err != nil {
			return err
		}
		if r.after, err = without(of); err != nil {
			return err
		}
	}

	busy := true
	var failed int64
	for _, r := range rounds {
		busy = busy && r.busy()
		failed += r.before.failed + r.with.failed + r.after.failed
	}
	m := medianRound(rounds, janitorRound.ratio)
	b.rep.bar("refresh rotations/s, HTTP, janitor pruning", perSec(m.with.rate(), "rot"),
		fmt.Sprintf("%s no janitor (%.0f before, %.0f after)", perSec(m.reference(), "rot"), m.before.rate(), m.after.rate()),
		ratio(m.with.rate(), m.reference()), fmt.Sprintf(">= %.1fx", janitorTarget),
		busy && m.ratio() >= janitorTarget && failed == 0)
	if len(rounds) > 1 {
		b.rep.note("janitor bar: the median of %d rounds, shown with that round's figures; the rounds' ratios: %s", len(rounds), roundRatios(rounds, janitorRound.ratio))
	}
	last := rounds[len(rounds)-1]
	b.rep.note("janitor: backlog of %d rows (expired refresh tokens, %d per ended session, the sessions, and audit events past retention); "+
		"%d left when the median round's run began, %d when it ended: %.0f rows/s pruned while refreshing; %d left after the last%s",
		seeded, backlogTokensPerFamily, m.startLeft, m.left, float64(m.startLeft-m.left)/m.elapsed.Seconds(), last.left,
		map[bool]string{true: "", false: " (NOT busy all along: raise -janitor-backlog)"}[busy])
	b.rep.note("CPU per rotation while the janitor prunes, in the median round: authd %s, PostgreSQL %s (the pruning included)",
		perOp(m.withUse.server, m.with.rate()), perOp(m.withUse.pg, m.with.rate()))
	for i, r := range rounds {
		b.errorNote(fmt.Sprintf("refresh, janitor pruning, round %d", i+1), r.with)
		b.errorNote(fmt.Sprintf("refresh, no janitor running, after round %d", i+1), r.after)
	}
	b.errorNote("refresh, no janitor running", first)
	return nil
}

// pruning starts an authd whose janitor prunes, refreshes over HTTP on the
// main one while it does, and stops it, recording the run in r.
func (b *bench) pruning(ctx context.Context, chains []string, of string, r *janitorRound) error {
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
	b.step("janitor: refresh over HTTP while another authd's janitor prunes%s", of)
	start := time.Now()
	if r.startLeft, err = b.db.backlog(ctx); err != nil {
		return err
	}
	r.withUse = b.watchCPU("refresh, janitor pruning"+of, func() { r.with = refreshHTTP(ctx, b.o, b.cl, chains) })
	r.elapsed = time.Since(start)
	if r.left, err = b.db.backlog(ctx); err != nil {
		return err
	}
	srv.stop()
	return b.settle(ctx)
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
