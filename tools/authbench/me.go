package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// me calls GET /v1/users/me with token from o.concurrency workers.
func me(ctx context.Context, o options, cl *client, token string) loadResult {
	exchanges := make([]*exchange, o.concurrency)
	for i := range exchanges {
		exchanges[i] = newExchange()
		defer exchanges[i].release()
	}
	return runLoad(ctx, o.concurrency, o.duration, o.maxOps, func(w, _ int) error {
		_, err := cl.get(exchanges[w], "/v1/users/me", token)
		return err
	})
}

var (
	wrkRatePattern   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xxPattern = regexp.MustCompile(`Non-2xx or 3xx responses: ([0-9]+)`)
	wrkErrPattern    = regexp.MustCompile(`Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// wrkResult is what wrk reported.
type wrkResult struct {
	rate   float64
	errors int64
}

// meWrk runs wrk against GET /v1/users/me with o.concurrency connections
// on two threads. ok is false when wrk is not installed.
func meWrk(ctx context.Context, o options, addr, token string) (res wrkResult, ok bool, err error) {
	bin, lookErr := exec.LookPath("wrk")
	if lookErr != nil {
		return res, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration+30*time.Second)
	defer cancel()
	secs := strconv.Itoa(int((o.duration + time.Second - 1) / time.Second))
	out, err := exec.CommandContext(ctx, bin, "-t", strconv.Itoa(min(2, o.concurrency)), "-c", strconv.Itoa(o.concurrency),
		"-d", secs+"s", "-H", "Authorization: Bearer "+token, "http://"+addr+"/v1/users/me").CombinedOutput()
	if err != nil {
		return res, true, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	m := wrkRatePattern.FindSubmatch(out)
	if m == nil {
		return res, true, fmt.Errorf("wrk: no Requests/sec in its output:\n%s", out)
	}
	res.rate, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := wrkNon2xxPattern.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		res.errors += n
	}
	if m := wrkErrPattern.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.ParseInt(string(g), 10, 64)
			res.errors += n
		}
	}
	return res, true, nil
}
