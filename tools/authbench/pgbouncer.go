package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"authd/adapters/password"
)

// pgbouncerTarget is DESIGN.md's bar: refresh through PgBouncer in
// transaction mode at least 0.8x the same directly.
const pgbouncerTarget = 0.8

// Session sets of the PgBouncer phase.
const (
	kindDirect     = "direct"     // rotated by authd on PostgreSQL directly
	kindUnprepared = "unprepared" // rotated by authd directly with AUTHD_DB_PREPARED=off
	kindPooled     = "pooled"     // rotated by authd through PgBouncer
)

// pgbouncer measures refresh rotations over HTTP by authd with its default
// configuration on PgBouncer in transaction mode (Debian's 1.18, started
// with .ci/pgbouncer.sh in front of the benchmark's cluster) against the
// same on PostgreSQL directly, back to back on fresh sessions of their
// own. Then it measures authd directly with prepared statements off, which
// shows what planning every statement would cost.
func (b *bench) pgbouncer(ctx context.Context) error {
	if !b.o.pgbouncer {
		return nil
	}
	b.step("refresh through PgBouncer: starting PgBouncer, seeding sessions, starting two more authd")
	pool, err := startPgBouncer(ctx, b.o, b.db.dsn, b.db.socketDir(ctx), filepath.Join(b.dir, "pgbouncer"))
	if err != nil {
		// The other phases do not need it; the bar fails visibly.
		b.rep.bar("refresh rotations/s, HTTP through PgBouncer", "-", "-", "-", fmt.Sprintf(">= %.1fx", pgbouncerTarget), false)
		b.rep.note("PgBouncer did not start (-pgbouncer=false skips the phase): %v", err)
		return nil
	}
	defer pool.stop()
	h, err := password.NewHasher(password.DefaultParams(), 1, 0)
	if err != nil {
		return err
	}
	hash, err := h.Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	chains := map[string][]string{}
	for _, kind := range []string{kindDirect, kindUnprepared, kindPooled} {
		if chains[kind], err = b.db.seedChains(ctx, kind, b.o.concurrency*chainsPerWorker, hash); err != nil {
			return err
		}
	}
	if err := b.db.analyze(ctx); err != nil {
		return err
	}
	pooledSrv, err := b.extraServer(ctx, "pooled", pool.dsn)
	if err != nil {
		return err
	}
	defer pooledSrv.stop()
	unpreparedSrv, err := b.extraServer(ctx, "unprepared", b.db.dsn, "AUTHD_DB_PREPARED=off")
	if err != nil {
		return err
	}
	defer unpreparedSrv.stop()

	type run struct {
		kind    string
		srv     *server
		res     loadResult
		use     cpuUse
		bouncer float64 // cores PgBouncer kept busy
	}
	runs := []*run{{kind: kindDirect, srv: b.srv}, {kind: kindPooled, srv: pooledSrv}, {kind: kindUnprepared, srv: unpreparedSrv}}
	for _, r := range runs {
		if err := b.settle(ctx); err != nil {
			return err
		}
		b.step("refresh through PgBouncer: authd over HTTP, %s", r.kind)
		cl := newClient(r.srv.addr, b.o.concurrency)
		before, bouncerBefore, start := takeCPU(r.srv.cmd.Process.Pid, b.postmaster), processCPU(pool.pid, false), time.Now()
		r.res = refreshHTTP(ctx, b.o, cl, chains[r.kind])
		r.use = takeCPU(r.srv.cmd.Process.Pid, b.postmaster).since(before)
		r.bouncer = float64(processCPU(pool.pid, false)-bouncerBefore) / clockTicks / time.Since(start).Seconds()
		b.errorNote("refresh "+r.kind, r.res)
		if r.use.other > otherLoadWarning+r.bouncer {
			b.disturbed = append(b.disturbed, "refresh "+r.kind)
		}
	}
	direct, pooled, unprepared := runs[0], runs[1], runs[2]
	ref := perSec(direct.res.rate(), "rot") + " direct"
	b.rep.bar("refresh rotations/s, HTTP through PgBouncer", perSec(pooled.res.rate(), "rot"), ref,
		ratio(pooled.res.rate(), direct.res.rate()), fmt.Sprintf(">= %.1fx", pgbouncerTarget),
		pooled.res.rate() >= pgbouncerTarget*direct.res.rate() && pooled.res.failed == 0 && direct.res.failed == 0)
	b.rep.info("refresh rotations/s, HTTP direct, unprepared", perSec(unprepared.res.rate(), "rot"), ref,
		ratio(unprepared.res.rate(), direct.res.rate()))
	b.rep.note("PgBouncer %s in transaction mode (%s), at most %d server connections, in front of the same cluster (through %s); "+
		"authd with its defaults (AUTHD_DB_PREPARED=auto) sends prepared statements directly and named statements (SQL PREPARE/EXECUTE) through PgBouncer",
		pool.version, filepath.Base(pool.script), pool.size, pool.upstream)
	for _, r := range runs {
		b.rep.note("CPU during refresh %s: %s (PgBouncer %.2f of the rest); per rotation: authd %s, PostgreSQL %s, PgBouncer %s",
			r.kind, r.use, r.bouncer, perOp(r.use.server, r.res.rate()), perOp(r.use.pg, r.res.rate()), perOp(r.bouncer, r.res.rate()))
	}
	return nil
}

// extraServer starts another authd on the benchmark's binary and key, with
// its log in a folder of its own named name.
func (b *bench) extraServer(ctx context.Context, name, dsn string, env ...string) (*server, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return startServer(ctx, b.srv.cmd.Path, b.key, dsn, dir, name, env...)
}

// pgbouncerProc is a PgBouncer started with .ci/pgbouncer.sh.
type pgbouncerProc struct {
	script, dir, dsn, version string
	upstream                  string // how it reaches PostgreSQL
	pid, size                 int
}

// startPgBouncer starts a PgBouncer in transaction mode in dir, in front of
// the server of dsn, and returns it with dsn routed through it. PgBouncer
// reaches the server through its Unix socket in socketDir when that is not
// empty, as a PgBouncer beside PostgreSQL usually does, else like dsn.
func startPgBouncer(ctx context.Context, o options, dsn, socketDir, dir string) (*pgbouncerProc, error) {
	root, err := authdRoot(ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	p := &pgbouncerProc{script: filepath.Join(root, ".ci", "pgbouncer.sh"), dir: dir, size: o.pgbouncerPool}
	port := o.pgbouncerPort
	if port == 0 {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		port, _ = strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	}
	user := u.User.Username()
	if user == "" {
		user = "postgres"
	}
	p.upstream = "TCP " + u.Host
	host := u.Hostname()
	if socketDir != "" {
		host, p.upstream = socketDir, "its Unix socket"
	}
	upstream := []string{"host=" + host, "port=" + u.Port(), "user=" + user}
	if pw, ok := u.User.Password(); ok {
		upstream = append(upstream, "password="+pw)
	}
	cmd := exec.CommandContext(ctx, p.script, append([]string{"start", dir, strconv.Itoa(port)}, upstream...)...)
	cmd.Env = append(os.Environ(), "PGBOUNCER_POOL_SIZE="+strconv.Itoa(p.size))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s start: %w", p.script, err)
	}
	pooled, err := url.Parse(strings.TrimSpace(string(out)))
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%s printed %q: %w", p.script, out, err)
	}
	u.Host = pooled.Host
	p.dsn = u.String()
	pid, err := os.ReadFile(filepath.Join(dir, "pgbouncer.pid"))
	if err == nil {
		p.pid, err = strconv.Atoi(strings.TrimSpace(string(pid)))
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("PgBouncer's pid: %w", err)
	}
	p.version = "(unknown version)"
	if out, err := exec.CommandContext(ctx, "pgbouncer", "--version").Output(); err == nil {
		p.version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	} else if out, err := exec.CommandContext(ctx, "/usr/sbin/pgbouncer", "--version").Output(); err == nil {
		p.version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return p, nil
}

// stop stops the PgBouncer.
func (p *pgbouncerProc) stop() {
	_ = exec.Command(p.script, "stop", p.dir).Run()
}

// socketDir returns the folder of the cluster's Unix socket when the
// cluster runs on this machine and has one, else "".
func (b *benchDB) socketDir(ctx context.Context) string {
	var dirs, port string
	if err := b.db.QueryRowContext(ctx, "SELECT current_setting('unix_socket_directories'), current_setting('port')").Scan(&dirs, &port); err != nil {
		return ""
	}
	dir, _, _ := strings.Cut(dirs, ",")
	dir = strings.TrimSpace(dir)
	if dir == "" || !filepath.IsAbs(dir) {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+port)); err != nil {
		return ""
	}
	return dir
}
