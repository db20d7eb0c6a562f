package porttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// MailState is what the outbox suite observes of a queued mail beyond what
// a claim returns (Repos.InspectMail reads it from the store).
type MailState struct {
	Status    string // "pending", "sent" or "failed"
	Attempts  int
	Recipient string
	Template  domain.MailTemplate
	Content   domain.MailContent
	LastError string
	SentAt    time.Time // zero until sent
	FailedAt  time.Time // zero unless given up
}

// content returns a rendered mail whose bodies hold a one-time link.
func content(name string) domain.MailContent {
	link := "https://authd.test/account/reset-password?token=secret-" + name
	return domain.MailContent{Subject: "Subject " + name, Text: "Open " + link, HTML: `<a href="` + link + `">reset</a>`}
}

func outgoing(to domain.MailRecipient, name string, at time.Time) domain.OutgoingMail {
	return domain.OutgoingMail{To: to, Template: domain.MailPasswordChanged, Content: content(name), At: at}
}

// queue queues n mails to u's address, due at the given times in turn, by
// a change to u that sends nothing else.
func queue(t *testing.T, users ports.UserRepository, u *domain.User, at ...time.Time) {
	t.Helper()
	if _, err := users.Update(context.Background(), u.ID(), func(u *domain.User) error {
		for i, a := range at {
			u.Send(outgoing(domain.MailToUser(0), fmt.Sprint(i), a))
		}
		return nil
	}); err != nil {
		t.Fatalf("queue mail: %v", err)
	}
}

func mustClaim(t *testing.T, o ports.MailOutbox, now time.Time, lease time.Duration, limit int) []ports.ClaimedMail {
	t.Helper()
	c, err := o.Claim(context.Background(), now, lease, limit)
	if err != nil {
		t.Fatalf("Claim at %s: %v", now, err)
	}
	return c
}

func mustPending(t *testing.T, o ports.MailOutbox, want int) {
	t.Helper()
	n, err := o.Pending(context.Background())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if n != want {
		t.Errorf("Pending = %d, want %d", n, want)
	}
}

// MailOutbox runs the contract of ports.MailOutbox, and of the
// repositories that queue mail with their changes, against the stores
// newRepos returns, one per subtest.
func MailOutbox(t *testing.T, newRepos func(t *testing.T) Repos) {
	t.Helper()
	ctx := context.Background()
	const lease = time.Minute

	t.Run("a user change queues its mails", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		alice, bob := mustCreate(t, r.Users, "alice"), mustCreate(t, r.Users, "bob")
		other := domain.MustParseEmail("other." + uniq(t) + "@example.com")
		if _, err := r.Users.Update(ctx, alice.ID(), func(u *domain.User) error {
			u.ChangePassword(phc+"2", uuid.Nil, base)
			u.Send(outgoing(domain.MailToUser(0), "self", base))
			u.Send(outgoing(domain.MailTo(other), "explicit", base))
			u.Send(outgoing(domain.MailToUser(bob.ID()), "bob", base))
			return nil
		}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		mustPending(t, r.Outbox, 3)
		got := mustClaim(t, r.Outbox, base, lease, 10)
		if len(got) != 3 {
			t.Fatalf("claimed %d mails, want 3", len(got))
		}
		slices.SortFunc(got, func(a, b ports.ClaimedMail) int { return int(a.ID - b.ID) })
		want := []struct {
			to   string
			name string
		}{{alice.Email().String(), "self"}, {other.String(), "explicit"}, {bob.Email().String(), "bob"}}
		ids := map[uuid.UUID]bool{}
		for i, m := range got {
			if m.To != want[i].to || m.Template != domain.MailPasswordChanged || m.Attempt != 1 {
				t.Errorf("mail %d = to %q template %q attempt %d, want to %q template %q attempt 1",
					i, m.To, m.Template, m.Attempt, want[i].to, domain.MailPasswordChanged)
			}
			if diff := cmp.Diff(content(want[i].name), m.Content); diff != "" {
				t.Errorf("mail %d content (-want +got):\n%s", i, diff)
			}
			sameTime(t, "queued at", m.QueuedAt, base)
			if m.ID <= 0 || m.Lease == uuid.Nil || m.MessageID == uuid.Nil || ids[m.MessageID] {
				t.Errorf("mail %d: id %d, lease %s, message id %s: want a positive id, a lease and a message id of its own", i, m.ID, m.Lease, m.MessageID)
			}
			ids[m.MessageID] = true
		}
	})

	t.Run("a created user's mails go to its address", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		email := "new." + uniq(t) + "@example.com"
		nu := newUser(t, email)
		nu.Send(outgoing(domain.MailToUser(0), "welcome", base))
		created, err := r.Users.Create(ctx, nu)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		got := mustClaim(t, r.Outbox, base, lease, 10)
		if len(got) != 1 || got[0].To != email {
			t.Fatalf("claimed %+v, want one mail to %s", got, email)
		}
		if st := r.InspectMail(t, got[0].ID); st.Recipient != created.Email().String() {
			t.Errorf("recipient = %q, want %q", st.Recipient, created.Email())
		}

		// A user that could not be created sends nothing.
		dup := newUser(t, email)
		dup.Send(outgoing(domain.MailToUser(0), "dup", base))
		if _, err := r.Users.Create(ctx, dup); !errors.Is(err, domain.ErrEmailTaken) {
			t.Fatalf("Create of a taken email: %v, want ErrEmailTaken", err)
		}
		mustPending(t, r.Outbox, 1)
	})

	t.Run("a change that is not stored queues nothing", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "carol")
		refused := errors.New("refused")
		if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
			u.Send(outgoing(domain.MailToUser(0), "refused", base))
			return refused
		}); !errors.Is(err, refused) {
			t.Fatalf("Update: %v, want fn's error", err)
		}
		// A mail to a user that does not exist has no address: the change fails.
		if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
			u.Send(outgoing(domain.MailToUser(u.ID()+1000), "nobody", base))
			return nil
		}); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("Update sending to a missing user: %v, want ErrUserNotFound", err)
		}
		// A change whose session endings fail is not stored, and neither is its mail.
		mustFamily(t, r.Families, u, base)
		r.BreakSessionEnds(t)
		if _, err := r.Users.Update(ctx, u.ID(), func(u *domain.User) error {
			u.ChangePassword(phc+"2", uuid.Nil, base)
			u.Send(outgoing(domain.MailToUser(0), "broken", base))
			return nil
		}); err == nil {
			t.Fatal("password change succeeded although its sessions could not be ended")
		}
		mustPending(t, r.Outbox, 0)
		if got := mustClaim(t, r.Outbox, base.Add(time.Hour), lease, 10); len(got) != 0 {
			t.Errorf("claimed %d mails of changes that were not stored", len(got))
		}
	})

	t.Run("a family queues mail only with a change", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "dave")
		_, h := mustFamily(t, r.Families, u, base)
		if err := r.Families.UpdateByToken(ctx, h, func(f *domain.Family) error {
			f.Send(outgoing(domain.MailToUser(0), "no change", base))
			return nil
		}); err != nil {
			t.Fatalf("UpdateByToken: %v", err)
		}
		mustPending(t, r.Outbox, 0)

		next := newHash(t)
		if err := rotate(ctx, r.Families, h, next, base.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// Presenting the rotated token again ends the session and mails its
		// owner, whose address the family does not carry; concurrent
		// presentations end it once and mail once.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				at := base.Add(2 * time.Second)
				err := r.Families.UpdateByToken(ctx, h, func(f *domain.Family) error {
					err := f.Rotate(newHash(t), at, policy)
					if errors.Is(err, domain.ErrRefreshTokenReused) {
						f.Send(outgoing(domain.MailToUser(0), "reused", at))
					}
					return err
				})
				if !errors.Is(err, domain.ErrRefreshTokenReused) && !errors.Is(err, domain.ErrInvalidRefreshToken) {
					t.Errorf("presenting a rotated token: %v", err)
				}
			})
		}
		wg.Wait()
		got := mustClaim(t, r.Outbox, base.Add(time.Minute), lease, 10)
		if len(got) != 1 {
			t.Fatalf("claimed %d mails after concurrent reuse, want 1", len(got))
		}
		if got[0].To != u.Email().String() || got[0].Content != content("reused") {
			t.Errorf("mail = %+v, want the reuse notice to %s", got[0], u.Email())
		}
	})

	t.Run("claims honour the due time, the lease and the limit", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "erin")
		queue(t, r.Users, u, base.Add(3*time.Second), base.Add(time.Second), base.Add(2*time.Second), base.Add(time.Hour))
		if got := mustClaim(t, r.Outbox, base, lease, 10); len(got) != 0 {
			t.Fatalf("claimed %d mails before any was due", len(got))
		}
		first := mustClaim(t, r.Outbox, base.Add(3*time.Second), lease, 2)
		var subjects []string
		for _, m := range first {
			subjects = append(subjects, m.Content.Subject)
		}
		slices.Sort(subjects)
		if want := []string{content("1").Subject, content("2").Subject}; !slices.Equal(subjects, want) {
			t.Fatalf("claimed %q, want the two due first, %q", subjects, want)
		}
		if got := mustClaim(t, r.Outbox, base.Add(3*time.Second), lease, 0); len(got) != 0 {
			t.Errorf("a claim with limit 0 returned %d mails", len(got))
		}
		rest := mustClaim(t, r.Outbox, base.Add(4*time.Second), lease, 10)
		if len(rest) != 1 || rest[0].Content != content("0") {
			t.Fatalf("second claim returned %+v, want only the third due mail (the others are leased)", rest)
		}
		if got := mustClaim(t, r.Outbox, base.Add(30*time.Second), lease, 10); len(got) != 0 {
			t.Fatalf("claimed %d leased mails before their lease ran out", len(got))
		}
		mustPending(t, r.Outbox, 4)

		// A lease that ran out lets the next claim take the mail again, as a
		// new attempt under a new lease; the old lease can no longer mark it.
		again := mustClaim(t, r.Outbox, base.Add(3*time.Second+lease), lease, 10)
		if len(again) != 2 {
			t.Fatalf("after the lease: claimed %d mails, want the 2 whose lease ran out", len(again))
		}
		byID := map[int64]ports.ClaimedMail{}
		for _, m := range first {
			byID[m.ID] = m
		}
		for _, m := range again {
			old, ok := byID[m.ID]
			if !ok || m.Attempt != 2 || m.Lease == old.Lease || m.MessageID != old.MessageID {
				t.Errorf("reclaimed %+v, want one of the first claim as attempt 2 under a new lease with the same message id", m)
			}
			if err := r.Outbox.MarkSent(ctx, old, base.Add(time.Hour)); !errors.Is(err, ports.ErrLeaseLost) {
				t.Errorf("MarkSent with the lost lease: %v, want ErrLeaseLost", err)
			}
			if err := r.Outbox.Retry(ctx, old, base.Add(time.Hour), "late"); !errors.Is(err, ports.ErrLeaseLost) {
				t.Errorf("Retry with the lost lease: %v, want ErrLeaseLost", err)
			}
			if err := r.Outbox.Fail(ctx, old, base.Add(time.Hour), "late"); !errors.Is(err, ports.ErrLeaseLost) {
				t.Errorf("Fail with the lost lease: %v, want ErrLeaseLost", err)
			}
		}
	})

	t.Run("a sent mail keeps no body", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "frank")
		queue(t, r.Users, u, base)
		m := mustClaim(t, r.Outbox, base, lease, 10)[0]
		sent := base.Add(5 * time.Second)
		if err := r.Outbox.MarkSent(ctx, m, sent); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		st := r.InspectMail(t, m.ID)
		if st.Status != "sent" || st.Content != (domain.MailContent{}) || st.Attempts != 1 ||
			st.Recipient != u.Email().String() || st.Template != domain.MailPasswordChanged {
			t.Errorf("after MarkSent: %+v, want sent, no subject or body, recipient and template kept, 1 attempt", st)
		}
		sameTime(t, "sent at", st.SentAt, sent)
		if err := r.Outbox.MarkSent(ctx, m, sent); !errors.Is(err, ports.ErrLeaseLost) {
			t.Errorf("a second MarkSent: %v, want ErrLeaseLost", err)
		}
		mustPending(t, r.Outbox, 0)
		if got := mustClaim(t, r.Outbox, base.Add(24*time.Hour), lease, 10); len(got) != 0 {
			t.Errorf("a sent mail was claimed again")
		}
	})

	t.Run("a retried mail waits until its next attempt", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "gina")
		queue(t, r.Users, u, base)
		m := mustClaim(t, r.Outbox, base, lease, 10)[0]
		next := base.Add(10 * time.Second)
		if err := r.Outbox.Retry(ctx, m, next, "421 4.3.0 try again later"); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		st := r.InspectMail(t, m.ID)
		if st.Status != "pending" || st.LastError != "421 4.3.0 try again later" || st.Content != content("0") {
			t.Errorf("after Retry: %+v, want pending with the reason and the body kept", st)
		}
		if got := mustClaim(t, r.Outbox, next.Add(-time.Second), lease, 10); len(got) != 0 {
			t.Fatal("a retried mail was claimed before its next attempt")
		}
		got := mustClaim(t, r.Outbox, next, lease, 10)
		if len(got) != 1 || got[0].ID != m.ID || got[0].Attempt != 2 || got[0].Content != content("0") {
			t.Fatalf("claim at the next attempt: %+v, want the mail as attempt 2 with its body", got)
		}
		mustPending(t, r.Outbox, 1)
	})

	t.Run("a failed mail keeps no body", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "hank")
		queue(t, r.Users, u, base)
		m := mustClaim(t, r.Outbox, base, lease, 10)[0]
		reason := strings.Repeat("é", ports.MaxMailErrorRunes+50)
		if err := r.Outbox.Fail(ctx, m, base.Add(time.Second), reason); err != nil {
			t.Fatalf("Fail: %v", err)
		}
		st := r.InspectMail(t, m.ID)
		if st.Status != "failed" || st.Content != (domain.MailContent{}) || st.Recipient != u.Email().String() || st.Attempts != 1 {
			t.Errorf("after Fail: %+v, want failed with no subject or body, recipient kept", st)
		}
		if st.LastError != reason[:2*ports.MaxMailErrorRunes] {
			t.Errorf("last error has %d characters, want the first %d of the reason", len([]rune(st.LastError)), ports.MaxMailErrorRunes)
		}
		sameTime(t, "failed at", st.FailedAt, base.Add(time.Second))
		mustPending(t, r.Outbox, 0)
		if got := mustClaim(t, r.Outbox, base.Add(24*time.Hour), lease, 10); len(got) != 0 {
			t.Errorf("a failed mail was claimed again")
		}
	})

	t.Run("concurrent claims never share a mail", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "ivan")
		const n = 40
		at := make([]time.Time, n)
		for i := range at {
			at[i] = base.Add(time.Duration(i) * time.Millisecond)
		}
		queue(t, r.Users, u, at...)
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					got, err := r.Outbox.Claim(ctx, base.Add(time.Second), lease, 3)
					if err != nil {
						t.Errorf("Claim: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, m := range got {
						seen[m.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("the claims returned %d distinct mails, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("mail %d was claimed %d times", id, k)
			}
		}
	})
}
