package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"
	"go.uber.org/fx"

	"authd/adapters/httpapi"
	"authd/adapters/postgres"
	"authd/ports"
)

// PruneConfig is how long rows that have served their purpose are kept and
// how often the janitor looks for them.
type PruneConfig struct {
	After          time.Duration // AUTHD_PRUNE_AFTER
	AuditRetention time.Duration // AUTHD_AUDIT_RETENTION
	Interval       time.Duration // AUTHD_PRUNE_INTERVAL
}

// loadPrune reads the janitor's variables.
func loadPrune(r *envReader) PruneConfig {
	return PruneConfig{
		// A rotated token must stay long enough to be recognised as reused.
		After:          r.duration("AUTHD_PRUNE_AFTER", 7*24*time.Hour, time.Hour, 10*365*24*time.Hour),
		AuditRetention: r.duration("AUTHD_AUDIT_RETENTION", 400*24*time.Hour, 24*time.Hour, 100*365*24*time.Hour),
		Interval:       r.duration("AUTHD_PRUNE_INTERVAL", time.Minute, time.Second, 24*time.Hour),
	}
}

// newJanitor returns the janitor of cfg on db, resting rest times as long
// as each full batch took (postgres.Retention.Rest).
func newJanitor(cfg Config, db *bun.DB, rest float64) *postgres.Janitor {
	return postgres.NewJanitor(db, postgres.Retention{
		PruneAfter:     cfg.Prune.After,
		AuditRetention: cfg.Prune.AuditRetention,
		KnownIPTTL:     cfg.Limits.KnownIPTTL,
		Rest:           rest,
	})
}

// janitorRest is how the server's janitor paces itself through a backlog
// (postgres.Retention.Rest): at work a fifth of the time, it still deletes
// 9,000-13,000 rows a second on the 2-core development machine, about ten
// times the refresh tokens a million users refreshing every 15 minutes
// add, and its cost to refresh throughput is lost in the machine's noise
// (make bench BENCH_ARGS=-phases=janitor). authd prune does not rest.
const janitorRest = 4

// startJanitor runs a pruning pass every AUTHD_PRUNE_INTERVAL while the
// server runs (instances take turns: a pass that finds another instance
// pruning steps aside) and counts what it deletes in
// authd_pruned_rows_total.
func startJanitor(lc fx.Lifecycle, cfg Config, db *bun.DB, clock ports.Clock, log *slog.Logger, metrics *httpapi.Metrics) {
	j := newJanitor(cfg, db, janitorRest)
	pruned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_pruned_rows_total", Help: "Rows the janitor deleted, by table.",
	}, []string{"table"})
	metrics.Registry().MustRegister(pruned)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				tick := time.NewTicker(cfg.Prune.Interval)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						pass(ctx, j, clock.Now(), cfg.Prune.Interval, log, func(table string, n int) {
							pruned.WithLabelValues(table).Add(float64(n))
						})
					}
				}
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			stop()
			select {
			case <-done:
				return nil
			case <-stopCtx.Done():
				return stopCtx.Err()
			}
		},
	})
}

// pass runs one pruning pass bounded by limit and reports what it deleted.
func pass(ctx context.Context, j *postgres.Janitor, now time.Time, limit time.Duration, log *slog.Logger, count func(table string, n int)) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	pruned, err := j.Pass(ctx, now)
	for table, n := range pruned {
		count(table, n)
	}
	switch {
	case err == nil:
		if total(pruned) > 0 {
			log.Info("pruned", "rows", map[string]int(pruned))
		}
	case errors.Is(err, postgres.ErrJanitorBusy):
		log.Debug("another instance is pruning")
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Stopping, or a pass longer than the interval: the next continues.
	default:
		log.Warn("pruning failed", "err", err)
	}
}

func total(p postgres.Pruned) int {
	n := 0
	for _, v := range p {
		n += v
	}
	return n
}

// prune is `authd prune`: one pass of the janitor, now.
func prune(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("prune takes no arguments, got %q", fs.Args())
	}
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is required")
	}
	db, err := postgres.Open(cfg.DatabaseURL, cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	// An operator's pass prunes flat out.
	pruned, err := newJanitor(cfg, db, 0).Pass(ctx, time.Now())
	for _, table := range slices.Sorted(maps.Keys(pruned)) {
		fmt.Fprintf(stdout, "%s: %d rows\n", table, pruned[table])
	}
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}
