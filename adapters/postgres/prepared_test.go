package postgres_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
	"authd/domain"
)

func TestParsePreparedMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want postgres.PreparedMode
		ok   bool
	}{
		{"auto", postgres.PreparedAuto, true},
		{"on", postgres.PreparedOn, true},
		{"off", postgres.PreparedOff, true},
		{"", 0, false},
		{"ON", 0, false},
		{"true", 0, false},
	} {
		got, err := postgres.ParsePreparedMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePreparedMode(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestOpenRefusesAnUnknownPreparedMode(t *testing.T) {
	t.Parallel()
	if _, err := postgres.Open("postgres://postgres@127.0.0.1:1/x?sslmode=disable", postgres.PoolOptions{Prepared: 7}); err == nil {
		t.Fatal("Open accepted PreparedMode(7)")
	}
}

// TestRotationRoundTrips counts what a rotation sends over the wire on a
// direct connection: with prepared statements, a prepare and an execution
// per statement the first time, then one execution each; without, one
// simple-protocol query per statement every time. Either way a rotation
// after the first costs two round trips.
func TestRotationRoundTrips(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewMigratedDatabase(t)
	prepared := []string{"PBPB", "BB", "BB"}
	for _, tc := range []struct {
		mode postgres.PreparedMode
		want []string
		how  postgres.Statements
	}{
		{postgres.PreparedAuto, prepared, postgres.StatementsPrepared},
		{postgres.PreparedOn, prepared, postgres.StatementsPrepared},
		{postgres.PreparedOff, []string{"QQ", "QQ", "QQ"}, postgres.StatementsUnprepared},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			w := newWiredRotations(t, dsn, tc.mode)
			w.check(t, tc.want)
			w.checkStatements(t, tc.how)
		})
	}
}

// wiredRotations rotates one session through a handle with a single
// connection, watching the wire.
type wiredRotations struct {
	r      repos
	w      *wire
	secret string
	n      int
}

func newWiredRotations(t *testing.T, dsn string, mode postgres.PreparedMode) *wiredRotations {
	t.Helper()
	w := &wire{}
	db, err := postgres.OpenWrapped(dsn, postgres.PoolOptions{MaxOpenConns: 1, Prepared: mode}, w.wrap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r := repos{db, postgres.NewUserRepository(db), postgres.NewFamilyRepository(db), postgres.NewAuditLog(db)}
	u := r.createUser(t, fmt.Sprintf("trips-%s@example.com", mode), domain.RoleUser)
	_, secret := r.login(t, u, t0)
	w.take()
	return &wiredRotations{r: r, w: w, secret: secret}
}

// check rotates the session len(want) times and compares the round trips
// of each rotation with want: one letter per round trip, the type of the
// first message the client sent in it ('P' a prepare, 'B' an execution of
// a prepared statement, 'Q' a simple-protocol query).
func (wr *wiredRotations) check(t *testing.T, want []string) {
	t.Helper()
	var got []string
	for range want {
		wr.n++
		next, err := wr.r.rotate(wr.secret, t0.Add(time.Duration(wr.n)*time.Minute))
		if err != nil {
			t.Fatalf("rotation %d: %v", wr.n, err)
		}
		wr.secret = next
		got = append(got, wr.w.take())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trips of each rotation, by first message type (-want +got):\n%s", diff)
	}
}

func (wr *wiredRotations) checkStatements(t *testing.T, want postgres.Statements) {
	t.Helper()
	if got, err := postgres.StatementsOf(context.Background(), wr.r.db); err != nil || got != want {
		t.Errorf("StatementsOf = %q, %v; want %q", got, err, want)
	}
}

// wire records the protocol round trips of the connections it wraps: a
// connection's first write, and every write that follows a read, starts
// one. A round trip is recorded as the type of the first message the
// client sent in it.
type wire struct {
	mu    sync.Mutex
	trips []byte
}

func (w *wire) wrap(c net.Conn) net.Conn { return &wiredConn{Conn: c, w: w} }

// take returns the round trips recorded since the last call.
func (w *wire) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(w.trips)
	w.trips = nil
	return s
}

type wiredConn struct {
	net.Conn
	w       *wire
	writing bool
}

func (c *wiredConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	if !c.writing && len(p) > 0 {
		c.w.trips = append(c.w.trips, p[0])
		c.writing = true
	}
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *wiredConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.w.mu.Lock()
		c.writing = false
		c.w.mu.Unlock()
	}
	return n, err
}
