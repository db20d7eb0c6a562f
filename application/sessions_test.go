package application_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

func TestListSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "wendy@example.com", goodPassword)
	f.mustRegister(t, "xavier@example.com", goodPassword)
	f.mustLogin(t, "xavier@example.com", goodPassword, domain.NewClientInfo("someone else", ""))
	var tps []application.TokenPair
	for _, ua := range []string{"laptop", "phone", "tablet", "tv"} {
		tps = append(tps, f.mustLogin(t, "wendy@example.com", goodPassword, domain.NewClientInfo(ua, "198.51.100.1")))
		f.clock.Advance(time.Hour)
	}
	// The tv logs out; the laptop's session rotates later, which does not
	// change its place in the list.
	if err := f.logout().Do(t.Context(), tps[3].RefreshToken, domain.ClientInfo{}); err != nil {
		t.Fatal(err)
	}
	f.mustRefresh(t, tps[0].RefreshToken)
	f.clock.Advance(time.Hour)

	ss, err := f.listSessions().Do(t.Context(), domain.Principal{UserID: u.ID(), SessionID: tps[1].SessionID, Role: domain.RoleUser})
	if err != nil {
		t.Fatalf("ListSessions: %v", err)
	}

	type row struct {
		ID        uuid.UUID
		UserAgent string
		Created   time.Time
		Current   bool
	}
	got := make([]row, len(ss))
	for i, s := range ss {
		got[i] = row{s.Family.ID(), s.Family.Client().UserAgent(), s.Family.CreatedAt(), s.Current}
	}
	want := []row{
		{tps[2].SessionID, "tablet", t0.Add(2 * time.Hour), false},
		{tps[1].SessionID, "phone", t0.Add(time.Hour), true},
		{tps[0].SessionID, "laptop", t0, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sessions, newest first (-want +got):\n%s", diff)
	}
	if !ss[2].Family.LastUsedAt().Equal(t0.Add(4 * time.Hour)) {
		t.Errorf("laptop last used %s, want the rotation time", ss[2].Family.LastUsedAt())
	}

	// Past the absolute end nothing is live any more.
	f.clock.Set(t0.Add(domain.DefaultSessionPolicy.MaxLifetime + 2*time.Hour))
	ss, err = f.listSessions().Do(t.Context(), domain.Principal{UserID: u.ID(), SessionID: tps[1].SessionID})
	if err != nil || len(ss) != 0 {
		t.Errorf("after the absolute end: %d sessions, %v; want none", len(ss), err)
	}
}

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// target picks the session to revoke: the caller's current and
		// other sessions, another user's session, and an ended one.
		target  func(current, other, stranger, ended uuid.UUID) uuid.UUID
		wantErr error
	}{
		{"own other session", func(_, o, _, _ uuid.UUID) uuid.UUID { return o }, nil},
		{"own current session", func(c, _, _, _ uuid.UUID) uuid.UUID { return c }, nil},
		{"another user's session", func(_, _, s, _ uuid.UUID) uuid.UUID { return s }, domain.ErrSessionNotFound},
		{"already ended session", func(_, _, _, e uuid.UUID) uuid.UUID { return e }, domain.ErrSessionNotFound},
		{"unknown session", func(_, _, _, _ uuid.UUID) uuid.UUID { return uuid.New() }, domain.ErrSessionNotFound},
		{"nil id", func(_, _, _, _ uuid.UUID) uuid.UUID { return uuid.Nil }, domain.ErrSessionNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, "yara@example.com", goodPassword)
			stranger := f.mustRegister(t, "zoe@example.com", goodPassword)
			current := f.mustLogin(t, "yara@example.com", goodPassword, domain.ClientInfo{})
			other := f.mustLogin(t, "yara@example.com", goodPassword, domain.ClientInfo{})
			ended := f.mustLogin(t, "yara@example.com", goodPassword, domain.ClientInfo{})
			if err := f.logout().Do(t.Context(), ended.RefreshToken, domain.ClientInfo{}); err != nil {
				t.Fatal(err)
			}
			strangers := f.mustLogin(t, "zoe@example.com", goodPassword, domain.ClientInfo{})
			p := f.principal(t, current)
			id := tt.target(current.SessionID, other.SessionID, strangers.SessionID, ended.SessionID)
			before := len(f.events(t, 0))

			err := f.revokeSession().Do(t.Context(), p, id, domain.NewClientInfo("", "192.0.2.8"))

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RevokeSession: %v, want %v", err, tt.wantErr)
			}
			if len(f.liveSessions(t, stranger.ID())) != 1 {
				t.Error("another user's session was ended")
			}
			live := f.liveSessions(t, u.ID())
			if err != nil {
				if len(live) != 2 || len(f.events(t, 0)) != before {
					t.Errorf("a refused revocation changed something: %d live sessions", len(live))
				}
				return
			}
			if len(live) != 1 || live[0] == id {
				t.Errorf("live sessions = %v, want only the one not revoked", live)
			}
			es := f.events(t, u.ID())
			if last := es[len(es)-1]; last.Type != domain.EventLogout || last.SessionID != id {
				t.Errorf("last event = %+v, want logout of session %s", last, id)
			}
		})
	}
}
