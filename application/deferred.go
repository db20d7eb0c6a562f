package application

import (
	"context"
	"log/slog"
	"time"
)

// Deferred runs work that a request starts but does not wait for, so that
// the answer cannot depend on it: a password reset request is answered
// before anyone looks up whether the address has an account. At most a
// fixed number of jobs run at once; Go waits for a free slot (as long as
// the request may), so a flood queues on the slots instead of piling up
// goroutines, and the wait depends on the load, not on the job.
type Deferred struct {
	slots   chan struct{}
	timeout time.Duration
	log     *slog.Logger
}

// Deferred work's defaults: slots enough for a burst of requests on a
// small pool of database connections, and a bound on each job.
const (
	DefaultDeferredSlots   = 8
	DefaultDeferredTimeout = 30 * time.Second
)

// NewDeferred returns a Deferred running at most slots jobs at once, each
// bounded by timeout; a nil log discards the reports of failed jobs.
func NewDeferred(slots int, timeout time.Duration, log *slog.Logger) *Deferred {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deferred{slots: make(chan struct{}, max(slots, 1)), timeout: timeout, log: log}
}

// Go runs job in the background once a slot is free, with a context that
// keeps ctx's values but not its deadline (the request is answered by
// then) and ends after the Deferred's timeout. It returns ctx's error,
// without running job, when ctx ends before a slot is free.
func (d *Deferred) Go(ctx context.Context, job func(ctx context.Context)) error {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	go func() {
		defer func() { <-d.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
		defer cancel()
		defer func() {
			// A bug in one job must not take the process down.
			if r := recover(); r != nil {
				d.log.ErrorContext(ctx, "deferred work panicked", "panic", r)
			}
		}()
		job(ctx)
	}()
	return nil
}

// Wait returns once every job started before it has finished, or with
// ctx's error when ctx ends first. Jobs that Go starts while it waits may
// run before or after it returns; the server calls it once it has stopped
// taking requests.
func (d *Deferred) Wait(ctx context.Context) error {
	held := 0
	defer func() {
		for range held {
			<-d.slots
		}
	}()
	for held < cap(d.slots) {
		select {
		case d.slots <- struct{}{}:
			held++
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
