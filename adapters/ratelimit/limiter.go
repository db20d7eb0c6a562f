// Package ratelimit implements ports.RateLimiter in process memory with an
// exact sliding window per key.
package ratelimit

import (
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"authd/ports"
)

// DefaultMaxKeys bounds the number of keys a Limiter made by New tracks.
const DefaultMaxKeys = 100_000

// keysPerShard sets how many shards a cap is split into: fewer shards for
// small caps keep the cap exact, more shards for large ones keep lock
// contention low.
const (
	keysPerShard = 1024
	maxShards    = 64
)

// Limiter allows at most limit attempts per key in any window of length
// window (a sliding log of the accepted attempts' times; refused attempts
// are not recorded, so a refused caller that waits Retry-After gets in).
//
// Memory is bounded by maxKeys × limit timestamps. Keys whose newest attempt
// is older than the window carry no information and are dropped when their
// shard next makes room. When a shard is full of live keys, the key with the
// fewest attempts in its window is evicted to make room for a new key.
// Evicting a key forgets at most that many attempts, and an attacker who
// wants a victim's counter (say, n failed logins) forgotten must first give
// every other tracked key more than n attempts inside one window, which the
// per-key limit itself makes expensive; a new key is never refused just
// because the table is full, so filling it cannot lock everyone out.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	limit  int
	window time.Duration
	seed   maphash.Seed
	shards []shard
}

var _ ports.RateLimiter = (*Limiter)(nil)

type shard struct {
	mu        sync.Mutex
	keys      map[string]*entry
	max       int
	lastSweep time.Time
}

// entry holds the times (Unix nanoseconds, ascending) of the accepted
// attempts inside the window.
type entry struct {
	times []int64
}

// New returns a Limiter allowing limit attempts per key per window and
// tracking at most DefaultMaxKeys keys. It panics when limit or window is
// not positive.
func New(limit int, window time.Duration) *Limiter {
	return NewWithMaxKeys(limit, window, DefaultMaxKeys)
}

// NewWithMaxKeys is New with a different bound on the number of keys.
func NewWithMaxKeys(limit int, window time.Duration, maxKeys int) *Limiter {
	if limit <= 0 || window <= 0 || maxKeys <= 0 {
		panic(fmt.Sprintf("ratelimit: limit (%d), window (%s) and maxKeys (%d) must be positive", limit, window, maxKeys))
	}
	n := min(max(maxKeys/keysPerShard, 1), maxShards)
	l := &Limiter{limit: limit, window: window, seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range l.shards {
		l.shards[i].keys = map[string]*entry{}
		// Spread the cap so the shards add up to exactly maxKeys.
		l.shards[i].max = maxKeys / n
		if i < maxKeys%n {
			l.shards[i].max++
		}
	}
	return l
}

// Allow records one attempt for key at now, unless key already has limit
// attempts in the window ending at now; then it reports false and how long
// until the oldest of them leaves the window.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	cutoff := t - int64(l.window)
	e, ok := s.keys[key]
	if !ok {
		s.makeRoom(now, cutoff, l.window)
		e = &entry{times: make([]int64, 0, min(l.limit, 8))}
		s.keys[key] = e
	}
	e.prune(cutoff)
	if len(e.times) >= l.limit {
		return false, time.Duration(e.times[0] - cutoff)
	}
	e.times = append(e.times, t)
	return true, 0
}

// Len returns the number of keys tracked, live or stale.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}

// makeRoom drops stale keys at most once per window, or whenever the shard
// is full, and then evicts the key with the fewest live attempts if the
// shard is still full.
func (s *shard) makeRoom(now time.Time, cutoff int64, window time.Duration) {
	full := len(s.keys) >= s.max
	if !full && now.Sub(s.lastSweep) < window {
		return
	}
	s.lastSweep = now
	var victim string
	fewest := -1
	for k, e := range s.keys {
		e.prune(cutoff)
		if len(e.times) == 0 {
			delete(s.keys, k)
			continue
		}
		if fewest < 0 || len(e.times) < fewest {
			victim, fewest = k, len(e.times)
		}
	}
	if len(s.keys) >= s.max && fewest >= 0 {
		delete(s.keys, victim)
	}
}

// prune drops the attempts at or before cutoff.
func (e *entry) prune(cutoff int64) {
	i := 0
	for i < len(e.times) && e.times[i] <= cutoff {
		i++
	}
	if i > 0 {
		e.times = e.times[:copy(e.times, e.times[i:])]
	}
}
