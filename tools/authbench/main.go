// Command authbench measures authd against the quality bars of DESIGN.md.
//
// Every bar is a ratio against a reference measured in the same run, on the
// same machine and the same PostgreSQL cluster, so that the result does not
// depend on how fast the machine happens to be:
//
//   - refresh rotations/s over HTTP against pgbench running the naive
//     lock/revoke/insert/commit transaction on the same tables (≥ 1.5×);
//   - the same through PgBouncer in transaction mode against directly
//     (≥ 0.8×);
//   - password logins/s against the argon2id ceiling, cores ÷ time of one
//     hash (≥ 0.9×);
//   - GET /v1/users/me requests/s (≥ 5,000, absolute);
//   - resident memory idle (< 100 MiB) and bounded under a login burst;
//   - a login flood at 10x the argon2id ceiling while refreshes run: RSS
//     (< 250 MiB), refresh p99 (< 50 ms), no 5xx but 503 overloaded;
//   - password reset requests for known, unknown and disabled addresses:
//     the same answer, and latency distributions that a Kolmogorov-Smirnov
//     test cannot tell apart (p > 0.001).
//
// It creates a fresh database through the admin DSN in AUTHBENCH_ADMIN_DSN,
// migrates and seeds it, builds authd's cmd/authd (with authd's go.mod) and
// runs it as a child process on a free 127.0.0.1 port, and drops the
// database at the end. The result is a table on standard output; with
// -strict a failed bar makes the exit status non-zero.
//
// authbench is a module of its own, so that what only the benchmark needs
// stays out of authd's go.mod; it is not part of the product. `make bench`
// builds and runs it; by hand, from authd's repository:
//
//	AUTHBENCH_ADMIN_DSN=postgres://postgres@127.0.0.1:55433/postgres?sslmode=disable \
//	    go run -C tools/authbench . [-duration 10s] [-concurrency 8] [-strict]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	adminDSN    string
	duration    time.Duration
	concurrency int
	burst       int
	maxOps      int
	loginUsers  int
	pgFamilies  int
	hashRuns    int
	pgbench     string
	pgbenchMode string
	authdPkg    string
	cpuProfile  string
	wrk         bool
	keepDB      bool
	strict      bool

	pgbouncer     bool
	pgbouncerPort int
	pgbouncerPool int
	// phases are the phases to run, by name; all of them when empty.
	phases      map[string]bool
	resetRounds int
	// mfaRuns is how many times the mfa phase runs each ceremony.
	mfaRuns int
	// rounds is how many rounds the refresh and janitor phases run (odd).
	rounds   int
	resetGap time.Duration
	// janitorBacklog is how many expired refresh tokens the janitor
	// phase leaves to prune.
	janitorBacklog int
}

// allPhases names the phases in the order they run.
var allPhases = []string{"memory", "refresh", "pgbouncer", "login", "me", "flood", "reset", "mfa", "janitor"}

// runs reports whether the phase called name is to run.
func (o options) runs(name string) bool { return len(o.phases) == 0 || o.phases[name] }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the benchmark and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "authbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep, err := benchmark(ctx, opts, stderr)
	if rep != nil {
		if err != nil {
			rep.note("the run stopped early: %v", err)
			rep.stopped = true
		}
		rep.print(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "authbench:", err)
		return 1
	}
	if opts.strict && !rep.passed() {
		fmt.Fprintln(stderr, "authbench: a quality bar failed (-strict)")
		return 1
	}
	return 0
}

// parseFlags reads the flags and the admin DSN from the environment.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each load phase")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent clients in every load phase (pgbench -c too)")
	fs.IntVar(&o.burst, "burst", 200, "concurrent logins started at once in the memory phase")
	fs.IntVar(&o.maxOps, "max-ops", 1_000_000, "upper bound on the operations of one worker in one phase")
	fs.IntVar(&o.loginUsers, "login-users", 4000, "distinct users the login phase cycles through")
	fs.IntVar(&o.pgFamilies, "pgbench-families", 20000, "sessions the pgbench reference picks from at random")
	fs.IntVar(&o.hashRuns, "hash-runs", 20, "argon2id hashes timed for the ceiling")
	fs.StringVar(&o.pgbench, "pgbench", "", "pgbench binary (default: PATH, then /usr/lib/postgresql/*/bin)")
	fs.StringVar(&o.pgbenchMode, "pgbench-protocol", "prepared", "pgbench -M query protocol: simple, extended or prepared")
	fs.StringVar(&o.authdPkg, "authd", "", "directory of the server's main package to build and run (default: cmd/authd of the authd module)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the in-process refresh phase to this file")
	fs.BoolVar(&o.wrk, "wrk", true, "also measure GET /v1/users/me with wrk when it is installed")
	fs.BoolVar(&o.keepDB, "keep-db", false, "keep the benchmark database instead of dropping it")
	fs.BoolVar(&o.strict, "strict", false, "exit non-zero when a quality bar fails")
	fs.BoolVar(&o.pgbouncer, "pgbouncer", true, "also measure refresh through PgBouncer in transaction mode (.ci/pgbouncer.sh installs and starts it)")
	fs.IntVar(&o.pgbouncerPort, "pgbouncer-port", 0, "127.0.0.1 port of that PgBouncer (default: a free one)")
	fs.IntVar(&o.pgbouncerPool, "pgbouncer-pool", 20, "server connections that PgBouncer holds per database")
	fs.IntVar(&o.janitorBacklog, "janitor-backlog", 2_000_000, "expired refresh tokens the janitor phase gives the janitor to prune while refresh is measured")
	fs.IntVar(&o.mfaRuns, "mfa-runs", 100, "runs of each ceremony in the mfa phase, each for a user of its own")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of the refresh and janitor phases, an odd number: each of their bars is the median of its rounds")
	fs.IntVar(&o.resetRounds, "reset-rounds", 1000, "rounds of the reset phase: one request each for a known, an unknown and a disabled address")
	fs.DurationVar(&o.resetGap, "reset-gap", 10*time.Millisecond, "pause after each request of the reset phase, so that the deferred work of one is done before the next")
	phases := fs.String("phases", strings.Join(allPhases, ","), "comma-separated phases to run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, p := range strings.Split(*phases, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(allPhases, p) {
			return o, fmt.Errorf("-phases: unknown phase %q (known: %s)", p, strings.Join(allPhases, ", "))
		}
		if o.phases == nil {
			o.phases = map[string]bool{}
		}
		o.phases[p] = true
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.adminDSN = os.Getenv("AUTHBENCH_ADMIN_DSN")
	switch {
	case o.adminDSN == "":
		return o, errors.New("AUTHBENCH_ADMIN_DSN is required (an admin DSN of a PostgreSQL cluster; make bench starts one)")
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return o, errors.New("-duration must be between 1s and 10m")
	case o.concurrency < 1 || o.concurrency > 256:
		return o, errors.New("-concurrency must be between 1 and 256")
	case o.burst < 1 || o.burst > 1000:
		return o, errors.New("-burst must be between 1 and 1000")
	case o.pgbouncerPort < 0 || o.pgbouncerPort > 65535 || o.pgbouncerPool < 1:
		return o, errors.New("-pgbouncer-port must be a port (0: a free one) and -pgbouncer-pool positive")
	case o.mfaRuns < 1 || o.mfaRuns > 10_000:
		return o, errors.New("-mfa-runs must be between 1 and 10000")
	case o.rounds < 1 || o.rounds > 9 || o.rounds%2 == 0:
		return o, errors.New("-rounds must be an odd number from 1 to 9")
	case o.resetRounds < 10 || o.resetRounds > 100_000 || o.resetGap < 0 || o.resetGap > time.Second:
		return o, errors.New("-reset-rounds must be between 10 and 100000, -reset-gap between 0 and 1s")
	case o.janitorBacklog < 1000 || o.janitorBacklog > 100_000_000:
		return o, errors.New("-janitor-backlog must be between 1000 and 100000000")
	case o.maxOps < 1 || o.loginUsers < o.concurrency || o.pgFamilies < 1 || o.hashRuns < 1:
		return o, errors.New("-max-ops, -pgbench-families and -hash-runs must be positive; -login-users at least -concurrency")
	}
	return o, nil
}
