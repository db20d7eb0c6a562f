//go:build cluster

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// loadOptions describe a refresh load on one or more authd instances.
type loadOptions struct {
	// Targets take the requests in turn; a failed request is retried on
	// the next one.
	Targets []*apiClient
	// Clients is how many clients run at once, each with an account and a
	// refresh chain of its own.
	Clients int
	// Me sends GET /v1/users/me with each new access token.
	Me bool
	// Deadline is the longest any answer may take (the server's request
	// deadline and some slack).
	Deadline time.Duration
	// Limit bounds the whole load, retries included.
	Limit time.Duration
	// Tolerated says whether a failed request to target (a transport
	// error, or a 5xx answer) is acceptable while the failure window is
	// open. Outside the window nothing but a definite answer is.
	Tolerated func(target int, r *apiResponse, err error) bool
}

// refreshLoad is a running load: clients that log in, rotate their refresh
// tokens over and over (and call /v1/users/me) until it is finished. It
// records every refresh token answered and checks every answer.
//
// A request whose answer is lost (a 503 or a broken connection) may still
// have rotated the token it presented; the client then presents the same
// token again, elsewhere. If it had rotated, that is reuse, the session
// ends (401 refresh_token_reused) and the client logs in again: the only
// 4xx the load accepts, and only after such a loss.
type refreshLoad struct {
	t        *testing.T
	o        loadOptions
	started  time.Time
	stop     chan struct{}
	stopOnce sync.Once
	// abort, closed when the test ends, makes clients give up retrying.
	abort chan struct{}
	wg    sync.WaitGroup
	// inFlight counts the requests outstanding at each target.
	inFlight []atomic.Int64

	mu       sync.Mutex
	from, to time.Time // the failure window; to is zero while it is open
	counts   map[string]int
	slowest  map[string]time.Duration // by the same keys as counts
	received []string                 // every refresh token answered, in a login or a rotation
	clients  []*loadClient
}

// startLoad logs the clients in and starts them.
func startLoad(t *testing.T, o loadOptions) *refreshLoad {
	t.Helper()
	l := &refreshLoad{
		t: t, o: o, started: time.Now(), stop: make(chan struct{}), abort: make(chan struct{}),
		inFlight: make([]atomic.Int64, len(o.Targets)), counts: map[string]int{}, slowest: map[string]time.Duration{},
	}
	password := newPassword(t)
	for i := range o.Clients {
		c := &loadClient{l: l, id: i, email: newEmail(t, "load"), password: password, next: i % len(o.Targets)}
		o.Targets[c.next].register(c.email, c.password)
		if !c.login() {
			t.FailNow()
		}
		l.clients = append(l.clients, c)
	}
	for _, c := range l.clients {
		l.wg.Go(c.run)
	}
	// A test that stops early still waits for its clients, which report to it.
	t.Cleanup(func() {
		close(l.abort)
		l.halt()
	})
	return l
}

// halt stops the clients once each has a definite answer to its last
// request (or gave up), and waits for them.
func (l *refreshLoad) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// failing opens the failure window: failed requests that overlap it are
// tolerated when Tolerated says so.
func (l *refreshLoad) failing() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.from = time.Now()
}

// recovered closes the failure window: requests sent from now on must
// succeed.
func (l *refreshLoad) recovered() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.to = time.Now()
}

// phase names where the request that ran from start to end stands with
// respect to the failure window.
func (l *refreshLoad) phase(start, end time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.from.IsZero() || end.Before(l.from):
		return "before"
	case l.to.IsZero() || start.Before(l.to):
		return "during"
	default:
		return "after"
	}
}

// finish halts the load and logs what it saw.
func (l *refreshLoad) finish() {
	l.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l.counts)) {
		fmt.Fprintf(&b, "\n  %6d  %-58s", l.counts[k], k)
		if d, ok := l.slowest[k]; ok {
			fmt.Fprintf(&b, " slowest %s", d.Round(time.Millisecond))
		}
	}
	l.t.Logf("%d clients, %s, %d refresh tokens answered:%s", len(l.clients), time.Since(l.started).Round(time.Millisecond), len(l.received), b.String())
}

func (l *refreshLoad) count(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[key]++
}

// answered counts an answer under key and keeps the slowest.
func (l *refreshLoad) answered(key string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[key]++
	l.slowest[key] = max(l.slowest[key], took)
}

func (l *refreshLoad) receive(token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.received = append(l.received, token)
}

// loadClient is one client of a load; only its goroutine touches it.
type loadClient struct {
	l               *refreshLoad
	id              int
	email, password string
	access, refresh string
	next            int // the target of the next request
	// unsure is set when a request presenting refresh lost its answer:
	// it may have rotated the token.
	unsure bool
}

func (c *loadClient) run() {
	for {
		select {
		case <-c.l.stop:
			return
		default:
		}
		if c.refresh == "" && !c.login() {
			return
		}
		if !c.rotate() {
			return
		}
		if c.l.o.Me && c.access != "" && !c.me() {
			return
		}
	}
}

// call sends a request, on the next target in turn, until it gets a
// definite answer (2xx or 4xx), which it returns. Each failure must be
// tolerated, and is retried on the next target; an untolerated one fails
// the test and call returns nil, as it does when the load's time is up.
func (c *loadClient) call(name, method, path, bearer string, body any) *apiResponse {
	l := c.l
	for {
		target := c.next
		c.next = (c.next + 1) % len(l.o.Targets)
		ctx, cancel := context.WithTimeout(context.Background(), l.o.Deadline+5*time.Second)
		l.inFlight[target].Add(1)
		start := time.Now()
		r, err := l.o.Targets[target].try(ctx, method, path, bearer, body)
		end := time.Now()
		l.inFlight[target].Add(-1)
		cancel()
		phase := l.phase(start, end)
		outcome := ""
		switch {
		case err != nil && errors.Is(err, syscall.ECONNREFUSED):
			outcome = "connection refused"
		case err != nil:
			outcome = "connection lost"
		default:
			outcome = strconv.Itoa(r.Status)
			if code := r.code(l.t); code != "" {
				outcome += " " + code
			}
		}
		took := end.Sub(start)
		l.answered(fmt.Sprintf("%-6s %-7s instance %d: %s", phase, name, target, outcome), took)
		if took > l.o.Deadline {
			l.t.Errorf("client %d: %s on instance %d took %s (%s), longer than %s", c.id, name, target, took.Round(time.Millisecond), outcome, l.o.Deadline)
		}
		if err == nil && r.Status < http.StatusInternalServerError {
			return r
		}
		if phase != "during" || !l.o.Tolerated(target, r, err) {
			l.t.Errorf("client %d: %s on instance %d, %s the failure window: %s %v", c.id, name, target, phase, outcome, err)
			return nil
		}
		// A refused connection delivered nothing; any other failure may
		// have been answered by the database before it was lost.
		if path == "/v1/auth/refresh" && outcome != "connection refused" {
			c.unsure = true
		}
		if time.Since(l.started) > l.o.Limit {
			l.t.Errorf("client %d: still failing %s after the load's %s", c.id, name, l.o.Limit)
			return nil
		}
		select {
		case <-l.abort:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *loadClient) login() bool {
	r := c.call("login", "POST", "/v1/auth/login", "", map[string]string{"email": c.email, "password": c.password})
	if r == nil {
		return false
	}
	if r.Status != http.StatusOK {
		c.l.t.Errorf("client %d: login answered %d %s", c.id, r.Status, r.Body)
		return false
	}
	var tr tokenResponse
	if err := json.Unmarshal(r.Body, &tr); err != nil || tr.RefreshToken == "" {
		c.l.t.Errorf("client %d: login answered %s: %v", c.id, r.Body, err)
		return false
	}
	c.access, c.refresh, c.unsure = tr.AccessToken, tr.RefreshToken, false
	c.l.receive(tr.RefreshToken)
	return true
}

func (c *loadClient) rotate() bool {
	r := c.call("refresh", "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": c.refresh})
	if r == nil {
		return false
	}
	switch code := r.code(c.l.t); {
	case r.Status == http.StatusOK:
		var tr tokenResponse
		if err := json.Unmarshal(r.Body, &tr); err != nil || tr.RefreshToken == "" {
			c.l.t.Errorf("client %d: refresh answered %s: %v", c.id, r.Body, err)
			return false
		}
		c.access, c.refresh, c.unsure = tr.AccessToken, tr.RefreshToken, false
		c.l.receive(tr.RefreshToken)
	case r.Status == http.StatusUnauthorized && code == "refresh_token_reused" && c.unsure:
		// The lost answer had rotated the token: presenting it again is
		// reuse, which ends the session. The client logs in again.
		c.l.count("reuse after a lost answer (the session ended)")
		c.access, c.refresh, c.unsure = "", "", false
	default:
		c.l.t.Errorf("client %d: refresh answered %d %s (an earlier answer lost: %v)", c.id, r.Status, r.Body, c.unsure)
		return false
	}
	return true
}

func (c *loadClient) me() bool {
	r := c.call("me", "GET", "/v1/users/me", c.access, nil)
	if r == nil {
		return false
	}
	var u userJSON
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &u) != nil || u.Email != c.email {
		c.l.t.Errorf("client %d: /v1/users/me answered %d %s, want 200 with %s", c.id, r.Status, r.Body, c.email)
		return false
	}
	return true
}

// digest is how authd stores a refresh token: its SHA-256 in lower-case hex.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// checkFamilies checks the family invariants in SQL: no family has more
// than one unrevoked token, and no ended family has one. It returns how
// many families there are and how many have ended.
func checkFamilies(t *testing.T, db *bun.DB) (families, ended int) {
	t.Helper()
	var crowded, endedUnrevoked int
	scanSQL(t, db, &crowded, `SELECT count(*) FROM (SELECT token_family FROM refresh_tokens WHERE revoked_at IS NULL
		GROUP BY token_family HAVING count(*) > 1) AS f`)
	scanSQL(t, db, &endedUnrevoked, `SELECT count(*) FROM refresh_tokens AS t JOIN token_families AS f ON f.id = t.token_family
		WHERE f.revoked_at IS NOT NULL AND t.revoked_at IS NULL`)
	scanSQL(t, db, &families, `SELECT count(*) FROM token_families`)
	scanSQL(t, db, &ended, `SELECT count(*) FROM token_families WHERE revoked_at IS NOT NULL`)
	if crowded != 0 {
		t.Errorf("%d families have more than one unrevoked token", crowded)
	}
	if endedUnrevoked != 0 {
		t.Errorf("ended families hold %d unrevoked tokens", endedUnrevoked)
	}
	return families, ended
}

// scanSQL runs query and scans its one row into dest, failing t on error.
func scanSQL(t *testing.T, db *bun.DB, dest any, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.NewRaw(query, args...).Scan(ctx, dest); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// checkDatabase checks, in SQL, after the load: the family invariants
// (checkFamilies); every refresh token a client was answered is stored;
// and each client's last token is the one unrevoked token of its live
// family.
func (l *refreshLoad) checkDatabase(t *testing.T, db *bun.DB) {
	t.Helper()
	families, ended := checkFamilies(t, db)
	l.mu.Lock()
	received := slices.Clone(l.received)
	l.mu.Unlock()
	digests := make([]string, len(received))
	for i, tok := range received {
		digests[i] = digest(tok)
	}
	stored := 0
	for chunk := range slices.Chunk(digests, 1000) {
		var n int
		scanSQL(t, db, &n, `SELECT count(*) FROM refresh_tokens WHERE token IN (?)`, bun.List(chunk))
		stored += n
	}
	if stored != len(digests) {
		t.Errorf("%d of the %d refresh tokens answered are not in the database", len(digests)-stored, len(digests))
	}

	held := 0
	for _, c := range l.clients {
		if c.refresh == "" {
			continue
		}
		held++
		var row struct {
			Usable    bool `bun:"usable"`
			Live      bool `bun:"live"`
			Unrevoked int  `bun:"unrevoked"`
		}
		scanSQL(t, db, &row, `SELECT t.revoked_at IS NULL AS usable, f.revoked_at IS NULL AS live,
			(SELECT count(*) FROM refresh_tokens AS u WHERE u.token_family = t.token_family AND u.revoked_at IS NULL) AS unrevoked
			FROM refresh_tokens AS t JOIN token_families AS f ON f.id = t.token_family WHERE t.token = ?`, digest(c.refresh))
		if !row.Usable || !row.Live || row.Unrevoked != 1 {
			t.Errorf("client %d's last token: unrevoked %v, family live %v, %d unrevoked tokens in the family; want true, true, 1",
				c.id, row.Usable, row.Live, row.Unrevoked)
		}
	}
	t.Logf("database: %d families (%d ended), %d refresh tokens answered, all stored: %v; %d clients hold a live chain",
		families, ended, len(digests), stored == len(digests), held)
}

// refreshHeld rotates each client's last token once more on api: service
// is back, and the chains survived.
func (l *refreshLoad) refreshHeld(t *testing.T, api *apiClient) {
	t.Helper()
	for _, c := range l.clients {
		if c.refresh != "" {
			api.refresh(c.refresh).want(t, http.StatusOK).tokens(t)
		}
	}
}

// waitInFlight waits until at least n requests are outstanding at target,
// or limit passes.
func (l *refreshLoad) waitInFlight(target int, n int64, limit time.Duration) int64 {
	deadline := time.Now().Add(limit)
	for {
		if got := l.inFlight[target].Load(); got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}
