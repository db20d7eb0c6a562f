package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/password"
	"authd/domain"
	"authd/ports"
)

// deadlineUsers records the deadline of every context it is called with
// and, when block is set, waits until that context ends.
type deadlineUsers struct {
	ports.UserRepository
	block bool
	// dbTimedOut makes a blocked call fail as the database adapter does
	// when its read timed out at the deadline: ctx.Err() and
	// ports.ErrUnavailable.
	dbTimedOut bool

	mu        sync.Mutex
	deadlines []time.Duration // time left when called; -1 without a deadline
}

func (r *deadlineUsers) wrap(inner ports.UserRepository) ports.UserRepository {
	r.UserRepository = inner
	return r
}

func (r *deadlineUsers) seen(ctx context.Context) error {
	left := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	r.mu.Lock()
	r.deadlines = append(r.deadlines, left)
	r.mu.Unlock()
	if r.block {
		<-ctx.Done()
		if r.dbTimedOut {
			return fmt.Errorf("users: %w: %w", ctx.Err(), ports.ErrUnavailable)
		}
		return fmt.Errorf("users: %w", ctx.Err())
	}
	return nil
}

func (r *deadlineUsers) ByEmail(ctx context.Context, e domain.Email) (*domain.User, error) {
	if err := r.seen(ctx); err != nil {
		return nil, err
	}
	return r.UserRepository.ByEmail(ctx, e)
}

func (r *deadlineUsers) ByLiveSession(ctx context.Context, sid uuid.UUID, now time.Time) (*domain.User, error) {
	if err := r.seen(ctx); err != nil {
		return nil, err
	}
	return r.UserRepository.ByLiveSession(ctx, sid, now)
}

// TestRequestsRunUnderTheirDeadline: the context the handlers pass down is
// the request's, with the configured deadline, not context.Background().
func TestRequestsRunUnderTheirDeadline(t *testing.T) {
	t.Parallel()
	users := &deadlineUsers{}
	const timeout = 7 * time.Second
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: users.wrap, requestTimeout: timeout})
	a := f.newAccount(t, "deadline@example.com")
	f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).wantStatus(t, http.StatusOK)
	users.mu.Lock()
	defer users.mu.Unlock()
	if len(users.deadlines) < 2 {
		t.Fatalf("the repository saw %d calls, want the login's and /me's", len(users.deadlines))
	}
	for i, left := range users.deadlines {
		if left <= 0 || left > timeout {
			t.Errorf("call %d: %s left before the deadline, want a deadline within %s", i, left, timeout)
		}
	}
}

// TestRequestDeadlineAnswers503: a request that runs out of time stops
// waiting on the layers below and answers 503 overloaded with Retry-After,
// never a 500.
func TestRequestDeadlineAnswers503(t *testing.T) {
	t.Parallel()
	users := &deadlineUsers{}
	const timeout = 150 * time.Millisecond
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: users.wrap, requestTimeout: timeout})
	a := f.newAccount(t, "slow@example.com")
	users.block = true
	for _, r := range []request{
		{method: "POST", path: "/v1/auth/login", body: credentials(a.email, strongPassword)},
		{method: "GET", path: "/v1/users/me", bearer: a.tokens.AccessToken},
		{method: "POST", path: "/v1/auth/logout-all", bearer: a.tokens.AccessToken},
	} {
		start := time.Now()
		res := f.send(t, r)
		res.problem(t, http.StatusServiceUnavailable, "overloaded")
		if got := res.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s %s: Retry-After = %q, want 1", r.method, r.path, got)
		}
		if took := time.Since(start); took > timeout+5*time.Second {
			t.Errorf("%s %s took %s with a %s deadline", r.method, r.path, took, timeout)
		}
	}
	for _, line := range f.logLines(t) {
		if line["level"] == "ERROR" {
			t.Errorf("a request that ran out of time was logged as an error: %v", line)
		}
	}
}

// TestDatabaseDeadlineAnswersDatabaseUnavailable: a request whose deadline
// passed while the database did not answer (a pooler holding the query
// while PostgreSQL restarts) is the database's failure, not overload.
func TestDatabaseDeadlineAnswersDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	users := &deadlineUsers{dbTimedOut: true}
	f := newFixtureWith(t, options{limits: generousLimits, wrapUsers: users.wrap, requestTimeout: 150 * time.Millisecond})
	a := f.newAccount(t, "stuck@example.com")
	users.block = true
	f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).problem(t, http.StatusServiceUnavailable, "database_unavailable")
}

// TestHashQueueFullAnswers503: when every hashing slot is busy and the
// queue is full, the routes that hash answer 503 overloaded with
// Retry-After at once, while refresh, /me and health keep answering.
func TestHashQueueFullAnswers503(t *testing.T) {
	t.Parallel()
	// A slow hash, so that the slot and the queue stay taken while the
	// test sends its requests.
	slow := password.Params{Memory: 64 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := password.NewHasher(slow, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, options{limits: generousLimits, hasher: h})
	a := f.newAccount(t, "busy@example.com")

	// Take the slot and the one place in the queue.
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 2 {
		wg.Go(func() { _, _ = h.Hash(context.Background(), "keeps the hasher busy") })
	}
	deadline := time.Now().Add(10 * time.Second)
	for (h.InFlight() < 1 || h.QueueDepth() < 1) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.InFlight() != 1 || h.QueueDepth() != 1 {
		t.Fatalf("in flight %d, queued %d; want 1, 1", h.InFlight(), h.QueueDepth())
	}

	change, _ := json.Marshal(map[string]string{"current_password": strongPassword, "new_password": "Nw5&tG1^cX8z%eU3"})
	for _, r := range []request{
		{method: "POST", path: "/v1/auth/register", body: credentials("new@example.com", strongPassword)},
		{method: "POST", path: "/v1/auth/login", body: credentials(a.email, strongPassword)},
		{method: "POST", path: "/v1/auth/login", body: credentials("nobody@example.com", strongPassword)},
		{method: "POST", path: "/v1/users/me/password", body: string(change), bearer: a.tokens.AccessToken},
	} {
		res := f.send(t, r)
		res.problem(t, http.StatusServiceUnavailable, "overloaded")
		if n, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("%s %s: Retry-After = %q, want a positive number of seconds", r.method, r.path, res.header.Get("Retry-After"))
		}
	}
	// What does not hash is not held up.
	f.do(t, "GET", "/healthz", "", "").wantStatus(t, http.StatusOK)
	f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).wantStatus(t, http.StatusOK)
	decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)
	if h.Refused() != 4 {
		t.Errorf("hasher refused %d calls, want 4", h.Refused())
	}
	if h.InFlight()+h.QueueDepth() == 0 {
		t.Error("the slow hashes finished during the test; the answers above prove nothing")
	}
}
