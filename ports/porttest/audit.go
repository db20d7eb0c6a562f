package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// AuditLog runs the contract of ports.AuditLog against the logs newRepos
// returns, one per subtest, with a UserRepository of the same store for the
// users events refer to.
func AuditLog(t *testing.T, newRepos func(t *testing.T) Repos) {
	t.Helper()
	ctx := context.Background()

	t.Run("record and list", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		users, log := r.Users, r.Audit
		a := mustCreate(t, users, "alice")
		b := mustCreate(t, users, "bob")
		sid := uuid.New()
		in := []domain.AuthEvent{
			{Type: domain.EventUserRegistered, UserID: a.ID(), Client: domain.NewClientInfo("curl/8", "192.0.2.1"), At: base},
			{Type: domain.EventLoginFailed, Client: domain.NewClientInfo("bot", "198.51.100.9"), At: base.Add(time.Second)},
			{Type: domain.EventLoginSucceeded, UserID: a.ID(), SessionID: sid, Client: domain.NewClientInfo("", "192.0.2.1"), At: base.Add(2 * time.Second)},
			{Type: domain.EventRoleChanged, UserID: b.ID(), At: base.Add(3 * time.Second)},
			{Type: domain.EventLogout, UserID: a.ID(), SessionID: sid, At: base.Add(4 * time.Second)},
		}
		for _, e := range in {
			if err := log.Record(ctx, e); err != nil {
				t.Fatalf("Record(%s): %v", e.Type, err)
			}
		}
		all, err := log.List(ctx, ports.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(all) != len(in) {
			t.Fatalf("List returned %d events, want %d", len(all), len(in))
		}
		for i := range all {
			if all[i].ID <= 0 || (i > 0 && all[i].ID <= all[i-1].ID) {
				t.Fatalf("event ids %d, %d: want positive and increasing", all[max(i-1, 0)].ID, all[i].ID)
			}
		}
		if diff := cmp.Diff(in, all, cmp.Comparer(time.Time.Equal), cmp.FilterPath(isEventID, cmp.Ignore())); diff != "" {
			t.Fatalf("events (-want +got):\n%s", diff)
		}

		tests := []struct {
			name string
			q    ports.AuditQuery
			want []domain.AuthEvent
		}{
			{"first page", ports.AuditQuery{Limit: 2}, all[:2]},
			{"next page", ports.AuditQuery{After: all[1].ID, Limit: 2}, all[2:4]},
			{"last page", ports.AuditQuery{After: all[3].ID, Limit: 2}, all[4:]},
			{"past the end", ports.AuditQuery{After: all[4].ID, Limit: 2}, nil},
			{"one user", ports.AuditQuery{UserID: a.ID(), Limit: 10}, []domain.AuthEvent{all[0], all[2], all[4]}},
			{"one user, paged", ports.AuditQuery{UserID: a.ID(), After: all[0].ID, Limit: 1}, all[2:3]},
			{"other user", ports.AuditQuery{UserID: b.ID(), Limit: 10}, all[3:4]},
			{"user without events", ports.AuditQuery{UserID: b.ID() + 1000, Limit: 10}, nil},
		}
		for _, tt := range tests {
			got, err := log.List(ctx, tt.q)
			if err != nil {
				t.Fatalf("%s: List: %v", tt.name, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(time.Time.Equal), cmpEmpty); diff != "" {
				t.Errorf("%s: List(%+v) (-want +got):\n%s", tt.name, tt.q, diff)
			}
		}
	})
}

func isEventID(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && sf.Name() == "ID"
}

// cmpEmpty treats nil and empty slices alike.
var cmpEmpty = cmp.FilterValues(func(x, y []domain.AuthEvent) bool { return len(x) == 0 && len(y) == 0 }, cmp.Ignore())
