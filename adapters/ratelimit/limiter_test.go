package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authd/adapters/ratelimit"
)

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type step struct {
	key       string
	at        time.Duration // since base
	wantOK    bool
	wantRetry time.Duration
}

func TestAllowSlidingWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limit  int
		window time.Duration
		steps  []step
	}{
		{
			name: "limit then wait for the oldest to leave", limit: 3, window: time.Minute,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 10 * time.Second, true, 0},
				{"a", 20 * time.Second, true, 0},
				{"a", 30 * time.Second, false, 30 * time.Second},
				{"a", 59 * time.Second, false, time.Second},
				{"a", 60 * time.Second, true, 0},
				{"a", 61 * time.Second, false, 9 * time.Second},
				{"a", 70 * time.Second, true, 0},
				{"a", 80 * time.Second, true, 0},
				{"a", 81 * time.Second, false, 39 * time.Second},
			},
		},
		{
			name: "refused attempts are not counted", limit: 1, window: time.Minute,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 30 * time.Second, false, 30 * time.Second},
				{"a", 59 * time.Second, false, time.Second},
				{"a", time.Minute, true, 0},
			},
		},
		{
			name: "keys are independent", limit: 1, window: time.Minute,
			steps: []step{
				{"a", 0, true, 0},
				{"b", 0, true, 0},
				{"a", time.Second, false, 59 * time.Second},
				{"b", time.Second, false, 59 * time.Second},
				{"c", time.Second, true, 0},
			},
		},
		{
			name: "sub-second precision", limit: 2, window: time.Second,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 250 * time.Millisecond, true, 0},
				{"a", 500 * time.Millisecond, false, 500 * time.Millisecond},
				{"a", time.Second, true, 0},
				{"a", time.Second, false, 250 * time.Millisecond},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := ratelimit.New(tt.limit, tt.window)
			for i, s := range tt.steps {
				ok, retry := l.Allow(s.key, base.Add(s.at))
				if ok != s.wantOK || retry != s.wantRetry {
					t.Fatalf("step %d: Allow(%q, +%s) = (%v, %s), want (%v, %s)", i, s.key, s.at, ok, retry, s.wantOK, s.wantRetry)
				}
			}
		})
	}
}

func TestStaleKeysAreDropped(t *testing.T) {
	t.Parallel()
	// A small cap gives a single shard; each shard sweeps itself.
	l := ratelimit.NewWithMaxKeys(5, time.Minute, 1000)
	for i := range 100 {
		l.Allow(fmt.Sprint("k", i), base)
	}
	if l.Len() != 100 {
		t.Fatalf("Len = %d, want 100", l.Len())
	}
	// A new key after the window sweeps the stale ones.
	l.Allow("late", base.Add(2*time.Minute))
	if l.Len() != 1 {
		t.Fatalf("Len after the window = %d, want 1", l.Len())
	}
}

func TestCapEvictsTheLeastUsedKey(t *testing.T) {
	t.Parallel()
	const maxKeys = 10
	l := ratelimit.NewWithMaxKeys(3, time.Hour, maxKeys)
	// The victim has used its whole budget.
	for range 3 {
		l.Allow("victim", base)
	}
	// An attacker floods the table with new keys, one attempt each.
	for i := range 1000 {
		if ok, _ := l.Allow(fmt.Sprint("junk", i), base.Add(time.Second)); !ok {
			t.Fatalf("new key %d refused: a full table must not lock new keys out", i)
		}
	}
	if l.Len() > maxKeys {
		t.Fatalf("Len = %d, want at most %d", l.Len(), maxKeys)
	}
	if ok, _ := l.Allow("victim", base.Add(2*time.Second)); ok {
		t.Fatal("the victim's counter was evicted by single-attempt keys")
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	const limit = 50
	l := ratelimit.New(limit, time.Minute)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if ok, _ := l.Allow("shared", base.Add(time.Duration(g*100+i)*time.Millisecond)); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprint("own", g, i), base)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != limit {
		t.Fatalf("allowed %d attempts on one key, want %d", allowed.Load(), limit)
	}
}

func TestNewPanicsOnBadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Minute}, {1, 0}, {-1, time.Minute}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d, %s) did not panic", tc.limit, tc.window)
				}
			}()
			ratelimit.New(tc.limit, tc.window)
		}()
	}
}

func BenchmarkAllow(b *testing.B) {
	l := ratelimit.New(10, time.Minute)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("ip:10.0.", i/256, ".", i%256)
	}
	i := 0
	for b.Loop() {
		l.Allow(keys[i%len(keys)], base.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}
