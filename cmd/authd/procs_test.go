package main

import (
	"log/slog"
	"runtime"
	"testing"
)

// TestReserveProcs is not parallel: it changes the process's GOMAXPROCS,
// and restores it before the parallel tests run.
func TestReserveProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOMAXPROCS", "")
	if got := reserveProcs(Config{HashConcurrency: 3}, log); got != before+3 || runtime.GOMAXPROCS(0) != before+3 {
		t.Errorf("reserveProcs = %d (GOMAXPROCS %d), want %d: a processor beside every hashing slot", got, runtime.GOMAXPROCS(0), before+3)
	}
	runtime.GOMAXPROCS(before)

	t.Setenv("GOMAXPROCS", "1")
	if got := reserveProcs(Config{HashConcurrency: 3}, log); got != before || runtime.GOMAXPROCS(0) != before {
		t.Errorf("with GOMAXPROCS set, reserveProcs = %d, want Go's own %d unchanged", got, before)
	}
}
