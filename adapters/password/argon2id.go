// Package password hashes passwords with argon2id and recognises common
// passwords. Hashes are stored as PHC strings, the format of the reference
// implementation: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with salt and
// hash in standard base64 without padding.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"

	"authd/domain"
	"authd/ports"
)

// Bounds on parameters, both for configuration and for parsing stored hashes:
// a hash read from the database must not be able to make one Verify allocate
// gigabytes or run for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 100
	maxThreads   = 255
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 128
	// maxEncodedLen comfortably exceeds the longest valid PHC string
	// (salt and key at their maxima) and stops absurd input before parsing.
	maxEncodedLen = 512
)

// ErrMalformedHash is returned by Verify when the stored hash is not a PHC
// argon2id string this package accepts.
var ErrMalformedHash = errors.New("password: malformed argon2id hash")

// ErrTooLong is returned when a password exceeds domain.MaxPasswordBytes.
// Callers validate length first; this is a last line of defence.
var ErrTooLong = errors.New("password: input too long to hash")

// Params are the argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived key in bytes.
	KeyLen uint32
}

// DefaultParams returns OWASP's recommended argon2id parameters:
// m=19456 KiB (19 MiB), t=2, p=1, with a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p is usable: every field within the bounds this
// package also enforces on stored hashes.
func (p Params) Validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("password: argon2id threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("password: argon2id time must be in [1, %d]", maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("password: argon2id memory must be in [8*threads, %d] KiB", maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("password: argon2id salt length must be in [%d, %d]", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("password: argon2id key length must be in [%d, %d]", minKeyLen, maxKeyLen)
	}
	return nil
}

// QueueFactor is how many calls per hashing slot may wait for one when
// NewHasher is given no queue bound.
const QueueFactor = 8

// Hasher implements ports.PasswordHasher with argon2id. At most
// maxConcurrent hashes run at once and at most maxQueue further calls wait
// for a slot; a call beyond those is refused with ports.ErrOverloaded, so a
// flood of logins costs bounded memory and time instead of a queue that
// grows without end.
type Hasher struct {
	params   Params
	sem      chan struct{}
	maxQueue int64
	waiting  atomic.Int64
	inFlight atomic.Int64
	refused  atomic.Int64
	dummy    string
	threads  *hashThreads
}

var _ ports.PasswordHasher = (*Hasher)(nil)

// NewHasher returns a Hasher with parameters p that runs at most
// maxConcurrent hashes at once (runtime.GOMAXPROCS(0) when maxConcurrent is
// zero or negative) and lets at most maxQueue calls wait for a slot
// (QueueFactor × maxConcurrent when maxQueue is zero or negative). It
// computes the dummy hash used by VerifyDummy, which costs one hash.
func NewHasher(p Params, maxConcurrent, maxQueue int) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	if maxQueue <= 0 {
		maxQueue = QueueFactor * maxConcurrent
	}
	h := &Hasher{params: p, sem: make(chan struct{}, maxConcurrent), maxQueue: int64(maxQueue), threads: newHashThreads()}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("password: dummy secret: %w", err)
	}
	dummy, err := h.encode(base64.RawStdEncoding.EncodeToString(secret[:]))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// QueueDepth returns the number of calls waiting for a hashing slot.
func (h *Hasher) QueueDepth() int { return int(h.waiting.Load()) }

// InFlight returns the number of hashes running now.
func (h *Hasher) InFlight() int { return int(h.inFlight.Load()) }

// Refused returns how many calls were refused because the queue was full.
func (h *Hasher) Refused() int64 { return h.refused.Load() }

// Hash returns the PHC encoding of an argon2id hash of plain, in the form
// domain.NormalizePassword gives it, with a fresh random salt. It returns ErrTooLong for inputs over domain.MaxPasswordBytes,
// an error wrapping ports.ErrOverloaded when the queue is full, and ctx.Err()
// if ctx ends while waiting for a slot.
func (h *Hasher) Hash(ctx context.Context, plain string) (string, error) {
	if len(plain) > domain.MaxPasswordBytes {
		return "", ErrTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	var encoded string
	var err error
	h.threads.run(func() { encoded, err = h.encode(domain.NormalizePassword(plain)) })
	return encoded, err
}

// Verify reports whether plain matches the PHC string encoded and whether
// encoded should be replaced: it was made with parameters other than the
// configured ones, or from plain as typed rather than in the normalised
// form Hash uses. Such a hash, made before passwords were normalised, still
// matches: when the normalised form does not match and differs from plain,
// plain itself is tried, in the same hashing slot. It
// returns ErrMalformedHash (wrapped) when encoded cannot be parsed or its
// parameters are out of bounds, ErrTooLong for an oversized plain, an
// error wrapping ports.ErrOverloaded when the queue is full, and ctx.Err()
// if ctx ends while waiting for a slot.
func (h *Hasher) Verify(ctx context.Context, plain, encoded string) (ok, needsRehash bool, err error) {
	if len(plain) > domain.MaxPasswordBytes {
		return false, false, ErrTooLong
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	matches := func(s string) bool {
		return subtle.ConstantTimeCompare(argon2.IDKey([]byte(s), salt, p.Time, p.Memory, p.Threads, p.KeyLen), key) == 1
	}
	normal := domain.NormalizePassword(plain)
	h.threads.run(func() {
		switch {
		case matches(normal):
			ok, needsRehash = true, p != h.params
		// VerifyDummy goes through here too, so an unknown email costs
		// what a known one does for the same input.
		case normal != plain && matches(plain):
			ok, needsRehash = true, true
		}
	})
	return ok, needsRehash, nil
}

// VerifyDummy verifies plain against a fixed hash made with the configured
// parameters when the Hasher was built, discarding the result, so that it
// costs what a Verify of a real user's hash costs.
func (h *Hasher) VerifyDummy(ctx context.Context, plain string) error {
	_, _, err := h.Verify(ctx, plain, h.dummy)
	return err
}

// errQueueFull is what a call finds when every slot is busy and maxQueue
// calls already wait.
var errQueueFull = fmt.Errorf("password: %w", ports.ErrOverloaded)

// acquire takes a hashing slot, waiting for one only while fewer than
// maxQueue calls already wait.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
	default:
		// Counting first and checking after makes the bound exact under
		// concurrency: a call that overshoots takes itself back out.
		if h.waiting.Add(1) > h.maxQueue {
			h.waiting.Add(-1)
			h.refused.Add(1)
			return errQueueFull
		}
		defer h.waiting.Add(-1)
		select {
		case h.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.inFlight.Add(1)
	return nil
}

func (h *Hasher) release() {
	h.inFlight.Add(-1)
	<-h.sem
}

func (h *Hasher) encode(plain string) (string, error) {
	p := h.params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// b64 rejects non-canonical encodings (stray bits in the last character), so
// each hash has exactly one accepted spelling.
var b64 = base64.RawStdEncoding.Strict()

// decode parses a PHC argon2id string strictly: the exact layout written by
// encode (and the reference implementation), canonical decimal numbers and
// parameters within bounds.
func decode(encoded string) (Params, []byte, []byte, error) {
	fail := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(encoded) > maxEncodedLen {
		return fail("too long")
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("expected $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return fail("expected m, t and p")
	}
	var nums [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return fail("expected m, t and p in that order")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return fail("parameter " + name + " is not a canonical number")
		}
		nums[i] = n
	}
	if nums[2] > maxThreads {
		return fail("parameter p out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fail("salt is not base64")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return fail("hash is not base64")
	}
	p := Params{
		Memory:  uint32(nums[0]),
		Time:    uint32(nums[1]),
		Threads: uint8(nums[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := p.Validate(); err != nil {
		return fail(strings.TrimPrefix(err.Error(), "password: "))
	}
	return p, salt, key, nil
}
