package main

import (
	"testing"

	"authd/adapters/password"
)

func TestGCMemoryLimitFitsTheHashesInFlight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		concurrency int
		memoryKiB   uint32
		want        int64
	}{
		{concurrency: 2, memoryKiB: 19456, want: 64<<20 + 2*2*19<<20},
		{concurrency: 8, memoryKiB: 65536, want: 64<<20 + 8*2*64<<20},
		{concurrency: 1, memoryKiB: 64, want: 64<<20 + 2*64<<10},
	} {
		cfg := Config{HashConcurrency: tt.concurrency, Argon2: password.Params{Memory: tt.memoryKiB}}
		if got := gcMemoryLimit(cfg); got != tt.want {
			t.Errorf("gcMemoryLimit(concurrency %d, %d KiB) = %d, want %d", tt.concurrency, tt.memoryKiB, got, tt.want)
		}
	}
}
