package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// DESIGN.md's bars for a login flood at 10x the hash capacity.
const (
	floodFactor       = 10
	floodRSSLimit     = 250 * mib
	floodRefreshP99   = 50 * time.Millisecond
	floodLoginClients = 128 // connections the flood's logins may use at once
	floodRefreshRate  = 100 // refreshes per second during the flood
	floodProbeRate    = 20  // GET /v1/users/me and GET /healthz per second each
	floodSessions     = 64  // sessions the refreshes of the flood rotate
	rssSampleInterval = 100 * time.Millisecond
)

// stream is what one kind of request of the flood phase met: its answers
// by status (and problem code for errors), and each answer's latency.
type stream struct {
	name string

	mu        sync.Mutex
	answers   map[string]int
	latencies []time.Duration
	skipped   atomic.Int64 // ticks with every client of the stream busy
}

func newStream(name string) *stream { return &stream{name: name, answers: map[string]int{}} }

// record adds one answer: status 0 means the request failed on the wire.
func (s *stream) record(status int, code string, took time.Duration) {
	key := strconv.Itoa(status)
	switch {
	case status == 0:
		key = "no answer"
	case code != "":
		key += " " + code
	}
	s.mu.Lock()
	s.answers[key]++
	s.latencies = append(s.latencies, took)
	s.mu.Unlock()
}

// count returns how many answers had a key accepted by match.
func (s *stream) count(match func(key string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.answers {
		if match(k) {
			n += v
		}
	}
	return n
}

// quantile returns the q-quantile of the latencies (0 < q ≤ 1).
func (s *stream) quantile(q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latencies) == 0 {
		return 0
	}
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	i := int(q*float64(len(l))+0.5) - 1
	return l[max(0, min(i, len(l)-1))]
}

// summary lists the answers, most frequent first.
func (s *stream) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.answers))
	for k := range s.answers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.answers[keys[i]] > s.answers[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d x %s", s.answers[k], k)
	}
	if n := s.skipped.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d not sent (every client busy)", n))
	}
	return strings.Join(parts, ", ")
}

// unexpected5xx counts 5xx answers other than 503 overloaded, and requests
// that got no answer at all.
func (s *stream) unexpected5xx() int {
	return s.count(func(k string) bool {
		return k == "no answer" || (strings.HasPrefix(k, "5") && k != "503 overloaded")
	})
}

// paced calls op rate times per second from workers goroutines until d
// has passed or ctx ends: an open loop, so a slow answer delays no other
// request; a tick that finds every worker busy is counted as skipped.
func paced(ctx context.Context, s *stream, rate float64, workers int, d time.Duration, op func(w int) (int, string)) {
	ticks := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range ticks {
				start := time.Now()
				status, code := op(w)
				s.record(status, code, time.Since(start))
			}
		})
	}
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	end := next.Add(d)
	for next.Before(end) && ctx.Err() == nil {
		time.Sleep(time.Until(next))
		select {
		case ticks <- struct{}{}:
		default:
			s.skipped.Add(1)
		}
		next = next.Add(interval)
	}
	close(ticks)
	wg.Wait()
}

// send sends the exchange's request and returns the status and, for an
// error answer, its problem code.
func (c *client) send(e *exchange) (int, string) {
	if err := c.hc.Do(e.req, e.resp); err != nil {
		return 0, ""
	}
	status := e.resp.StatusCode()
	if status < 400 {
		return status, ""
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(e.resp.Body(), &p)
	return status, p.Code
}

// floodResult is what the flood phase measured.
type floodResult struct {
	rate                        float64
	logins, refreshes, me, live *stream
	maxRSS                      int64
}

// runFlood offers logins at rate per second for o.duration while
// refreshes, GET /v1/users/me and GET /healthz run at a steady pace, and
// samples the server's RSS.
func runFlood(ctx context.Context, o options, srv *server, rate float64, sessions []string, meToken string) (floodResult, error) {
	r := floodResult{rate: rate, logins: newStream("login"), refreshes: newStream("refresh"),
		me: newStream("users/me"), live: newStream("healthz")}

	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var sampleErr error
	sampler.Go(func() {
		t := time.NewTicker(rssSampleInterval)
		defer t.Stop()
		for {
			rss, _, err := srv.memory()
			if err != nil {
				sampleErr = err
				return
			}
			r.maxRSS = max(r.maxRSS, rss)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})

	// Every stream has its own connections, so that the flood cannot take
	// the others' (a load balancer in front of authd would not either).
	loginCl := newClient(srv.addr, floodLoginClients)
	otherCl := newClient(srv.addr, 3*8)
	pool := make(chan string, len(sessions))
	for _, s := range sessions {
		pool <- s
	}
	bodies := make([][]byte, o.loginUsers)
	for i := range bodies {
		bodies[i] = loginBody(userEmail(kindLogin, i+1))
	}
	exchanges := func(n int) []*exchange {
		es := make([]*exchange, n)
		for i := range es {
			es[i] = newExchange()
		}
		return es
	}
	release := func(es []*exchange) {
		for _, e := range es {
			e.release()
		}
	}
	loginEx, refreshEx, meEx, liveEx := exchanges(floodLoginClients), exchanges(8), exchanges(8), exchanges(8)
	defer release(loginEx)
	defer release(refreshEx)
	defer release(meEx)
	defer release(liveEx)

	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		paced(ctx, r.logins, rate, floodLoginClients, o.duration, func(w int) (int, string) {
			e := loginEx[w]
			e.prepare(fasthttp.MethodPost, loginCl.base+"/v1/auth/login", "", bodies[int(n.Add(1))%len(bodies)])
			return loginCl.send(e)
		})
	})
	wg.Go(func() {
		paced(ctx, r.refreshes, floodRefreshRate, 8, o.duration, func(w int) (int, string) {
			var secret string
			select {
			case secret = <-pool:
			default:
				return 0, "" // every session was lost to failures
			}
			e := refreshEx[w]
			e.prepare(fasthttp.MethodPost, otherCl.base+"/v1/auth/refresh", "", []byte(`{"refresh_token":"`+secret+`"}`))
			status, code := otherCl.send(e)
			if status == fasthttp.StatusOK {
				var t tokenResponse
				if json.Unmarshal(e.resp.Body(), &t) == nil && t.RefreshToken != "" {
					pool <- t.RefreshToken
				}
			}
			return status, code
		})
	})
	wg.Go(func() {
		paced(ctx, r.me, floodProbeRate, 8, o.duration, func(w int) (int, string) {
			e := meEx[w]
			e.prepare(fasthttp.MethodGet, otherCl.base+"/v1/users/me", meToken, nil)
			return otherCl.send(e)
		})
	})
	wg.Go(func() {
		paced(ctx, r.live, floodProbeRate, 8, o.duration, func(w int) (int, string) {
			e := liveEx[w]
			e.prepare(fasthttp.MethodGet, otherCl.base+"/healthz", "", nil)
			return otherCl.send(e)
		})
	})
	wg.Wait()
	close(stop)
	sampler.Wait()
	return r, sampleErr
}

// flood is the bounded-work phase: a login flood at floodFactor times the
// argon2id ceiling measured by the login phase, while refreshes, /me and
// health checks keep their pace.
func (b *bench) flood(ctx context.Context) error {
	if b.hashRate <= 0 {
		return fmt.Errorf("flood: no argon2id ceiling measured")
	}
	e := newExchange()
	t, err := b.cl.login(e, userEmail(kindMe, 1))
	e.release()
	if err != nil {
		return err
	}
	rate := floodFactor * b.hashRate
	b.step("flood: %.0f logins/s (%dx the argon2id ceiling) with %d refreshes/s, /me and /healthz at %d/s", rate, floodFactor, floodRefreshRate, floodProbeRate)
	var r floodResult
	use := b.watchCPU("the login flood", func() { r, err = runFlood(ctx, b.o, b.srv, rate, b.floodChains, t.AccessToken) })
	if err != nil {
		return err
	}
	overloaded := r.logins.count(func(k string) bool { return k == "503 overloaded" })
	accepted := r.logins.count(func(k string) bool { return k == "200" })
	bad := r.logins.unexpected5xx() + r.refreshes.unexpected5xx() + r.me.unexpected5xx() + r.live.unexpected5xx()
	refreshOK := r.refreshes.count(func(k string) bool { return k == "200" })
	refreshAll := r.refreshes.count(func(string) bool { return true })

	b.rep.bar("flood: RSS max (sampled every 100 ms)", mibs(r.maxRSS), mibs(floodRSSLimit), ratio(float64(r.maxRSS), floodRSSLimit),
		"< 250 MiB", r.maxRSS < floodRSSLimit)
	p99 := r.refreshes.quantile(0.99)
	b.rep.bar("flood: refresh p99", p99.Round(10*time.Microsecond).String(), floodRefreshP99.String(),
		ratio(float64(p99), float64(floodRefreshP99)), "< 50ms", p99 < floodRefreshP99 && refreshOK == refreshAll && refreshAll > 0)
	b.rep.bar("flood: 5xx other than 503 overloaded", strconv.Itoa(bad), "0", "-", "none, and 503 overloaded seen",
		bad == 0 && overloaded > 0)
	b.rep.info("flood: logins answered 200", fmt.Sprintf("%.1f/s", float64(accepted)/b.o.duration.Seconds()),
		fmt.Sprintf("%.1f/s ceiling", b.hashRate), ratio(float64(accepted)/b.o.duration.Seconds(), b.hashRate))
	b.rep.info("flood: /me p99, /healthz p99", r.me.quantile(0.99).Round(10*time.Microsecond).String()+", "+
		r.live.quantile(0.99).Round(10*time.Microsecond).String(), "-", "-")
	b.rep.note("flood: logins offered at %.0f/s for %s: %s; p50 %s, p99 %s", rate, b.o.duration, r.logins.summary(),
		r.logins.quantile(0.5).Round(time.Millisecond), r.logins.quantile(0.99).Round(time.Millisecond))
	b.rep.note("flood: refreshes at %d/s: %s; p50 %s, max %s", floodRefreshRate, r.refreshes.summary(),
		r.refreshes.quantile(0.5).Round(10*time.Microsecond), r.refreshes.quantile(1).Round(10*time.Microsecond))
	b.rep.note("flood: GET /v1/users/me: %s; GET /healthz: %s", r.me.summary(), r.live.summary())
	b.rep.note("flood: CPU per accepted login in authd %s (the machine's cores are shared with the load generator and PostgreSQL)",
		perOp(use.server, float64(accepted)/b.o.duration.Seconds()))
	return nil
}
