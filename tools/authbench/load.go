package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// loadResult counts what the workers of one phase did.
type loadResult struct {
	ok       int64
	failed   int64
	elapsed  time.Duration
	firstErr error
}

// rate returns the successful operations per second.
func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// runLoad calls op from c workers until d has passed, ctx ends, or a
// worker has made maxOps calls. op gets its worker number and the number
// of its call; a worker stops early when op returns errWorkerDone.
func runLoad(ctx context.Context, c int, d time.Duration, maxOps int, op func(worker, i int) error) loadResult {
	var (
		ok, failed atomic.Int64
		errOnce    sync.Once
		firstErr   error
		wg         sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range c {
		wg.Go(func() {
			for i := 0; i < maxOps && ctx.Err() == nil && time.Now().Before(deadline); i++ {
				err := op(w, i)
				if errors.Is(err, errWorkerDone) {
					return
				}
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return loadResult{ok: ok.Load(), failed: failed.Load(), elapsed: time.Since(start), firstErr: firstErr}
}

// client is a keep-alive HTTP client for one authd server. fasthttp keeps
// the client's share of the two cores small.
type client struct {
	hc   *fasthttp.HostClient
	base string
}

// newClient returns a client with up to conns connections to addr.
func newClient(addr string, conns int) *client {
	return &client{
		hc: &fasthttp.HostClient{
			Addr:                addr,
			MaxConns:            conns,
			ReadTimeout:         60 * time.Second,
			WriteTimeout:        10 * time.Second,
			MaxIdleConnDuration: time.Minute,
		},
		base: "http://" + addr,
	}
}

// exchange is one reusable request/response pair of a worker.
type exchange struct {
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func newExchange() *exchange {
	return &exchange{req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse()}
}

// prepare sets e's request to method on uri, with bearer as its Bearer
// token unless it is empty and body as JSON unless it is nil.
func (e *exchange) prepare(method, uri, bearer string, body []byte) {
	e.req.Reset()
	e.req.SetRequestURI(uri)
	e.req.Header.SetMethod(method)
	if bearer != "" {
		e.req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+bearer)
	}
	if body != nil {
		e.req.Header.SetContentType("application/json")
		e.req.SetBodyRaw(body)
	}
}

func (e *exchange) release() {
	fasthttp.ReleaseRequest(e.req)
	fasthttp.ReleaseResponse(e.resp)
}

// postJSON posts body to path and returns the response body when the
// status is 200. The returned slice is valid until the next call.
func (c *client) postJSON(e *exchange, path string, body []byte) ([]byte, error) {
	return c.request(e, fasthttp.MethodPost, path, "", body, fasthttp.StatusOK)
}

// get sends GET path with a bearer token and returns the body on 200.
func (c *client) get(e *exchange, path, bearer string) ([]byte, error) {
	return c.request(e, fasthttp.MethodGet, path, bearer, nil, fasthttp.StatusOK)
}

// request sends method path through e (see exchange.prepare) and returns
// the response body when the status is want. The returned slice is valid
// until e's next use.
func (c *client) request(e *exchange, method, path, bearer string, body []byte, want int) ([]byte, error) {
	e.prepare(method, c.base+path, bearer, body)
	if err := c.hc.Do(e.req, e.resp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if code := e.resp.StatusCode(); code != want {
		return nil, fmt.Errorf("%s: status %d, want %d: %.200s", path, code, want, e.resp.Body())
	}
	return e.resp.Body(), nil
}

// tokenResponse is the part of a token response the benchmark reads.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// login logs the user in and returns the token response.
func (c *client) login(e *exchange, email string) (tokenResponse, error) {
	body, err := c.postJSON(e, "/v1/auth/login", loginBody(email))
	if err != nil {
		return tokenResponse{}, err
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil {
		return t, fmt.Errorf("login response: %w", err)
	}
	return t, nil
}

// loginBody is the JSON of a login request for email.
func loginBody(email string) []byte {
	b, _ := json.Marshal(map[string]string{"email": email, "password": benchPassword})
	return b
}
