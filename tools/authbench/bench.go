package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"authd/adapters/password"
)

// Targets from DESIGN.md's quality bars.
const (
	// refreshCPUTarget bounds authd's and PostgreSQL's CPU per rotation
	// against the naive transaction's, PostgreSQL's and pgbench's.
	refreshCPUTarget = 1.0
	// refreshRateTarget is the least rotations/s over HTTP against the
	// naive transaction's.
	refreshRateTarget = 0.9
	// refreshPGTolerance bounds PostgreSQL's CPU per rotation when authd
	// sends its statements against pgbench sending the same ones.
	refreshPGTolerance = 0.1
	loginTarget        = 0.9
	meTarget           = 5000.0
)

// bench carries what the phases share.
type bench struct {
	o   options
	log io.Writer
	rep *report
	dir string
	db  *benchDB
	bin string
	key string
	srv *server
	cl  *client
	// hash is the PHC hash of benchPassword every seeded user has.
	hash string

	httpChains, inProcChains []string
	floodChains              []string
	// hashRate is the argon2id ceiling the login phase measured, in hashes
	// per second; the flood phase offers a multiple of it.
	hashRate float64
	// hashCPU is the CPU one argon2id hash took in the login phase, in ms.
	hashCPU    float64
	disturbed  []string
	postmaster int
}

// benchmark prepares the database and the server, runs every phase and
// returns the report, partial when a phase could not run.
func benchmark(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	b := &bench{o: o, log: log, rep: &report{}}
	b.rep.header = []string{fmt.Sprintf(
		"authbench: %d concurrent clients, %s per phase, GOMAXPROCS=%d (server and benchmark share %d CPUs), %s",
		o.concurrency, o.duration, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())}
	if b.dir, err = os.MkdirTemp("", "authbench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)

	pkg := o.authdPkg
	if pkg == "" {
		if pkg, err = authdMain(ctx); err != nil {
			return nil, err
		}
	}
	b.step("building %s", pkg)
	bin, key, err := buildServer(ctx, pkg, b.dir)
	if err != nil {
		return nil, err
	}
	b.key = key
	b.step("creating and seeding a fresh database")
	if b.db, err = createDatabase(ctx, o.adminDSN); b.db != nil {
		defer func() { err = errors.Join(err, b.db.drop(o.keepDB)) }()
	}
	if err != nil {
		return nil, err
	}
	if err := b.seed(ctx); err != nil {
		return nil, err
	}
	b.postmaster = b.db.postmaster(ctx)
	b.step("starting authd")
	b.bin = bin
	if b.srv, err = startServer(ctx, bin, key, b.db.dsn, b.dir, "authd"); err != nil {
		return nil, err
	}
	defer b.srv.stop()
	b.cl = newClient(b.srv.addr, o.concurrency)

	for _, phase := range []struct {
		name string
		run  func(context.Context) error
	}{{"memory", b.memory}, {"refresh", b.refresh}, {"pgbouncer", b.pgbouncer}, {"login", b.login}, {"me", b.me}, {"flood", b.flood}, {"reset", b.reset}, {"mfa", b.mfa}, {"janitor", b.janitor}} {
		if !o.runs(phase.name) {
			continue
		}
		if err := phase.run(ctx); err != nil {
			return b.rep, err
		}
	}
	if len(b.disturbed) > 0 {
		b.rep.note("WARNING: other processes kept more than %.2f cores busy during %s; those numbers understate authd (see the CPU notes)",
			otherLoadWarning, strings.Join(b.disturbed, ", "))
	}
	return b.rep, nil
}

// watchCPU runs fn, adds a note on who used the CPU meanwhile and returns
// that use.
func (b *bench) watchCPU(phase string, fn func()) cpuUse { return b.watchCPUOf(b.srv, phase, fn) }

// watchCPUOf is watchCPU with srv as the server.
func (b *bench) watchCPUOf(srv *server, phase string, fn func()) cpuUse {
	before := takeCPU(srv.cmd.Process.Pid, b.postmaster)
	fn()
	use := takeCPU(srv.cmd.Process.Pid, b.postmaster).since(before)
	b.rep.note("CPU during %s: %s", phase, use)
	if use.other > otherLoadWarning {
		b.disturbed = append(b.disturbed, phase)
	}
	return use
}

// perOp formats the CPU time spent per operation at rate operations per
// second by a party that kept cores cores busy. Unlike rates, it hardly
// depends on other load on the machine.
func perOp(cores, rate float64) string { return ms(perOpMs(cores, rate)) }

// perOpMs is perOp in milliseconds, 0 when nothing was done.
func perOpMs(cores, rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return cores / rate * 1000
}

// ms formats milliseconds, "-" for none.
func ms(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f ms", v)
}

// step logs progress on standard error.
func (b *bench) step(format string, args ...any) {
	fmt.Fprintf(b.log, "authbench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// seed creates every user and session the phases need. All users share
// one hash of benchPassword made with the default parameters, so a login
// costs exactly one default hash.
func (b *bench) seed(ctx context.Context) error {
	h, err := password.NewHasher(password.DefaultParams(), 1, 0)
	if err != nil {
		return err
	}
	hash, err := h.Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	b.hash = hash
	chains := b.o.concurrency * chainsPerWorker
	if b.httpChains, err = b.db.seedChains(ctx, kindHTTP, chains, hash); err != nil {
		return err
	}
	if b.inProcChains, err = b.db.seedChains(ctx, kindInProc, chains, hash); err != nil {
		return err
	}
	if b.floodChains, err = b.db.seedChains(ctx, kindFlood, floodSessions, hash); err != nil {
		return err
	}
	if _, err := b.db.seedChains(ctx, kindPgbench, b.o.pgFamilies, hash); err != nil {
		return err
	}
	for _, u := range []struct {
		kind string
		n    int
	}{{kindLogin, b.o.loginUsers}, {kindBurst, b.o.burst}, {kindMe, 1}, {kindResetKnown, b.o.resetRounds}, {kindResetOff, b.o.resetRounds}} {
		if err := b.db.seedUsers(ctx, u.kind, u.n, hash); err != nil {
			return fmt.Errorf("seed %s users: %w", u.kind, err)
		}
	}
	if err := b.db.disableUsers(ctx, kindResetOff); err != nil {
		return err
	}
	return b.db.analyze(ctx)
}

// errorNote explains the failures of a phase, if any.
func (b *bench) errorNote(phase string, r loadResult) {
	if r.failed > 0 {
		b.rep.note("%s: %d of %d requests failed; first: %v", phase, r.failed, r.ok+r.failed, r.firstErr)
	}
}

// memory measures the idle RSS and the RSS around a login burst. It runs
// first, so the peak reflects the burst and nothing else.
func (b *bench) memory(ctx context.Context) error {
	b.step("memory: idle, then %d concurrent logins", b.o.burst)
	m, err := measureMemory(ctx, b.srv, b.o.burst)
	if err != nil {
		return err
	}
	b.rep.bar("RSS idle", mibs(m.idle), mibs(idleLimit), ratio(float64(m.idle), idleLimit), "< 100 MiB", m.idle < idleLimit)
	b.rep.bar(fmt.Sprintf("RSS peak, %d logins at once", b.o.burst), mibs(m.peak), mibs(m.bound)+" bound",
		ratio(float64(m.peak), float64(m.bound)), "< bound", m.peak < m.bound && m.burst.failed == 0)
	b.rep.info("RSS after the burst", mibs(m.after), "-", "-")
	b.rep.note("burst bound = min(idle + 2 x GOMAXPROCS(%d) x %d MiB argon2id + 64 MiB, %s) = %s; the burst took %s",
		runtime.GOMAXPROCS(0), argon2idMiB, mibs(burstCap), mibs(m.bound), m.burst.elapsed.Round(time.Millisecond))
	b.rep.note("the burst's %d logins: %d answered 200, %d refused at once with 503 overloaded (the hash queue holds %d x GOMAXPROCS)",
		b.o.burst, m.burst.ok-m.overloaded, m.overloaded, password.QueueFactor)
	b.errorNote("login burst", m.burst)
	return nil
}

// refresh measures rotations in rounds (-rounds, odd). Each round runs
// pgbench with the naive transaction at full speed, authd over HTTP and
// the naive transaction at full speed again (the throughput reference is
// the mean of the two, so that a drift of the machine's speed does not
// pass for authd's), then, at the rate authd reached, pgbench with the
// naive transaction (the CPU reference) and with authd's own two
// statements (PostgreSQL's reference). Each bar is the median of its
// rounds' ratios, shown with the figures of the round that gave it: the
// machine's speed drifts by 10-25% between phases half a minute apart,
// which one round cannot tell from authd's. Last, for information, run
// authd's statements by pgbench at full speed and the use case
// in-process. Each runs on sessions of its own.
//
// The CPU references run at authd's rate because CPU per operation depends
// on the rate: the same statements from the same pgbench cost PostgreSQL
// 0.40-0.47 ms per rotation at 1,950/s and 0.33-0.35 ms at 3,700-4,200/s
// on the 2-core development machine (fewer commits share a WAL flush, more backends
// sleep and are woken between statements). Compared at different rates,
// the slower side looks more expensive whatever it sends.
func (b *bench) refresh(ctx context.Context) error {
	naive := fmt.Sprintf(pgbenchScript, b.o.pgFamilies, kindPgbench)
	own, err := authdScript(kindPgbench)
	if err != nil {
		return err
	}
	// pgbench runs a script at rate (0: as fast as it can) and returns
	// what it reported and who used the CPU meanwhile.
	pgbench := func(phase, name, script string, rate float64) (res pgbenchResult, use cpuUse, err error) {
		b.step("refresh: %s", phase)
		use = b.watchCPU(phase, func() { res, err = runPgbench(ctx, b.o, b.db.dsn, b.dir, name, script, rate) })
		if err != nil {
			return res, use, err
		}
		return res, use, b.settle(ctx)
	}
	rounds := make([]refreshRound, b.o.rounds)
	for i := range rounds {
		r := &rounds[i]
		of := ""
		if b.o.rounds > 1 {
			of = fmt.Sprintf(", round %d of %d", i+1, b.o.rounds)
		}
		if r.before, _, err = pgbench("pgbench, naive transaction"+of, "naive.sql", naive, 0); err != nil {
			return err
		}
		b.step("refresh: authd over HTTP%s", of)
		r.webUse = b.watchCPU("refresh over HTTP"+of, func() { r.web = refreshHTTP(ctx, b.o, b.cl, b.httpChains) })
		if err := b.settle(ctx); err != nil {
			return err
		}
		if r.web.rate() <= 0 {
			return fmt.Errorf("refresh over HTTP: no rotation succeeded: %v", r.web.firstErr)
		}
		if r.after, _, err = pgbench("pgbench, naive transaction again"+of, "naive.sql", naive, 0); err != nil {
			return err
		}
		rate := r.web.rate()
		if r.naiveAt, r.naiveAtUse, err = pgbench(fmt.Sprintf("pgbench, naive transaction at %.0f/s%s", rate, of), "naive.sql", naive, rate); err != nil {
			return err
		}
		if r.ownAt, r.ownAtUse, err = pgbench(fmt.Sprintf("pgbench, authd's statements at %.0f/s%s", rate, of), "authd.sql", own, rate); err != nil {
			return err
		}
	}
	ownMax, ownMaxUse, err := pgbench("pgbench, authd's statements", "authd.sql", own, 0)
	if err != nil {
		return err
	}
	b.step("refresh: application.Refresh in-process")
	var inProc loadResult
	inUse := b.watchCPU("refresh in-process", func() {
		inProc, err = refreshInProcess(ctx, b.o, b.db.dsn, b.key, b.inProcChains)
	})
	if err != nil {
		return err
	}

	// The bars.
	failed := int64(0)
	for _, r := range rounds {
		failed += r.web.failed
	}
	c := medianRound(rounds, refreshRound.cpuRatio)
	b.rep.bar("refresh: CPU per rotation, authd + PostgreSQL", ms(c.authdTotal()),
		ms(c.naiveTotal())+" naive (PostgreSQL + pgbench)", ratio(c.authdTotal(), c.naiveTotal()),
		fmt.Sprintf("<= %.1fx", refreshCPUTarget), c.naiveTotal() > 0 && c.cpuRatio() <= refreshCPUTarget && failed == 0)
	t := medianRound(rounds, refreshRound.rateRatio)
	b.rep.bar("refresh rotations/s, HTTP", perSec(t.web.rate(), "rot"),
		fmt.Sprintf("%s naive pgbench (%.0f before, %.0f after)", perSec(t.naiveTPS(), "tx"), t.before.tps, t.after.tps), ratio(t.web.rate(), t.naiveTPS()),
		fmt.Sprintf(">= %.1fx", refreshRateTarget), t.rateRatio() >= refreshRateTarget && failed == 0)
	p := medianRound(rounds, refreshRound.pgRatio)
	b.rep.bar("refresh: PostgreSQL CPU per rotation", ms(p.authdPG()), ms(p.ownPG())+" same statements by pgbench", ratio(p.authdPG(), p.ownPG()),
		fmt.Sprintf("%.1fx-%.1fx", 1-refreshPGTolerance, 1+refreshPGTolerance),
		p.ownPG() > 0 && p.pgRatio() >= 1-refreshPGTolerance && p.pgRatio() <= 1+refreshPGTolerance)
	naiveTPS := t.naiveTPS()
	ref := perSec(naiveTPS, "tx") + " naive pgbench"
	b.rep.info("refresh rotations/s, in-process", perSec(inProc.rate(), "rot"), ref, ratio(inProc.rate(), naiveTPS))
	b.rep.info("refresh, authd's statements by pgbench", perSec(ownMax.tps, "tx"), ref, ratio(ownMax.tps, naiveTPS))

	if len(rounds) > 1 {
		b.rep.note("refresh bars: the median of %d rounds, shown with that round's figures; the rounds' ratios: CPU per rotation %s, rotations/s over HTTP %s, PostgreSQL CPU per rotation %s",
			len(rounds), roundRatios(rounds, refreshRound.cpuRatio), roundRatios(rounds, refreshRound.rateRatio), roundRatios(rounds, refreshRound.pgRatio))
	}
	var naiveFailed, naiveAtFailed, ownAtFailed int64
	for _, r := range rounds {
		naiveFailed += r.before.failed + r.after.failed
		naiveAtFailed += r.naiveAt.failed
		ownAtFailed += r.ownAt.failed
	}
	b.rep.note("pgbench: -c %d -j %d -M %s; the naive rotation is BEGIN, SELECT ... FOR UPDATE, UPDATE, INSERT, UPDATE, COMMIT (6 round trips); authd sends 2 statements (postgres.RotationStatements), which pgbench sends the same way; failed transactions: naive %d and %d (at authd's rate), authd's statements %d and %d",
		b.o.concurrency, min(2, b.o.concurrency), b.o.pgbenchMode, naiveFailed, naiveAtFailed, ownAtFailed, ownMax.failed)
	rate := c.web.rate()
	b.rep.note("the CPU bars compare at authd's rate over HTTP of their round, %.0f/s for CPU per rotation (pgbench -R; it reached %.0f/s with the naive transaction and %.0f/s with authd's statements): CPU per operation grows as the rate falls",
		rate, c.naiveAt.tps, c.ownAt.tps)
	b.rep.note("CPU per rotation at %.0f/s: authd %s and PostgreSQL %s over HTTP; naive transaction: PostgreSQL %s, pgbench %s; authd's statements by pgbench: PostgreSQL %s, pgbench %s",
		rate, ms(perOpMs(c.webUse.server, rate)), ms(c.authdPG()), ms(perOpMs(c.naiveAtUse.pg, c.naiveAt.tps)), ms(perOpMs(c.naiveAtUse.self, c.naiveAt.tps)),
		ms(c.ownPG()), ms(perOpMs(c.ownAtUse.self, c.ownAt.tps)))
	b.rep.note("CPU per rotation at full speed: authd's statements by pgbench (%.0f/s) PostgreSQL %s; in-process (%.0f/s) PostgreSQL %s, Go %s",
		ownMax.tps, ms(perOpMs(ownMaxUse.pg, ownMax.tps)), inProc.rate(), ms(perOpMs(inUse.pg, inProc.rate())), ms(perOpMs(inUse.self, inProc.rate())))
	for i, r := range rounds {
		b.errorNote(fmt.Sprintf("refresh over HTTP, round %d", i+1), r.web)
	}
	b.errorNote("refresh in-process", inProc)
	if b.o.cpuProfile != "" {
		b.rep.note("CPU profile of the in-process refresh phase: %s (go tool pprof -top %s)", b.o.cpuProfile, b.o.cpuProfile)
	}
	return nil
}

// login measures the argon2id ceiling in-process, then logins over HTTP.
func (b *bench) login(ctx context.Context) error {
	b.step("login: timing %d argon2id hashes", b.o.hashRuns)
	var (
		per     time.Duration
		ceiling float64
		err     error
		r       loadResult
	)
	b.watchCPU("the argon2id timing", func() { per, ceiling, err = hashCeiling(ctx, b.o.hashRuns) })
	if err != nil {
		return err
	}
	var parallel float64
	parUse := b.watchCPU("the parallel argon2id run", func() { parallel, err = parallelHashRate(ctx, 3*time.Second) })
	if err != nil {
		return err
	}
	b.hashRate, b.hashCPU = parallel, perOpMs(parUse.self, parallel)
	b.step("login: authd over HTTP")
	loginUse := b.watchCPU("login", func() { r = logins(ctx, b.o, b.cl) })
	// The ceiling is cores ÷ the time of one hash while every core hashes,
	// which is what logins compete for; a hash timed alone runs faster
	// (the whole cache and memory bandwidth to itself), so that figure is
	// shown beside it.
	b.rep.bar("password logins/s", perSec(r.rate(), "login"), fmt.Sprintf("%.1f/s ceiling", parallel),
		ratio(r.rate(), parallel), fmt.Sprintf(">= %.1fx", loginTarget), r.rate() >= loginTarget*parallel && r.failed == 0)
	b.rep.info("password logins/s vs one hash timed alone", perSec(r.rate(), "login"), fmt.Sprintf("%.1f/s", ceiling), ratio(r.rate(), ceiling))
	b.rep.note("argon2id ceiling = GOMAXPROCS %d / %s per default hash (m=19 MiB, t=2, p=1) with every core hashing in-process for 3 s; one hash timed alone takes %s (mean of %d)",
		runtime.GOMAXPROCS(0), perHash(parallel).Round(10*time.Microsecond), per.Round(10*time.Microsecond), b.o.hashRuns)
	b.rep.note("CPU per login in authd %s; per argon2id hash in-process %s (GOMAXPROCS at once)",
		perOp(loginUse.server, r.rate()), perOp(parUse.self, parallel))
	b.errorNote("login", r)
	return nil
}

// me measures GET /v1/users/me with the Go client and, when installed, wrk.
func (b *bench) me(ctx context.Context) error {
	e := newExchange()
	defer e.release()
	t, err := b.cl.login(e, userEmail(kindMe, 1))
	if err != nil {
		return err
	}
	b.step("users/me: Go client")
	var r loadResult
	use := b.watchCPU("users/me (Go client)", func() { r = me(ctx, b.o, b.cl, t.AccessToken) })
	b.rep.bar("GET /v1/users/me, Go client", perSec(r.rate(), "req"), "-", "-", fmt.Sprintf(">= %.0f/s", meTarget),
		r.rate() >= meTarget && r.failed == 0)
	b.rep.note("CPU per GET /v1/users/me: authd %s, PostgreSQL %s, Go client %s",
		perOp(use.server, r.rate()), perOp(use.pg, r.rate()), perOp(use.self, r.rate()))
	b.errorNote("users/me (Go client)", r)
	if !b.o.wrk {
		return nil
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		b.rep.note("wrk is not installed; GET /v1/users/me was measured with the Go client only")
		return nil
	}
	b.step("users/me: wrk")
	var (
		w  wrkResult
		ok bool
	)
	b.watchCPU("users/me (wrk)", func() { w, ok, err = meWrk(ctx, b.o, b.srv.addr, t.AccessToken) })
	switch {
	case err != nil:
		return err
	case !ok:
		return errors.New("wrk disappeared during the run")
	default:
		b.rep.bar("GET /v1/users/me, wrk", perSec(w.rate, "req"), "-", "-", fmt.Sprintf(">= %.0f/s", meTarget),
			w.rate >= meTarget && w.errors == 0)
		if w.errors > 0 {
			b.rep.note("users/me (wrk): %d non-2xx responses or socket errors", w.errors)
		}
	}
	return nil
}

// settle vacuums, analyses and checkpoints the database, so that each
// refresh phase starts from the same state instead of paying for the
// autovacuum and checkpoint work the previous phase left behind.
func (b *bench) settle(ctx context.Context) error {
	for _, q := range []string{"VACUUM ANALYZE", "CHECKPOINT"} {
		if _, err := b.db.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("settle: %s: %w", q, err)
		}
	}
	return nil
}

// perHash is the time of one hash on one core at rate hashes per second
// across GOMAXPROCS cores.
func perHash(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(runtime.GOMAXPROCS(0)) / rate * float64(time.Second))
}
