package main

import (
	"context"
	"runtime"
	"time"

	"authd/adapters/password"
)

// hashCeiling times one argon2id hash with the default parameters, after
// a warm-up, averaged over runs hashes, and returns that time and the
// ceiling GOMAXPROCS ÷ time, in hashes per second.
func hashCeiling(ctx context.Context, runs int) (time.Duration, float64, error) {
	h, err := password.NewHasher(password.DefaultParams(), 1, 0)
	if err != nil {
		return 0, 0, err
	}
	if _, err := h.Hash(ctx, benchPassword); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for range runs {
		if _, err := h.Hash(ctx, benchPassword); err != nil {
			return 0, 0, err
		}
	}
	per := time.Since(start) / time.Duration(runs)
	return per, float64(runtime.GOMAXPROCS(0)) / per.Seconds(), nil
}

// parallelHashRate hashes from GOMAXPROCS goroutines for d and returns
// the hashes per second: the ceiling the machine actually offers now.
func parallelHashRate(ctx context.Context, d time.Duration) (float64, error) {
	procs := runtime.GOMAXPROCS(0)
	h, err := password.NewHasher(password.DefaultParams(), procs, 0)
	if err != nil {
		return 0, err
	}
	r := runLoad(ctx, procs, d, 1000, func(int, int) error {
		_, err := h.Hash(ctx, benchPassword)
		return err
	})
	if r.firstErr != nil {
		return 0, r.firstErr
	}
	return r.rate(), nil
}

// logins logs the seeded login users in from o.concurrency workers; worker
// w takes users w+1, w+1+c, … so no account is logged in twice at once.
func logins(ctx context.Context, o options, cl *client) loadResult {
	exchanges := make([]*exchange, o.concurrency)
	for i := range exchanges {
		exchanges[i] = newExchange()
		defer exchanges[i].release()
	}
	bodies := make([][]byte, o.loginUsers)
	for i := range bodies {
		bodies[i] = loginBody(userEmail(kindLogin, i+1))
	}
	return runLoad(ctx, o.concurrency, o.duration, o.maxOps, func(w, i int) error {
		n := (w + i*o.concurrency) % o.loginUsers
		_, err := cl.postJSON(exchanges[w], "/v1/auth/login", bodies[n])
		return err
	})
}
