package memory

import (
	"math/rand/v2"
	"sync"
	"time"

	"authd/ports"
)

// Clock is a settable ports.Clock for tests. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ ports.Clock = (*Clock)(nil)

// NewClock returns a clock stopped at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Random is a deterministic ports.RandomSource for tests: the same seed
// gives the same bytes. It is safe for concurrent use and never fails.
// Never use it outside tests.
type Random struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

var _ ports.RandomSource = (*Random)(nil)

// NewRandom returns a Random seeded with seed.
func NewRandom(seed uint64) *Random {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return &Random{r: rand.NewChaCha8(s)}
}

// Read fills p with the next bytes of the stream.
func (r *Random) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Read(p)
}
