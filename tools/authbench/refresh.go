package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// chainsPerWorker is how many sessions each refresh worker owns: when a
// rotation fails the worker cannot know the session's current token, so it
// moves on to its next session.
const chainsPerWorker = 4

// errWorkerDone stops a worker that has no usable session left.
var errWorkerDone = errors.New("worker has no session left")

// pgbenchScript is the naive rotation: lock the session, revoke its current
// token, insert the successor, touch the session, commit; six round trips.
// :n picks one of the seeded sessions at random.
const pgbenchScript = `\set n random(1, %d)
BEGIN;
SELECT f.id, f.user_id, f.expires_at, f.revoked_at, f.version, u.role, u.is_active FROM token_families AS f JOIN users AS u ON u.id = f.user_id WHERE f.id = (SELECT family_id FROM bench_families WHERE kind = '%[2]s' AND n = :n) FOR UPDATE OF f;
UPDATE refresh_tokens SET revoked_at = now() WHERE token_family = (SELECT family_id FROM bench_families WHERE kind = '%[2]s' AND n = :n) AND revoked_at IS NULL;
INSERT INTO refresh_tokens (token, token_family, user_id, expires_at) SELECT encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex'), family_id, user_id, now() + interval '14 days' FROM bench_families WHERE kind = '%[2]s' AND n = :n;
UPDATE token_families SET last_used_at = now(), version = version + 1 WHERE id = (SELECT family_id FROM bench_families WHERE kind = '%[2]s' AND n = :n);
COMMIT;
`

var (
	tpsPattern    = regexp.MustCompile(`tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing)\)`)
	failedPattern = regexp.MustCompile(`number of failed transactions: ([0-9]+)`)
)

// pgbenchResult is what pgbench reported.
type pgbenchResult struct {
	tps    float64
	failed int64
	output string
}

// runPgbench runs script (named name in dir) with o.concurrency clients
// for o.duration against dsn, at rate transactions per second (pgbench -R)
// or, with rate 0, as fast as it can.
func runPgbench(ctx context.Context, o options, dsn, dir, name, script string, rate float64) (pgbenchResult, error) {
	bin, err := findPgbench(o.pgbench)
	if err != nil {
		return pgbenchResult{}, err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		return pgbenchResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration+time.Minute)
	defer cancel()
	args := []string{"-n", "-T", strconv.Itoa(int((o.duration + time.Second - 1) / time.Second)),
		"-c", strconv.Itoa(o.concurrency), "-j", strconv.Itoa(min(2, o.concurrency)),
		"-M", o.pgbenchMode, "-D", "started=0", "-f", path}
	if rate > 0 {
		args = append(args, "-R", strconv.FormatFloat(rate, 'f', 1, 64))
	}
	args = append(args, dsn)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	res := pgbenchResult{output: string(out)}
	if err != nil {
		return res, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsPattern.FindSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("pgbench: no tps in its output:\n%s", out)
	}
	res.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := failedPattern.FindSubmatch(out); m != nil {
		res.failed, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	return res, nil
}

// findPgbench returns explicit if set, else pgbench from PATH, else the
// newest /usr/lib/postgresql/*/bin/pgbench.
func findPgbench(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) == 0 {
		return "", errors.New("pgbench not found (set -pgbench)")
	}
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) < pgMajor(found[j]) })
	return found[len(found)-1], nil
}

// pgMajor extracts the major version from /usr/lib/postgresql/N/bin/pgbench.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// chains hands each worker its own sessions and tracks their current
// refresh tokens. Worker w owns sessions w, w+c, w+2c, …
type chains struct {
	c       int
	secrets []string
	next    []int // per worker: index into its sessions
}

func newChains(c int, secrets []string) *chains {
	return &chains{c: c, secrets: secrets, next: make([]int, c)}
}

// current returns the slot of worker w's current session.
func (ch *chains) current(w int) (int, error) {
	slot := w + ch.next[w]*ch.c
	if slot >= len(ch.secrets) {
		return 0, errWorkerDone
	}
	return slot, nil
}

// rotate presents the current token of worker w's session through
// exchange and records its successor; on failure the worker moves on to
// its next session.
func (ch *chains) rotate(w int, exchange func(secret string) (string, error)) error {
	slot, err := ch.current(w)
	if err != nil {
		return err
	}
	next, err := exchange(ch.secrets[slot])
	if err != nil {
		ch.next[w]++
		return err
	}
	ch.secrets[slot] = next
	return nil
}

// refreshHTTP rotates the seeded sessions through POST /v1/auth/refresh.
func refreshHTTP(ctx context.Context, o options, cl *client, secrets []string) loadResult {
	ch := newChains(o.concurrency, secrets)
	exchanges := make([]*exchange, o.concurrency)
	for i := range exchanges {
		exchanges[i] = newExchange()
		defer exchanges[i].release()
	}
	return runLoad(ctx, o.concurrency, o.duration, o.maxOps, func(w, _ int) error {
		return ch.rotate(w, func(secret string) (string, error) {
			body, err := cl.postJSON(exchanges[w], "/v1/auth/refresh", []byte(`{"refresh_token":"`+secret+`"}`))
			if err != nil {
				return "", err
			}
			var t tokenResponse
			if err := json.Unmarshal(body, &t); err != nil || t.RefreshToken == "" {
				return "", fmt.Errorf("refresh response without refresh_token: %.200s", body)
			}
			return t.RefreshToken, nil
		})
	})
}

// refreshInProcess rotates the seeded sessions through authd's Refresh use
// case built by newInProcessRefresh, with no HTTP, writing a CPU profile
// when o.cpuProfile is set.
func refreshInProcess(ctx context.Context, o options, dsn, keyFile string, secrets []string) (loadResult, error) {
	rotate, closeDB, err := newInProcessRefresh(ctx, dsn, keyFile)
	if err != nil {
		return loadResult{}, err
	}
	defer func() { _ = closeDB() }()
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return loadResult{}, err
		}
		defer stop()
	}
	ch := newChains(o.concurrency, secrets)
	return runLoad(ctx, o.concurrency, o.duration, o.maxOps, func(w, _ int) error {
		return ch.rotate(w, func(secret string) (string, error) { return rotate(ctx, secret) })
	}), nil
}

// startCPUProfile profiles this process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// refreshRound is one round of the refresh phase: authd over HTTP between
// two runs of the naive transaction at full speed, then the naive
// transaction and authd's statements by pgbench at authd's rate.
type refreshRound struct {
	before, after, naiveAt, ownAt pgbenchResult
	naiveAtUse, ownAtUse, webUse  cpuUse
	web                           loadResult
}

// naiveTPS is the throughput reference: the mean of the naive transaction
// at full speed before and after authd.
func (r refreshRound) naiveTPS() float64 { return (r.before.tps + r.after.tps) / 2 }

// authdTotal is authd's and PostgreSQL's CPU per rotation over HTTP, in ms.
func (r refreshRound) authdTotal() float64 {
	return perOpMs(r.webUse.server+r.webUse.pg, r.web.rate())
}

// naiveTotal is PostgreSQL's and pgbench's CPU per naive transaction at
// authd's rate, in ms.
func (r refreshRound) naiveTotal() float64 {
	return perOpMs(r.naiveAtUse.pg+r.naiveAtUse.self, r.naiveAt.tps)
}

// authdPG and ownPG are PostgreSQL's CPU per rotation, in ms, when authd
// sends its statements and when pgbench sends them at authd's rate.
func (r refreshRound) authdPG() float64 { return perOpMs(r.webUse.pg, r.web.rate()) }
func (r refreshRound) ownPG() float64   { return perOpMs(r.ownAtUse.pg, r.ownAt.tps) }

// The ratios of the three refresh bars; 0 when the reference is missing.
func (r refreshRound) cpuRatio() float64  { return safeRatio(r.authdTotal(), r.naiveTotal()) }
func (r refreshRound) rateRatio() float64 { return safeRatio(r.web.rate(), r.naiveTPS()) }
func (r refreshRound) pgRatio() float64   { return safeRatio(r.authdPG(), r.ownPG()) }

func safeRatio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// medianRound returns the round whose ratio by of is the median of the
// rounds' (the middle one of an odd number, the lower middle one else).
func medianRound[R any](rounds []R, of func(R) float64) R {
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b R) int { return cmp.Compare(of(a), of(b)) })
	return sorted[(len(sorted)-1)/2]
}

// roundRatios lists the rounds' ratios by of, in the order they ran.
func roundRatios[R any](rounds []R, of func(R) float64) string {
	s := make([]string, len(rounds))
	for i, r := range rounds {
		s[i] = fmt.Sprintf("%.2fx", of(r))
	}
	return strings.Join(s, " ")
}
