package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"authd/adapters/httpapi/openapitest"
	"authd/adapters/postgres"
	"authd/adapters/postgres/pgtest"
)

// syncBuffer is a bytes.Buffer that a running process and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// randomHex returns n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newEmail returns an address no other test uses.
func newEmail(t testing.TB, who string) string {
	return who + "-" + randomHex(t, 6) + "@example.com"
}

// newPassword returns a password the policy accepts and nobody else uses.
func newPassword(t testing.TB) string {
	return "Pw-" + randomHex(t, 12) + "-x"
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// baseEnv is the test process's environment without any authd setting, so
// that a developer's shell cannot change what a test runs, and with email
// off, which the tests about mail switch on with an SMTP server.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "DATABASE_URL" || name == "HTTP_ADDR" || strings.HasPrefix(name, "AUTHD_") {
			continue
		}
		env = append(env, kv)
	}
	// No drain on SIGTERM: tests stop many servers (the drain has its own test).
	return append(env, "AUTHD_EMAIL=off", "AUTHD_SHUTDOWN_DRAIN=0", "AUTHD_ENCRYPTION_KEY_FILE="+testEncryptionKey())
}

// cheapEnv keeps password hashing and rate limits out of the way of tests
// that are not about them.
var cheapEnv = []string{
	"AUTHD_ARGON2_MEMORY_KIB=1024",
	"AUTHD_ARGON2_TIME=1",
	"AUTHD_RATE_LIMITS=off",
}

// runAuthd runs the authd binary to completion with env added to baseEnv.
func runAuthd(t testing.TB, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, authdBinary(t), args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatalf("run authd %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// genKeyFile writes a fresh signing key with `authd gen-key`.
func genKeyFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt.pem")
	if _, stderr, code := runAuthd(t, nil, "", "gen-key", "--out", path); code != 0 {
		t.Fatalf("authd gen-key exited %d: %s", code, stderr)
	}
	return path
}

// migratedDatabase returns the DSN of a fresh database with every migration applied.
func migratedDatabase(t testing.TB) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	migrate(t, dsn)
	return dsn
}

// migrate applies every migration to the database at dsn.
func migrate(t testing.TB, dsn string) {
	t.Helper()
	db, err := postgres.Open(dsn, postgres.PoolOptions{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := postgres.Up(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// serverOptions describe an authd process to start.
type serverOptions struct {
	DSN     string   // DATABASE_URL
	KeyFile string   // AUTHD_JWT_PRIVATE_KEY_FILE; a new key when empty
	Env     []string // added after the defaults (cheapEnv unless Costly), so they win
	Costly  bool     // keep the default password hashing and rate limits
	// AnyPort starts authd with HTTP_ADDR=127.0.0.1:0 and no AUTHD_ISSUER,
	// and reads the address it bound from its start-up log.
	AnyPort bool
}

// server is a running authd process.
type server struct {
	URL        string
	MetricsURL string // the AUTHD_METRICS_ADDR listener
	KeyFile    string
	API        *apiClient

	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan struct{}
	exitCode int

	stopOnce sync.Once
	killed   atomic.Bool // by kill: no clean exit to expect
	mu       sync.Mutex
	secrets  []string
}

// startServer starts authd on a free port, waits until /healthz answers and
// stops it with SIGTERM when the test ends, failing the test unless the
// process exits 0 and its logs hold none of the secrets given to forbid.
func startServer(t *testing.T, o serverOptions) *server {
	t.Helper()
	if o.KeyFile == "" {
		o.KeyFile = genKeyFile(t)
	}
	// Another process may take the port between freeAddr and the bind.
	for attempt := 1; ; attempt++ {
		s, err := tryStartServer(t, o)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

func tryStartServer(t *testing.T, o serverOptions) (*server, error) {
	t.Helper()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	s := &server{
		URL:        "http://" + addr,
		MetricsURL: "http://" + metricsAddr,
		KeyFile:    o.KeyFile,
		logs:       &syncBuffer{},
		done:       make(chan struct{}),
	}
	env := append(baseEnv(),
		"DATABASE_URL="+o.DSN,
		"AUTHD_METRICS_ADDR="+metricsAddr,
		"AUTHD_JWT_PRIVATE_KEY_FILE="+o.KeyFile,
		// Debug logs give secrets the most chances to leak into them.
		"AUTHD_LOG_LEVEL=debug",
	)
	if o.AnyPort {
		env = append(env, "HTTP_ADDR=127.0.0.1:0")
	} else {
		env = append(env, "HTTP_ADDR="+addr, "AUTHD_ISSUER="+s.URL)
	}
	if !o.Costly {
		env = append(env, cheapEnv...)
	}
	s.cmd = exec.Command(authdBinary(t), "serve")
	s.cmd.Env = append(env, o.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := s.cmd.Wait()
		s.exitCode = s.cmd.ProcessState.ExitCode()
		if err != nil && s.exitCode == 0 {
			s.exitCode = -1
		}
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	if o.AnyPort {
		bound, err := s.waitListening(deadline)
		if err != nil {
			_ = s.cmd.Process.Kill()
			<-s.done
			return nil, err
		}
		s.URL = "http://" + bound
	}
	s.API = newAPIClient(t, s.URL)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("authd exited with %d before it was healthy:\n%s", s.exitCode, s.logs.String())
		default:
		}
		if resp, err := s.API.hc.Get(s.URL + "/healthz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-s.done
			return nil, fmt.Errorf("authd did not become healthy in 30s:\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		if code := s.stop(t); code != 0 && !s.killed.Load() {
			t.Errorf("authd exited with %d after SIGTERM; logs:\n%s", code, s.logs.String())
		}
		s.checkLogs(t)
	})
	return s, nil
}

// waitListening reads the address authd bound from its start-up log line.
func (s *server) waitListening(deadline time.Time) (string, error) {
	for time.Now().Before(deadline) {
		for line := range strings.Lines(s.logs.String()) {
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "authd listening" && l.Addr != "" {
				return l.Addr, nil
			}
		}
		select {
		case <-s.done:
			return "", fmt.Errorf("authd exited with %d before it listened:\n%s", s.exitCode, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("authd logged no listening address in time:\n%s", s.logs.String())
}

// terminate sends SIGTERM, once, unless the process has already exited.
func (s *server) terminate(t testing.TB) {
	t.Helper()
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
	})
}

// kill sends SIGKILL, as a crash would end the process, unless it has
// already been stopped, and waits until it is gone.
func (s *server) kill(t testing.TB) {
	t.Helper()
	s.stopOnce.Do(func() {
		s.killed.Store(true)
		if err := s.cmd.Process.Kill(); err != nil {
			t.Errorf("SIGKILL: %v", err)
		}
	})
	<-s.done
}

// stop terminates the process, waits for it and returns its exit code.
func (s *server) stop(t testing.TB) int {
	t.Helper()
	s.terminate(t)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Errorf("authd did not exit within 30s of SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return s.exitCode
}

// Logs returns everything the process wrote so far.
func (s *server) Logs() string { return s.logs.String() }

// waitForLog waits up to 10 s for the process's log to contain want and
// fails the test if it does not: the log is read from a pipe, so it may
// trail the answers the process has already given.
func (s *server) waitForLog(t testing.TB, want string) {
	t.Helper()
	if !eventually(10*time.Second, func() bool { return strings.Contains(s.Logs(), want) }) {
		t.Errorf("the log lacks %s:\n%s", want, s.Logs())
	}
}

// forbid records secrets that must never appear in the process's logs.
func (s *server) forbid(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secrets...)
}

// checkLogs fails t if the logs hold a forbidden secret.
func (s *server) checkLogs(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	secrets := append([]string(nil), s.secrets...)
	s.mu.Unlock()
	logs := s.Logs()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(logs, sec) {
			t.Errorf("the server logs contain a secret (%.6s…)", sec)
		}
	}
}

// validatingTransport checks every response against the OpenAPI document.
type validatingTransport struct {
	t    testing.TB
	v    *openapitest.Validator
	base http.RoundTripper
}

func (vt validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := vt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	vt.v.Check(vt.t, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// newHTTPClient returns a client whose responses are all checked against
// the OpenAPI document on t.
func newHTTPClient(t testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: validatingTransport{t: t, v: openapitest.New(t), base: tr},
	}
}

// apiClient talks to one authd server.
type apiClient struct {
	t    testing.TB
	base string
	hc   *http.Client
	// header is added to every request.
	header http.Header
}

func newAPIClient(t testing.TB, base string) *apiClient {
	return &apiClient{t: t, base: base, hc: newHTTPClient(t)}
}

// newAPIClientFrom is newAPIClient for a client whose connections leave
// from the local address ip (any of 127.0.0.0/8 on Linux), with header
// added to every request.
func newAPIClientFrom(t testing.TB, base, ip string, header http.Header) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr.DialContext = d.DialContext
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: validatingTransport{t: t, v: openapitest.New(t), base: tr}}
	return &apiClient{t: t, base: base, hc: hc, header: header}
}

// apiResponse is a response read in full.
type apiResponse struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

// do sends a request; body is JSON-encoded unless it is url.Values (a form)
// or nil. It fails the test on transport errors.
func (c *apiClient) do(method, path, bearer string, body any) *apiResponse {
	c.t.Helper()
	r, err := c.try(context.Background(), method, path, bearer, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// try is do that returns transport errors.
func (c *apiClient) try(ctx context.Context, method, path, bearer string, body any) (*apiResponse, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &apiResponse{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// want fails t unless the response has the status (and, for problems, the code).
func (r *apiResponse) want(t testing.TB, status int, code ...string) *apiResponse {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s %s: status %d, want %d; body: %s", r.Method, r.Path, r.Status, status, r.Body)
	}
	if len(code) > 0 {
		if got := r.code(t); got != code[0] {
			t.Fatalf("%s %s: code %q, want %q; body: %s", r.Method, r.Path, got, code[0], r.Body)
		}
	}
	return r
}

// decode unmarshals the body into v.
func (r *apiResponse) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s %s: decode %s: %v", r.Method, r.Path, r.Body, err)
	}
}

// code returns a problem's code, or an OAuth error's error.
func (r *apiResponse) code(t testing.TB) string {
	t.Helper()
	var p struct {
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &p)
	if p.Code != "" {
		return p.Code
	}
	return p.Error
}

// tokenResponse is an RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// userJSON is the API's user object.
type userJSON struct {
	ID            int64     `json:"id"`
	Email         string    `json:"email"`
	Role          string    `json:"role"`
	IsActive      bool      `json:"is_active"`
	CreatedAt     time.Time `json:"created_at"`
	EmailVerified bool      `json:"email_verified"`
}

func (c *apiClient) register(email, password string) userJSON {
	c.t.Helper()
	var u userJSON
	c.do("POST", "/v1/auth/register", "", map[string]string{"email": email, "password": password}).
		want(c.t, http.StatusCreated).decode(c.t, &u)
	return u
}

func (c *apiClient) login(email, password string) tokenResponse {
	c.t.Helper()
	r := c.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}).want(c.t, http.StatusOK)
	return r.tokens(c.t)
}

// tokens decodes a token response and checks its RFC 6749 shape.
func (r *apiResponse) tokens(t testing.TB) tokenResponse {
	t.Helper()
	var tr tokenResponse
	r.decode(t, &tr)
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
		t.Fatalf("%s %s: bad token response %s", r.Method, r.Path, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s %s: Cache-Control %q, want no-store", r.Method, r.Path, cc)
	}
	return tr
}

func (c *apiClient) refresh(rt string) *apiResponse {
	c.t.Helper()
	return c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": rt})
}
