package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/fx"

	"authd/adapters/password"
)

// Garbage collection is tuned for argon2id. Every password hash allocates
// its whole memory cost (19 MiB by default) and drops it at once. With Go's
// default GOGC=100 and authd's small live heap, nearly every login then
// triggers a full collection, which costs about 15% on top of the hash.
// authd instead collects when the heap reaches a limit sized for the hashes
// that may run at once, and hands memory back to the system once the
// hashing has gone quiet. Setting GOGC or GOMEMLIMIT keeps Go's own policy.
const (
	// gcBaseBytes is the allowance for everything but password hashes.
	gcBaseBytes = 64 << 20
	// gcHashHeadroom is how many hashes' worth of memory may pile up per
	// hashing slot between two collections.
	gcHashHeadroom = 2
	// releaseInterval is how often idle memory is handed back.
	releaseInterval = 30 * time.Second
)

// gcMemoryLimit is the heap size at which authd collects garbage.
func gcMemoryLimit(cfg Config) int64 {
	perHash := int64(cfg.Argon2.Memory) << 10
	return gcBaseBytes + int64(cfg.HashConcurrency)*gcHashHeadroom*perHash
}

// tuneGC applies the policy above unless GOGC or GOMEMLIMIT is set, and
// while the server runs returns memory to the system whenever no hash is
// running or waiting, so RSS falls back after a burst of logins.
func tuneGC(lc fx.Lifecycle, cfg Config, hasher *password.Hasher, log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := gcMemoryLimit(cfg)
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(-1)
	log.Debug("garbage collection tuned for password hashing", "memory_limit_bytes", limit)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				releaseWhenIdle(ctx, hasher)
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			cancel()
			<-done
			return nil
		},
	})
}

// releaseWhenIdle hands freed memory back to the system every
// releaseInterval while the hasher is idle, until ctx ends.
func releaseWhenIdle(ctx context.Context, hasher *password.Hasher) {
	t := time.NewTicker(releaseInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if hasher.InFlight() == 0 && hasher.QueueDepth() == 0 {
				debug.FreeOSMemory()
			}
		}
	}
}
