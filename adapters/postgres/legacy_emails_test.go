package postgres_test

import (
	"context"
	"testing"

	"authd/adapters/postgres"
	"authd/domain"
	"authd/ports"
)

// TestNormalizeEmails: rows written under the older rules (trimmed and
// lower-cased only) still load, are reported, and are rewritten only when
// that merges no two accounts.
func TestNormalizeEmails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := openRepos(t)
	insert := func(email string) int64 {
		t.Helper()
		var id int64
		if err := r.db.NewRaw("INSERT INTO users (email, hashed_password) VALUES (?, 'x') RETURNING id", email).Scan(ctx, &id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	current := insert("ok@example.org")
	uLabel := insert("zoë@bücher.example")        // now stored as its A-label
	nfc := insert("jörg@example.org")             // already normal
	nfd := insert("jo\u0308rg@example.org")       // the same address as nfc, decomposed
	lookAlike := insert("root\u200b@example.org") // now refused
	underscore := insert("a@exa_mple.com")        // not a hostname: now refused

	// A legacy row still loads, and its user keeps working by id.
	if u, err := r.users.ByID(ctx, domain.UserID(uLabel)); err != nil || u.Email().String() != "zoë@bücher.example" {
		t.Fatalf("ByID(legacy row) = %v, %v", u, err)
	}
	if us, err := r.users.List(ctx, ports.UserQuery{}); err != nil || len(us) != 6 {
		t.Fatalf("List with legacy rows = %d users, %v; want all 6", len(us), err)
	}

	want := map[int64]postgres.LegacyEmail{
		uLabel:     {UserID: uLabel, Stored: "zoë@bücher.example", Normal: "zoë@xn--bcher-kva.example"},
		nfd:        {UserID: nfd, Stored: "jo\u0308rg@example.org", Normal: "jörg@example.org", Conflict: nfc},
		lookAlike:  {UserID: lookAlike, Stored: "root\u200b@example.org"},
		underscore: {UserID: underscore, Stored: "a@exa_mple.com"},
	}
	check := func(apply bool) {
		t.Helper()
		got, err := postgres.NormalizeEmails(ctx, r.db, apply)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("NormalizeEmails(apply=%v) = %+v, want %d rows", apply, got, len(want))
		}
		for _, l := range got {
			w, ok := want[l.UserID]
			if !ok {
				t.Errorf("user %d reported: %+v", l.UserID, l)
				continue
			}
			if w.Normal == "" && l.Refused == "" {
				t.Errorf("user %d: %+v, want it refused", l.UserID, l)
			}
			l.Refused = ""
			w.Rewritten = apply && l.UserID == uLabel
			if l != w {
				t.Errorf("user %d: %+v, want %+v", l.UserID, l, w)
			}
		}
	}
	check(false)
	if u, _ := r.users.ByID(ctx, domain.UserID(uLabel)); u.Email().String() != "zoë@bücher.example" {
		t.Fatalf("a dry run rewrote %q", u.Email())
	}
	check(true)
	// The rewritten account is found by the address as typed.
	if u, err := r.users.ByEmail(ctx, domain.MustParseEmail("Zoë@Bücher.example")); err != nil || u.ID() != domain.UserID(uLabel) {
		t.Fatalf("ByEmail after normalisation = %v, %v; want user %d", u, err, uLabel)
	}
	for _, id := range []int64{current, nfd, lookAlike} {
		if _, err := r.users.ByID(ctx, domain.UserID(id)); err != nil {
			t.Errorf("user %d after normalisation: %v", id, err)
		}
	}
	delete(want, uLabel)
	check(true) // the rest stays for an operator
}
