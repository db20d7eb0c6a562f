package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authd/adapters/memory"
	"authd/domain"
)

// gathered returns the value of every series of reg, by metric name and
// then by its template label ("" without one).
func gathered(t *testing.T, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		series := map[string]float64{}
		for _, m := range mf.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "template" {
					label = l.GetValue()
				}
			}
			switch {
			case m.GetCounter() != nil:
				series[label] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				series[label] = m.GetGauge().GetValue()
			}
		}
		out[mf.GetName()] = series
	}
	return out
}

func TestMailMetrics(t *testing.T) {
	t.Parallel()
	store := memory.NewStore()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := domain.NewUser(domain.MustParseEmail("m@example.com"), "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		u.Send(domain.OutgoingMail{To: domain.MailToUser(0), Template: domain.MailPasswordChanged, At: now})
	}
	if _, err := store.Users().Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := newMailMetrics(reg, store.Outbox())
	m.MailSent(domain.MailPasswordChanged)
	m.MailSent(domain.MailPasswordChanged)
	m.MailFailed(domain.MailRefreshTokenReused)

	got := gathered(t, reg)
	if v := got["authd_mail_outbox_pending"][""]; v != 3 {
		t.Errorf("authd_mail_outbox_pending = %v, want 3", v)
	}
	if v := got["authd_mail_sent_total"]["password_changed"]; v != 2 {
		t.Errorf("authd_mail_sent_total{template=password_changed} = %v, want 2", v)
	}
	if v := got["authd_mail_failed_total"]["refresh_token_reused"]; v != 1 {
		t.Errorf("authd_mail_failed_total{template=refresh_token_reused} = %v, want 1", v)
	}
	// Every template's series exists from the start, at zero.
	for _, name := range []string{"authd_mail_sent_total", "authd_mail_failed_total"} {
		if n := len(got[name]); n != len(domain.MailTemplates()) {
			t.Errorf("%d %s series, want one per template", n, name)
		}
	}
}
