package main

import (
	"log/slog"
	"os"
	"runtime"
)

// Hashing gets processors of its own. argon2id keeps a goroutine on the CPU
// for tens of milliseconds; with GOMAXPROCS hashing slots and GOMAXPROCS
// processors, a login flood keeps every processor hashing, and a refresh,
// /v1/users/me or health check waits in Go's run queue behind the hashes
// for each of its steps (a 50 ms refresh p99 is out of reach). authd
// therefore runs with as many extra processors as there are hashing slots:
// the hashes can still occupy only AUTHD_HASH_CONCURRENCY of them, the
// other requests always find a free one, and the kernel gives the cores to
// them first, because the hashes run on threads of lower priority (see
// adapters/password). Setting GOMAXPROCS keeps Go's own choice.

// reserveProcs raises GOMAXPROCS by cfg.HashConcurrency unless GOMAXPROCS
// is set, and returns the value in force.
func reserveProcs(cfg Config, log *slog.Logger) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	base := runtime.GOMAXPROCS(0)
	n := base + cfg.HashConcurrency
	runtime.GOMAXPROCS(n)
	log.Debug("processors reserved beside the hashing slots", "gomaxprocs", n, "hash_concurrency", cfg.HashConcurrency, "default", base)
	return n
}
