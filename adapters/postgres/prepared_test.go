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
	unprepared := []string{"QQ", "QQ", "QQ"}
	for _, tc := range []struct {
		mode     postgres.PreparedMode
		want     []string
		prepares bool
	}{
		{postgres.PreparedAuto, prepared, true},
		{postgres.PreparedOn, prepared, true},
		{postgres.PreparedOff, unprepared, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			checkRotationRoundTrips(t, dsn, tc.mode, tc.want, tc.prepares)
		})
	}
}

// checkRotationRoundTrips opens dsn with a single connection in mode,
// rotates a fresh session three times and compares the round trips of each
// rotation with want ('P' a prepare, 'B' an execution of a prepared
// statement, 'Q' a simple-protocol query), and whether the connection
// prepares with prepares.
func checkRotationRoundTrips(t *testing.T, dsn string, mode postgres.PreparedMode, want []string, prepares bool) {
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
	var got []string
	for i := range want {
		if secret, err = r.rotate(secret, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		got = append(got, w.take())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trips of each rotation, by first message type (-want +got):\n%s", diff)
	}
	p, err := postgres.PreparesStatements(context.Background(), db)
	if err != nil || p != prepares {
		t.Errorf("PreparesStatements = %v, %v; want %v", p, err, prepares)
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
