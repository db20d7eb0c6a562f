package migrations_test

import (
	"regexp"
	"testing"

	"authd/migrations"
)

func TestEveryMigrationHasUpAndDown(t *testing.T) {
	t.Parallel()
	ms := migrations.Migrations.Sorted()
	if len(ms) < 3 {
		t.Fatalf("found %d migrations, want at least 3", len(ms))
	}
	id := regexp.MustCompile(`^\d{14}$`)
	for i, m := range ms {
		if !id.MatchString(m.Name) {
			t.Errorf("migration %q: id is not a 14-digit timestamp", m.String())
		}
		if m.Up == nil || m.Down == nil {
			t.Errorf("migration %s lacks an up or a down file", m.String())
		}
		if i > 0 && ms[i-1].Name == m.Name {
			t.Errorf("duplicate migration id %s", m.Name)
		}
	}
	if got := ms[0].String(); got != "20260101000001_create_users_and_refresh_tokens" {
		t.Errorf("first migration is %s, want the seed's two tables", got)
	}
}
