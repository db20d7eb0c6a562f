package password_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"authd/adapters/password"
	"authd/ports"
)

// cheap keeps tests fast; the production cost is measured by BenchmarkHash.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// referenceHash is the argon2id reference implementation's test vector.
const referenceHash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"

func newHasher(t *testing.T, p password.Params, maxConcurrent int) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(p, maxConcurrent, 0)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(t, cheap, 2)
	tests := []struct {
		name  string
		plain string
		try   string
		want  bool
	}{
		{"same", "correct horse battery staple", "correct horse battery staple", true},
		{"unicode", "pässwörd-ünïcødé-🔑", "pässwörd-ünïcødé-🔑", true},
		{"longest", strings.Repeat("€", 128), strings.Repeat("€", 128), true},
		{"wrong", "correct horse battery staple", "correct horse battery stapler", false},
		{"case", "correct horse battery staple", "Correct horse battery staple", false},
		{"empty try", "correct horse battery staple", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enc, err := h.Hash(ctx, tt.plain)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Fatalf("Hash = %q, want the PHC argon2id prefix", enc)
			}
			ok, rehash, err := h.Verify(ctx, tt.try, enc)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != tt.want || rehash {
				t.Fatalf("Verify = (%v, %v), want (%v, false)", ok, rehash, tt.want)
			}
		})
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 1)
	a, _ := h.Hash(context.Background(), "correct horse battery staple")
	b, _ := h.Hash(context.Background(), "correct horse battery staple")
	if a == b {
		t.Fatalf("two hashes of one password are equal: %q", a)
	}
}

func TestDefaultParamsEncoding(t *testing.T) {
	t.Parallel()
	h := newHasher(t, password.DefaultParams(), 1)
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(enc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=19456,t=2,p=1" {
		t.Fatalf("Hash = %q, want $argon2id$v=19$m=19456,t=2,p=1$...", enc)
	}
	// 16-byte salt and 32-byte key in base64 without padding.
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Fatalf("salt/hash lengths = %d/%d, want 22/43", len(parts[4]), len(parts[5]))
	}
}

// TestVerifyReferenceVector checks interoperability with the reference
// implementation: the encoded hash is the argon2id v=19 vector of its
// test.c (password "password", salt "somesalt", t=2, m=2^16, p=1).
func TestVerifyReferenceVector(t *testing.T) {
	t.Parallel()
	const ref = referenceHash
	h := newHasher(t, cheap, 1)
	ok, rehash, err := h.Verify(context.Background(), "password", ref)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(reference) = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 1)
	good, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	build := func(alg, ver, params, s, k string) string {
		return "$" + alg + "$" + ver + "$" + params + "$" + s + "$" + k
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"bcrypt", "$2b$12$abcdefghijklmnopqrstuuIjJ5gRw6i5HvXr3Wz6xGvK1d6yxL0zC"},
		{"argon2i", build("argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"argon2d", build("argon2d", "v=19", "m=64,t=1,p=1", salt, key)},
		{"old version", build("argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", good + "$x"},
		{"trailing dollar", good + "$"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"params reordered", build("argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"params missing", build("argon2id", "v=19", "m=64,t=1", salt, key)},
		{"params extra", build("argon2id", "v=19", "m=64,t=1,p=1,k=1", salt, key)},
		{"leading zero", build("argon2id", "v=19", "m=064,t=1,p=1", salt, key)},
		{"plus sign", build("argon2id", "v=19", "m=+64,t=1,p=1", salt, key)},
		{"negative", build("argon2id", "v=19", "m=-64,t=1,p=1", salt, key)},
		{"space", build("argon2id", "v=19", "m=64, t=1,p=1", salt, key)},
		{"memory over 1 GiB", build("argon2id", "v=19", "m=1048577,t=1,p=1", salt, key)},
		{"memory overflow", build("argon2id", "v=19", "m=4294967296,t=1,p=1", salt, key)},
		{"memory too small", build("argon2id", "v=19", "m=7,t=1,p=1", salt, key)},
		{"time zero", build("argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"time over 100", build("argon2id", "v=19", "m=64,t=101,p=1", salt, key)},
		{"threads zero", build("argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"threads over 255", build("argon2id", "v=19", "m=4096,t=1,p=256", salt, key)},
		{"salt padded", build("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"salt url alphabet", build("argon2id", "v=19", "m=64,t=1,p=1", "c29tZXNhbHQ_-w", key)},
		{"salt short", build("argon2id", "v=19", "m=64,t=1,p=1", "c2FsdA", key)},
		{"salt empty", build("argon2id", "v=19", "m=64,t=1,p=1", "", key)},
		{"hash short", build("argon2id", "v=19", "m=64,t=1,p=1", salt, "aGFzaA")},
		{"hash not base64", build("argon2id", "v=19", "m=64,t=1,p=1", salt, "!!!!"+key[4:])},
		{"hash non-canonical", build("argon2id", "v=19", "m=64,t=1,p=1", salt, key[:len(key)-1]+"B")},
		{"huge", build("argon2id", "v=19", "m=64,t=1,p=1", salt, strings.Repeat("A", 4096))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, _, err := h.Verify(context.Background(), "correct horse battery staple", tt.encoded)
			if !errors.Is(err, password.ErrMalformedHash) || ok {
				t.Fatalf("Verify(%q) = (%v, %v), want ErrMalformedHash", tt.encoded, ok, err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	current := newHasher(t, cheap, 1)
	tests := []struct {
		name string
		old  password.Params
		want bool
	}{
		{"same", cheap, false},
		{"memory", password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"time", password.Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"threads", password.Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"salt", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}, true},
		{"key", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enc, err := newHasher(t, tt.old, 1).Hash(ctx, "correct horse battery staple")
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := current.Verify(ctx, "correct horse battery staple", enc)
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = (%v, %v, %v), want (true, %v, nil)", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestNewHasherRejectsBadParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    password.Params
	}{
		{"zero", password.Params{}},
		{"no threads", password.Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"no time", password.Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"memory below 8*p", password.Params{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}},
		{"memory over 1 GiB", password.Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"short salt", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
		{"short key", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := password.NewHasher(tt.p, 1, 0); err == nil {
				t.Fatalf("NewHasher(%+v) succeeded, want an error", tt.p)
			}
		})
	}
}

func TestRefusesOversizedInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(t, cheap, 1)
	long := strings.Repeat("a", 4*128+1)
	if _, err := h.Hash(ctx, long); !errors.Is(err, password.ErrTooLong) {
		t.Fatalf("Hash(513 bytes) error = %v, want ErrTooLong", err)
	}
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	if _, _, err := h.Verify(ctx, long, enc); !errors.Is(err, password.ErrTooLong) {
		t.Fatalf("Verify(513 bytes) error = %v, want ErrTooLong", err)
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 1)
	if err := h.VerifyDummy(context.Background(), "correct horse battery staple"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.VerifyDummy(ctx, "correct horse battery staple"); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyDummy(cancelled) = %v, want context.Canceled", err)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	// A heavier hash makes overlap likely if the bound did not hold.
	h := newHasher(t, password.Params{Memory: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	ctx := context.Background()
	stop := make(chan struct{})
	started := make(chan struct{})
	var maxSeen int
	var watch sync.WaitGroup
	watch.Go(func() {
		close(started)
		for {
			select {
			case <-stop:
				return
			default:
			}
			maxSeen = max(maxSeen, h.InFlight())
			runtime.Gosched()
		}
	})
	<-started
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				t.Errorf("Hash: %v", err)
			}
		})
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	if maxSeen != 1 {
		t.Fatalf("max in flight = %d, want 1", maxSeen)
	}
	if h.InFlight() != 0 || h.QueueDepth() != 0 {
		t.Fatalf("after the burst: in flight %d, queued %d; want 0, 0", h.InFlight(), h.QueueDepth())
	}
}

func TestCancelWhileQueued(t *testing.T) {
	t.Parallel()
	// A slow hash holds the only slot while a second call waits.
	h := newHasher(t, password.Params{Memory: 64 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	holding := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		close(holding)
		_, _ = h.Hash(context.Background(), "correct horse battery staple")
	}()
	<-holding
	deadline := time.Now().Add(5 * time.Second)
	for h.InFlight() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "another password here")
		errc <- err
	}()
	for h.QueueDepth() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.QueueDepth() != 1 {
		t.Fatalf("queue depth = %d, want 1", h.QueueDepth())
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("queued Hash error = %v, want context.Canceled", err)
		}
	case <-done:
		t.Fatal("the queued call was not released before the slot freed")
	}
	<-done
	if h.QueueDepth() != 0 {
		t.Fatalf("queue depth after cancel = %d, want 0", h.QueueDepth())
	}
}

// TestQueueIsBounded: with every slot busy and maxQueue calls waiting, the
// next call is refused at once with ports.ErrOverloaded instead of waiting.
func TestQueueIsBounded(t *testing.T) {
	t.Parallel()
	const queue = 2
	h, err := password.NewHasher(password.Params{Memory: 64 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, queue)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.Hash(context.Background(), "correct horse battery staple")
	}()
	deadline := time.Now().Add(5 * time.Second)
	for h.InFlight() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiters := make(chan error, queue)
	for range queue {
		go func() {
			_, err := h.Hash(ctx, "another password here")
			waiters <- err
		}()
	}
	for h.QueueDepth() < queue && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.QueueDepth() != queue {
		t.Fatalf("queue depth = %d, want %d", h.QueueDepth(), queue)
	}
	for _, call := range []func() error{
		func() error { _, err := h.Hash(context.Background(), "one too many"); return err },
		func() error { _, _, err := h.Verify(context.Background(), "one too many", referenceHash); return err },
		func() error { return h.VerifyDummy(context.Background(), "one too many") },
	} {
		start := time.Now()
		err := call()
		if !errors.Is(err, ports.ErrOverloaded) {
			t.Fatalf("a call beyond the queue: %v, want ports.ErrOverloaded", err)
		}
		select {
		case <-done:
			t.Fatalf("the refused call waited for the slot (%s)", time.Since(start))
		default:
		}
	}
	if h.Refused() != 3 || h.QueueDepth() != queue {
		t.Errorf("refused %d, queued %d; want 3, %d", h.Refused(), h.QueueDepth(), queue)
	}
	cancel()
	for range queue {
		if err := <-waiters; !errors.Is(err, context.Canceled) {
			t.Errorf("waiting call: %v, want context.Canceled", err)
		}
	}
	<-done
	if _, err := h.Hash(context.Background(), "room again"); err != nil {
		t.Fatalf("Hash once the queue drained: %v", err)
	}
}

// BenchmarkHash measures one hash with the default (OWASP) parameters.
func BenchmarkHash(b *testing.B) {
	h, err := password.NewHasher(password.DefaultParams(), 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPasswordsAreHashedInNFC: the composed and decomposed spellings of a
// password are one password.
func TestPasswordsAreHashedInNFC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(t, cheap, 2)
	nfc, nfd := "crème brûlée à la carte", "cre\u0300me bru\u0302le\u0301e a\u0300 la carte"
	for _, made := range []string{nfc, nfd} {
		enc, err := h.Hash(ctx, made)
		if err != nil {
			t.Fatal(err)
		}
		for _, try := range []string{nfc, nfd} {
			ok, rehash, err := h.Verify(ctx, try, enc)
			if err != nil || !ok || rehash {
				t.Errorf("hashed %+q, verified %+q: (%v, %v, %v), want (true, false, nil)", made, try, ok, rehash, err)
			}
		}
	}
}

// TestHashMadeBeforeNFCStillVerifies: a hash made from the decomposed bytes
// as typed, before passwords were normalised, still matches that input and
// asks to be replaced; the replacement matches both spellings.
func TestHashMadeBeforeNFCStillVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(t, cheap, 2)
	nfd := "cre\u0300me bru\u0302le\u0301e a\u0300 la carte"
	legacy := legacyHash(t, nfd)
	ok, rehash, err := h.Verify(ctx, nfd, legacy)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(the typed bytes, legacy hash) = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(ctx, "wrong"+nfd, legacy); ok {
		t.Fatal("a wrong password matched the legacy hash")
	}
	fresh, err := h.Hash(ctx, nfd)
	if err != nil {
		t.Fatal(err)
	}
	for _, try := range []string{nfd, "crème brûlée à la carte"} {
		if ok, rehash, err := h.Verify(ctx, try, fresh); err != nil || !ok || rehash {
			t.Errorf("Verify(%+q, rehashed) = (%v, %v, %v), want (true, false, nil)", try, ok, rehash, err)
		}
	}
}

// legacyHash makes a hash of plain's bytes as they are, with the same
// encoding as Hasher, the way hashes were made before normalisation.
func legacyHash(t *testing.T, plain string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(plain), salt, cheap.Time, cheap.Memory, cheap.Threads, cheap.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", cheap.Memory, cheap.Time, cheap.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}
