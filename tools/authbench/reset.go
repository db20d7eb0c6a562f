package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/valyala/fasthttp"
)

// The reset phase: POST /v1/auth/password-reset must answer the same for
// an address with an active account, one with none and one whose account
// is disabled, in status, body and timing. It sends the three in rounds,
// in a random order within each round, one request at a time with a pause
// after each (so that the deferred work a known address starts, the lookup
// and the mail, is done before the next request and slows none of them:
// what is measured is each answer's own latency), to a server with email
// on (mail goes to an SMTP sink) and the abuse limits on (the per-IP limit
// raised so that the phase is not refused), and compares the three
// latency distributions.

// resetClasses are the kinds of address the phase asks for.
var resetClasses = []string{"known", "unknown", "disabled"}

// resetSame is the bar: the two-sample Kolmogorov-Smirnov test must not
// tell the known addresses' latencies from the others' at this level.
const resetSame = 0.001

// resetEmail is the address of round i of class.
func resetEmail(class string, i int) string {
	switch class {
	case "known":
		return userEmail(kindResetKnown, i)
	case "disabled":
		return userEmail(kindResetOff, i)
	}
	return fmt.Sprintf("nobody-%d@bench.example", i)
}

// resetRun is what the phase measured.
type resetRun struct {
	latencies map[string][]time.Duration
	// odd counts answers that were not the first answer's status and body.
	odd       int
	first     string
	delivered int64
}

func (b *bench) reset(ctx context.Context) error {
	sink, err := startSMTPSink()
	if err != nil {
		return err
	}
	defer sink.close()
	b.step("reset: starting authd with email on (an SMTP sink) and the abuse limits on")
	srv, err := startServer(ctx, b.bin, b.key, b.db.dsn, b.dir, "authd-reset",
		"AUTHD_EMAIL=on",
		"AUTHD_SMTP_URL=smtp://"+sink.addr(),
		"AUTHD_MAIL_FROM=authbench <bench@bench.example>",
		"AUTHD_RATE_LIMITS=on",
		"AUTHD_EMAIL_REQUESTS_PER_IP=10000/1s",
	)
	if err != nil {
		return err
	}
	defer srv.stop()
	b.step("reset: %d rounds of a known, an unknown and a disabled address, %s apart", b.o.resetRounds, b.o.resetGap)
	var run resetRun
	b.watchCPUOf(srv, "the reset phase", func() { run, err = resetRounds(ctx, srv.addr, b.o.resetRounds, b.o.resetGap) })
	if err != nil {
		return err
	}
	// Let the deferred work and the dispatcher finish before counting.
	time.Sleep(2 * time.Second)
	run.delivered = sink.delivered.Load()

	known := run.latencies["known"]
	for _, class := range resetClasses {
		ls := run.latencies[class]
		b.rep.info("password reset answer, "+class+" address", latencySummary(ls), "-", "-")
	}
	worst := 1.0
	for _, other := range []string{"unknown", "disabled"} {
		d, p := ksTest(known, run.latencies[other])
		worst = min(worst, p)
		b.rep.note("reset: known vs %s addresses: Kolmogorov-Smirnov D = %.3f, p = %.3g (n = %d each); median %s vs %s",
			other, d, p, len(known), quantile(known, 0.5), quantile(run.latencies[other], 0.5))
	}
	b.rep.bar("reset answers: known vs unknown/disabled timing", fmt.Sprintf("KS p = %.3g", worst), "-", "-",
		fmt.Sprintf("p > %g", resetSame), worst > resetSame && run.odd == 0)
	b.rep.note("reset: every answer was %s; %d answers differed; %d reset mails reached the SMTP sink (one per known address, none for the others); requests %s apart, one at a time",
		run.first, run.odd, run.delivered, b.o.resetGap)
	return nil
}

// resetRounds sends rounds rounds of the three classes, in a random order
// within each round, one request at a time and gap apart, after a short
// warm-up.
func resetRounds(ctx context.Context, addr string, rounds int, gap time.Duration) (resetRun, error) {
	cl := newClient(addr, 1)
	e := newExchange()
	defer e.release()
	post := func(email string) (time.Duration, int, []byte, error) {
		body, _ := json.Marshal(map[string]string{"email": email})
		e.req.Reset()
		e.req.SetRequestURI(cl.base + "/v1/auth/password-reset")
		e.req.Header.SetMethod(fasthttp.MethodPost)
		e.req.Header.SetContentType("application/json")
		e.req.SetBodyRaw(body)
		start := time.Now()
		err := cl.hc.Do(e.req, e.resp)
		return time.Since(start), e.resp.StatusCode(), e.resp.Body(), err
	}
	for i := range 50 {
		if _, _, _, err := post(fmt.Sprintf("warmup-%d@bench.example", i)); err != nil {
			return resetRun{}, err
		}
	}
	run := resetRun{latencies: map[string][]time.Duration{}}
	var want []byte
	order := slices.Clone(resetClasses)
	for i := 1; i <= rounds && ctx.Err() == nil; i++ {
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] }) //nolint:gosec // G404: the order of a measurement, not a secret.
		for _, class := range order {
			took, status, body, err := post(resetEmail(class, i))
			if err != nil {
				return run, err
			}
			answer := append([]byte(fmt.Sprintf("%d ", status)), body...)
			if want == nil {
				want = answer
				run.first = string(answer)
			} else if !bytes.Equal(answer, want) {
				run.odd++
			}
			run.latencies[class] = append(run.latencies[class], took)
			time.Sleep(gap)
		}
	}
	return run, ctx.Err()
}

// latencySummary spells the distribution of ls.
func latencySummary(ls []time.Duration) string {
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, mean %s", quantile(ls, 0.5), quantile(ls, 0.9), quantile(ls, 0.99), mean(ls))
}

// quantile returns the q-quantile of ls (0 < q <= 1), rounded to µs.
func quantile(ls []time.Duration, q float64) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	s := slices.Clone(ls)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)].Round(time.Microsecond)
}

func mean(ls []time.Duration) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	var sum time.Duration
	for _, l := range ls {
		sum += l
	}
	return (sum / time.Duration(len(ls))).Round(time.Microsecond)
}

// ksTest is the two-sample Kolmogorov-Smirnov test: the largest distance
// between the empirical distributions of a and b, and the asymptotic
// probability of a distance at least as large if both came from one
// distribution.
func ksTest(a, b []time.Duration) (d, p float64) {
	if len(a) == 0 || len(b) == 0 {
		return 0, 1
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		v := min(x[i], y[j])
		for i < len(x) && x[i] == v {
			i++
		}
		for j < len(y) && y[j] == v {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(x))-float64(j)/float64(len(y))))
	}
	n, m := float64(len(x)), float64(len(y))
	en := math.Sqrt(n * m / (n + m))
	lambda := (en + 0.12 + 0.11/en) * d
	return d, ksQ(lambda)
}

// ksQ is the Kolmogorov distribution's tail, Q(lambda) = P(K > lambda),
// by the series that converges fast on each side of 1.18.
func ksQ(lambda float64) float64 {
	if lambda < 1.18 {
		if lambda <= 0 {
			return 1
		}
		y := math.Exp(-math.Pi * math.Pi / (8 * lambda * lambda))
		cdf := math.Sqrt(2*math.Pi) / lambda * (y + math.Pow(y, 9) + math.Pow(y, 25) + math.Pow(y, 49))
		return min(max(1-cdf, 0), 1)
	}
	x := math.Exp(-2 * lambda * lambda)
	return min(max(2*(x-math.Pow(x, 4)+math.Pow(x, 9)-math.Pow(x, 16)), 0), 1)
}
