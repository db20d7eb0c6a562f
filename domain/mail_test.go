package domain_test

import (
	"errors"
	"testing"
	"time"

	"authd/domain"
)

func TestNextMailAttempt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var total time.Duration
	for attempt, want := range map[int]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second,
	} {
		next, err := domain.NextMailAttempt(attempt, now, now, false)
		if err != nil || next.Sub(now) != want {
			t.Errorf("after attempt %d: next in %s (%v), want %s", attempt, next.Sub(now), err, want)
		}
	}
	for attempt := 1; attempt < domain.MaxMailAttempts; attempt++ {
		next, err := domain.NextMailAttempt(attempt, now, now, false)
		if err != nil {
			t.Fatalf("attempt %d given up, want a retry", attempt)
		}
		if d := next.Sub(now); d > time.Hour {
			t.Errorf("after attempt %d: waits %s, more than an hour", attempt, d)
		}
		total += next.Sub(now)
	}
	if total != 511*time.Second {
		t.Errorf("the retries wait %s in all, want 511s", total)
	}
	if _, err := domain.NextMailAttempt(domain.MaxMailAttempts, now, now, false); !errors.Is(err, domain.ErrMailGivenUp) {
		t.Errorf("after the last attempt: %v, want ErrMailGivenUp", err)
	}
}

// An unreachable server is an outage: the mail is never given up, and the
// next attempt waits as long as the mail has waited (1 s to 1 h).
func TestNextMailAttemptDuringAnOutage(t *testing.T) {
	t.Parallel()
	queued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		attempt int
		waited  time.Duration
		want    time.Duration
	}{
		{1, 0, time.Second},
		{2, 3 * time.Second, 3 * time.Second},
		{domain.MaxMailAttempts, 10 * time.Minute, 10 * time.Minute},
		{50, 3 * 24 * time.Hour, time.Hour},
	} {
		now := queued.Add(tt.waited)
		next, err := domain.NextMailAttempt(tt.attempt, queued, now, true)
		if err != nil || next.Sub(now) != tt.want {
			t.Errorf("attempt %d after %s unreachable: next in %s (%v), want %s", tt.attempt, tt.waited, next.Sub(now), err, tt.want)
		}
	}
}

func TestMailRecipient(t *testing.T) {
	t.Parallel()
	e := domain.MustParseEmail("a@example.com")
	if a, ok := domain.MailTo(e).Address(); !ok || a != e || domain.MailTo(e).User() != 0 {
		t.Errorf("MailTo: address %v (%v), user %d", a, ok, domain.MailTo(e).User())
	}
	if _, ok := domain.MailToUser(7).Address(); ok || domain.MailToUser(7).User() != 7 {
		t.Error("MailToUser(7) has an address or another user")
	}
}

func TestAggregatesCarryTheirMails(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := domain.NewUser(domain.MustParseEmail("a@example.com"), "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	m := domain.OutgoingMail{To: domain.MailToUser(0), Template: domain.MailPasswordChanged, At: now}
	u.Send(m)
	if got := u.Mails(); len(got) != 1 || got[0] != m {
		t.Errorf("user mails = %+v, want the one sent", got)
	}
}
