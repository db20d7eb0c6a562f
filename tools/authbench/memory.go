package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	mib = 1 << 20
	// argon2idMiB is the memory one default argon2id hash allocates.
	argon2idMiB = 19
	// idleLimit is DESIGN.md's bar for the idle server.
	idleLimit = 100 * mib
	// burstCap is the absolute cap applied to the peak under a burst.
	burstCap = 200 * mib
	// settle is how long the server is left alone before idle readings.
	settle = 2 * time.Second
)

// memoryReport is the server's resident memory around a login burst.
type memoryReport struct {
	idle, peak, after int64
	bound             int64
	burst             loadResult
	// overloaded counts the burst's logins answered 503 overloaded: the
	// hash queue is bounded (AUTHD_HASH_QUEUE), so a burst larger than it
	// is partly refused at once, which is what keeps the peak bounded.
	overloaded int64
}

// burstBound is the peak a burst may reach: the idle RSS, plus one
// argon2id working set per hashing slot (authd allows GOMAXPROCS at once)
// counted twice for the garbage collector's headroom (GOGC=100), plus
// 64 MiB for connections, buffers and goroutines; never above burstCap.
func burstBound(idle int64) int64 {
	b := idle + 2*int64(runtime.GOMAXPROCS(0))*argon2idMiB*mib + 64*mib
	return min(b, burstCap)
}

// measureMemory reads the idle RSS, then starts burst logins at once from
// their own connections and reports the peak (VmHWM) and the RSS after
// the burst has drained and the server has settled.
func measureMemory(ctx context.Context, s *server, burst int) (memoryReport, error) {
	var m memoryReport
	time.Sleep(settle)
	idle, _, err := s.memory()
	if err != nil {
		return m, err
	}
	m.idle, m.bound = idle, burstBound(idle)

	cl := newClient(s.addr, burst)
	start := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(burst)
	exchanges := make([]*exchange, burst)
	for i := range exchanges {
		exchanges[i] = newExchange()
		defer exchanges[i].release()
	}
	// Every login waits until all workers are ready, so they arrive at once.
	go func() { ready.Wait(); close(start) }()
	var overloaded atomic.Int64
	m.burst = runLoad(ctx, burst, time.Minute, 1, func(w, _ int) error {
		ready.Done()
		<-start
		e := exchanges[w]
		e.prepare(fasthttp.MethodPost, cl.base+"/v1/auth/login", "", loginBody(userEmail(kindBurst, w+1)))
		switch status, code := cl.send(e); {
		case status == fasthttp.StatusOK:
			return nil
		case status == fasthttp.StatusServiceUnavailable && code == "overloaded":
			overloaded.Add(1)
			return nil
		default:
			return fmt.Errorf("login: status %d %s: %.200s", status, code, e.resp.Body())
		}
	})
	m.overloaded = overloaded.Load()
	time.Sleep(settle)
	if m.after, m.peak, err = s.memory(); err != nil {
		return m, err
	}
	return m, nil
}
