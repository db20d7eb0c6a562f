package main

import (
	"testing"
	"time"
)

// TestMedianRound picks the round of the median ratio, not of the median
// of each figure, and lists the ratios in the order the rounds ran.
func TestMedianRound(t *testing.T) {
	round := func(authd, before, after float64) refreshRound {
		return refreshRound{
			before: pgbenchResult{tps: before},
			after:  pgbenchResult{tps: after},
			web:    loadResult{ok: int64(authd * 10), elapsed: 10 * time.Second},
		}
	}
	rounds := []refreshRound{round(900, 1000, 1000), round(1500, 1400, 1600), round(1000, 1300, 1300)}
	m := medianRound(rounds, refreshRound.rateRatio)
	if got := m.rateRatio(); got != 0.9 {
		t.Errorf("median ratio = %.3f, want 0.900 (the ratios are 0.90, 1.00, 0.77)", got)
	}
	if got := roundRatios(rounds, refreshRound.rateRatio); got != "0.90x 1.00x 0.77x" {
		t.Errorf("roundRatios = %q", got)
	}
	if got := medianRound(rounds[:1], refreshRound.rateRatio).web.ok; got != 9000 {
		t.Errorf("one round: %d rotations, want the round itself", got)
	}
}
