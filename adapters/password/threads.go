package password

import (
	"runtime"
	"time"
)

// Hashes run on threads of their own at a lower scheduling priority
// (niceness hashNice on Linux). A login flood keeps every hashing slot busy
// for as long as it lasts; at the same priority the kernel shares the
// cores evenly between the hashes and everything else, so a refresh, a
// /v1/users/me or a health check waits behind them at each of its steps
// and PostgreSQL's backends do too. At a lower priority the hashes take
// the cores only when nothing else wants them: hashing throughput is the
// same on an otherwise idle machine, and the other requests keep their
// latency under a flood.
const (
	// hashNice is the niceness of the hashing threads: at 10 the kernel
	// gives a thread about a tenth of the weight of one at 0.
	hashNice = 10
	// hashThreadIdle is how long a hashing thread waits for work before it
	// ends, taking its lowered priority with it.
	hashThreadIdle = 30 * time.Second
)

// hashThreads runs hashes on goroutines locked to OS threads of lowered
// priority. Hasher's slots bound how many run at once, so there are never
// more threads than slots plus those about to end.
type hashThreads struct {
	jobs chan func()
}

func newHashThreads() *hashThreads { return &hashThreads{jobs: make(chan func())} }

// run calls fn on a hashing thread and returns when fn has returned.
func (t *hashThreads) run(fn func()) {
	done := make(chan struct{})
	job := func() {
		defer close(done)
		fn()
	}
	select {
	case t.jobs <- job: // an idle thread took it
	default:
		go t.thread(job)
	}
	<-done
}

// thread runs job and then the jobs it is handed until it has been idle
// for hashThreadIdle. Its goroutine never unlocks the OS thread, so the
// thread, with its priority, ends with it instead of returning to Go's
// pool for other goroutines.
func (t *hashThreads) thread(job func()) {
	runtime.LockOSThread()
	lowerThreadPriority(hashNice)
	idle := time.NewTimer(hashThreadIdle)
	defer idle.Stop()
	for {
		job()
		idle.Reset(hashThreadIdle)
		select {
		case job = <-t.jobs:
		case <-idle.C:
			return
		}
	}
}
