package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"authd/adapters/httpapi"
	"authd/adapters/httpapi/openapitest"
	"authd/adapters/jwt"
	"authd/adapters/memory"
	"authd/adapters/password"
	"authd/application"
	"authd/domain"
	"authd/ports"
)

// Fixed values of every test server.
const (
	testIssuer   = "https://auth.example.test"
	testAudience = "authd-test"
	// strongPassword passes the password policy, common-password list included.
	strongPassword = "Vq7#mZ2!pL9x-kT4"
	otherPassword  = "Hj3$wQ8@nR5v*bY6"
)

// epoch is the fixed start time of every test clock.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// cheapParams keep argon2id fast in tests; the algorithm and encoding are
// the real ones.
var cheapParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// commonPasswords is built once per test binary: the list is large.
var commonPasswords = sync.OnceValue(password.NewCommonPasswords)

// generousLimits keep the limiter in the request path without getting in
// the way of ordinary tests (all requests through app.Test share one IP).
var generousLimits = limitsWith(func(p *domain.LimitPolicy) {
	p.PerAccountIP.Max, p.PerAccount.Max, p.PerIP.Max, p.Registrations.Max = 1000, 1000, 1000, 1000
})

// limitsWith returns the default limit policy as change leaves it.
func limitsWith(change func(p *domain.LimitPolicy)) *domain.LimitPolicy {
	p := domain.DefaultLimitPolicy
	change(&p)
	return &p
}

// options changes how newFixture builds the server.
type options struct {
	// limits are enforced by a memory limiter; nil switches them off.
	limits         *domain.LimitPolicy
	wrapUsers      func(ports.UserRepository) ports.UserRepository
	wrapFamilies   func(ports.FamilyRepository) ports.FamilyRepository
	trustedProxies httpapi.TrustedProxies
	corsOrigins    httpapi.Origins
	// hasher replaces the cheap default hasher.
	hasher ports.PasswordHasher
	// requestTimeout is the server's request deadline (zero: the default).
	requestTimeout time.Duration
	// emailOff serves no email routes (AUTHD_EMAIL=off).
	emailOff bool
	// requireVerified requires verified addresses to log in.
	requireVerified bool
	// quiet logs warnings and errors only, as benchmarks do, instead of
	// every request.
	quiet bool
}

// fixture is the whole API on in-memory adapters: memory repositories, a
// cheap but real argon2id hasher, a real Ed25519 issuer and a fixed clock.
type fixture struct {
	app     *fiber.App
	uc      *application.UseCases
	v       *openapitest.Validator
	store   *memory.Store
	clock   *memory.Clock
	issuer  *jwt.Issuer
	hasher  *countingHasher
	logs    *syncBuffer
	metrics *httpapi.Metrics
	// readyErr is what the /readyz check answers; nil means ready.
	readyErr atomic.Pointer[error]
	// mailbox holds mails claimed by mails and not taken yet.
	mailbox []ports.ClaimedMail
}

// newFixture builds a server with generous rate limits.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, options{limits: generousLimits})
}

// newFixtureWith builds a server as o says.
func newFixtureWith(t testing.TB, o options) *fixture {
	t.Helper()
	clock := memory.NewClock(epoch)
	store := memory.NewStore()
	h := o.hasher
	if h == nil {
		var err error
		if h, err = password.NewHasher(cheapParams, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	hasher := &countingHasher{inner: h}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := jwt.New(jwt.Config{PrivateKey: priv, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	level := slog.LevelDebug
	if o.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))

	var users ports.UserRepository = store.Users()
	if o.wrapUsers != nil {
		users = o.wrapUsers(users)
	}
	var families ports.FamilyRepository = store.Families()
	if o.wrapFamilies != nil {
		families = o.wrapFamilies(families)
	}
	limiter := application.NoLimits
	if o.limits != nil {
		l, err := memory.NewLimiter(*o.limits)
		if err != nil {
			t.Fatal(err)
		}
		limiter = l
	}
	var renderer ports.MailRenderer = sharedRenderer()
	if o.emailOff {
		renderer = nil
	}
	uc := application.New(application.Deps{
		Users:    users,
		Families: families,
		Audit:    store.Audit(),
		Hasher:   hasher,
		Common:   commonPasswords(),
		Tokens:   issuer,
		Clock:    clock,
		Random:   memory.NewRandom(uint64(time.Now().UnixNano())),
		Log:      log,
		Policy:   domain.DefaultSessionPolicy,
		Limiter:  limiter,
		// Multi-factor authentication, with real crypto (mfa_test.go).
		MFA:        store.MFA(),
		Challenges: store.Challenges(),
		Secrets:    testKeyring(t),
		Codes:      testKeyring(t),
		TOTP:       testTOTP,
		WebAuthn:   testRelyingParty(t),

		Mail:                 renderer,
		Links:                testLinks(t),
		OneTimeTokens:        store.OneTimeTokens(),
		RequireVerifiedEmail: o.requireVerified,
	})
	f := &fixture{uc: uc, v: openapitest.New(t), store: store, clock: clock, issuer: issuer, hasher: hasher, logs: logs, metrics: httpapi.NewMetrics(nil)}
	cfg := httpapi.Config{Issuer: testIssuer, TrustedProxies: o.trustedProxies, CORSOrigins: o.corsOrigins, RequestTimeout: o.requestTimeout,
		Email: !o.emailOff}
	f.app = httpapi.New(cfg, httpapi.Deps{
		UseCases: uc,
		Verifier: issuer,
		Clock:    clock,
		Ready: func(context.Context) error {
			if p := f.readyErr.Load(); p != nil {
				return *p
			}
			return nil
		},
		JWKS:    issuer.JWKS(),
		Log:     log,
		Metrics: f.metrics,
	})
	return f
}

// scrape answers GET /metrics from the metrics handler, which is served on
// a listener of its own, not by the API.
func (f *fixture) scrape(t testing.TB) response {
	t.Helper()
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	r.wantStatus(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want text/plain", ct)
	}
	return r
}

// setReady makes /readyz's database check answer err.
func (f *fixture) setReady(err error) {
	if err == nil {
		f.readyErr.Store(nil)
		return
	}
	f.readyErr.Store(&err)
}

// response is an answer of the server, already checked against the
// OpenAPI document.
type response struct {
	status int
	header http.Header
	body   []byte
}

// problemBody is an RFC 9457 problem as the API sends it.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// oauthErrorBody is an RFC 6749 §5.2 error.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// userBody is the API's user object.
type userBody struct {
	ID            int64     `json:"id"`
	Email         string    `json:"email"`
	Role          string    `json:"role"`
	IsActive      bool      `json:"is_active"`
	CreatedAt     time.Time `json:"created_at"`
	EmailVerified bool      `json:"email_verified"`
}

// tokenBody is an RFC 6749 §5.1 token response.
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// request describes a request to send.
type request struct {
	method string
	path   string
	body   string
	// contentType defaults to application/json when body is not empty.
	contentType string
	bearer      string
	header      map[string]string
}

// build turns r into an *http.Request.
func (r request) build() *http.Request {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	switch {
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	return req
}

// send answers r in memory through app.Test and checks the answer against
// the OpenAPI document.
func (f *fixture) send(t testing.TB, r request) response {
	t.Helper()
	return f.sendHTTP(t, r.build())
}

// sendHTTP is send for a prepared request.
func (f *fixture) sendHTTP(t testing.TB, req *http.Request) response {
	t.Helper()
	// The validator reads the request after app.Test consumed its body;
	// it only needs the method, URL and headers.
	check := req.Clone(context.Background())
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	if req.Method == http.MethodHead {
		return f.checkHead(t, check, resp)
	}
	return f.check(t, check, resp)
}

// documentGaps are answers the server gives on purpose (DESIGN.md asks for
// them) that the OpenAPI document does not describe yet, keyed by method,
// route and status. They are logged instead of failing the test; delete an
// entry once the document describes the answer.
var documentGaps = map[string]string{}

// check reads resp and checks it against the OpenAPI document.
func (f *fixture) check(t testing.TB, req *http.Request, resp *http.Response) response {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	if err := f.v.Validate(req, r.status, r.header, body); err != nil {
		if gap, ok := documentGaps[req.Method+" "+req.URL.Path+" "+strconv.Itoa(r.status)]; ok {
			t.Logf("known OpenAPI document gap (%s): %v", gap, err)
			return r
		}
		t.Errorf("openapitest: response does not conform to the OpenAPI document: %v\nbody: %s", err, body)
	}
	return r
}

// checkHead checks a HEAD answer. The document describes GET operations
// only (the validator refuses HEAD on them), so the HEAD answer must be the
// GET answer, which is checked against the document, without its body.
// Unknown paths and methods are checked by the validator directly.
func (f *fixture) checkHead(t testing.TB, req *http.Request, resp *http.Response) response {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	head := response{status: resp.StatusCode, header: resp.Header, body: body}
	if len(body) != 0 {
		t.Errorf("HEAD %s answered a body of %d bytes", req.URL.Path, len(body))
	}
	if head.status == http.StatusNotFound || head.status == http.StatusMethodNotAllowed {
		f.v.Check(t, req, head.status, head.header, nil)
		return head
	}
	get := req.Clone(context.Background())
	get.Method = http.MethodGet
	got := f.sendHTTP(t, get)
	if got.status != head.status {
		t.Errorf("HEAD %s = %d, GET = %d", req.URL.Path, head.status, got.status)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate"} {
		if head.header.Get(h) != got.header.Get(h) {
			t.Errorf("HEAD %s: %s = %q, GET has %q", req.URL.Path, h, head.header.Get(h), got.header.Get(h))
		}
	}
	return head
}

// do is send for a JSON request with an optional bearer token.
func (f *fixture) do(t testing.TB, method, path, body, bearer string) response {
	t.Helper()
	return f.send(t, request{method: method, path: path, body: body, bearer: bearer})
}

// form posts an application/x-www-form-urlencoded body.
func (f *fixture) form(t testing.TB, path string, v url.Values) response {
	t.Helper()
	return f.send(t, request{method: http.MethodPost, path: path, body: v.Encode(), contentType: fiber.MIMEApplicationForm})
}

// listen serves the API on a loopback port, for what app.Test cannot do
// (bodies over the limit), and returns its base URL.
func (f *fixture) listen(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.app.Listener(ln) }()
	t.Cleanup(func() { _ = f.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// sendDeclared sends a request to a listening server whose Content-Length
// header declares size bytes, and checks the answer against the document.
func (f *fixture) sendDeclared(t testing.TB, base, path, contentType string, size int) response {
	t.Helper()
	req, resp := postDeclared(t, base, path, contentType, size)
	defer resp.Body.Close()
	return f.check(t, req, resp)
}

// postDeclared sends a POST to a listening server whose Content-Length
// header declares size bytes but sends only its headers, and returns the
// answer with a request describing it. The server must refuse an oversized
// body from the header alone; sending the body too would make the test
// flaky, as the server closes the connection with unread data (a TCP reset
// that may destroy the answer).
func postDeclared(t testing.TB, base, path, contentType string, size int) (*http.Request, *http.Response) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: " + contentType +
		"\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("POST %s with %d bytes declared: %v", path, size, err)
	}
	return req, resp
}

// problem decodes a problem body, failing t unless it has status and code.
func (r response) problem(t testing.TB, status int, code string) problemBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Code != code || p.Status != status {
		t.Fatalf("problem code/status = %q/%d, want %q/%d; body %s", p.Code, p.Status, code, status, r.body)
	}
	if p.Type != "urn:authd:problem:"+code || p.Title == "" || p.Detail == "" {
		t.Errorf("problem type/title/detail incomplete: %s", r.body)
	}
	return p
}

// oauthError decodes an RFC 6749 error, failing t unless it has status and error.
func (r response) oauthError(t testing.TB, status int, code string) oauthErrorBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var e oauthErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("OAuth error body %s: %v", r.body, err)
	}
	if e.Error != code {
		t.Fatalf("error = %q, want %q; body %s", e.Error, code, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	return e
}

// decode unmarshals a success body after checking the status.
func decode[T any](t testing.TB, r response, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return v
}

// wantStatus fails t unless r has status.
func (r response) wantStatus(t testing.TB, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

// credentials is a register or login body.
func credentials(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// refreshJSON is a refresh or logout body.
func refreshJSON(token string) string {
	b, _ := json.Marshal(map[string]string{"refresh_token": token})
	return string(b)
}

// register creates an account through the API.
func (f *fixture) register(t testing.TB, email, pw string) userBody {
	t.Helper()
	return decode[userBody](t, f.do(t, "POST", "/v1/auth/register", credentials(email, pw), ""), http.StatusCreated)
}

// login opens a session through the API.
func (f *fixture) login(t testing.TB, email, pw string) tokenBody {
	t.Helper()
	return decode[tokenBody](t, f.do(t, "POST", "/v1/auth/login", credentials(email, pw), ""), http.StatusOK)
}

// refresh rotates a refresh token through the API.
func (f *fixture) refresh(t testing.TB, token string) response {
	t.Helper()
	return f.do(t, "POST", "/v1/auth/refresh", refreshJSON(token), "")
}

// account is a registered user with an open session.
type account struct {
	user   userBody
	email  string
	tokens tokenBody
}

// newAccount registers email with strongPassword and logs in.
func (f *fixture) newAccount(t testing.TB, email string) account {
	t.Helper()
	u := f.register(t, email, strongPassword)
	return account{user: u, email: email, tokens: f.login(t, email, strongPassword)}
}

// newAdmin registers email, makes it an admin in the store and logs in.
func (f *fixture) newAdmin(t testing.TB, email string) account {
	t.Helper()
	u := f.register(t, email, strongPassword)
	f.setUser(t, u.ID, domain.UserChange{Role: ptr(domain.RoleAdmin)})
	return account{user: u, email: email, tokens: f.login(t, email, strongPassword)}
}

// setUser changes a user directly in the store, as an operator would.
func (f *fixture) setUser(t testing.TB, id int64, c domain.UserChange) {
	t.Helper()
	_, err := f.store.Users().Update(context.Background(), domain.UserID(id), func(u *domain.User) error {
		u.Apply(c, f.clock.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// countingHasher counts the work done by the real hasher and remembers the
// longest input it was given.
type countingHasher struct {
	inner   ports.PasswordHasher
	hashes  atomic.Int64
	verifys atomic.Int64
	longest atomic.Int64
}

var _ ports.PasswordHasher = (*countingHasher)(nil)

func (h *countingHasher) seen(plain string) {
	for {
		old := h.longest.Load()
		if int64(len(plain)) <= old || h.longest.CompareAndSwap(old, int64(len(plain))) {
			return
		}
	}
}

func (h *countingHasher) Hash(ctx context.Context, plain string) (string, error) {
	h.hashes.Add(1)
	h.seen(plain)
	return h.inner.Hash(ctx, plain)
}

func (h *countingHasher) Verify(ctx context.Context, plain, encoded string) (bool, bool, error) {
	h.verifys.Add(1)
	h.seen(plain)
	return h.inner.Verify(ctx, plain, encoded)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, plain string) error {
	h.verifys.Add(1)
	h.seen(plain)
	return h.inner.VerifyDummy(ctx, plain)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
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

// logLines decodes the JSON log lines written so far.
func (f *fixture) logLines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(f.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// errBoom is an unexpected error with internals a response must not show.
var errBoom = errors.New(`pq: relation "users" does not exist: SELECT hashed_password FROM users`)

// failingUsers is a UserRepository whose reads fail unexpectedly.
type failingUsers struct{ ports.UserRepository }

func (failingUsers) ByID(context.Context, domain.UserID) (*domain.User, error) { return nil, errBoom }

func (failingUsers) ByEmail(context.Context, domain.Email) (*domain.User, error) {
	return nil, errBoom
}

// panicText must never reach a client.
const panicText = "secret panic text: runtime state 0xdeadbeef"

// panickingUsers is a UserRepository whose reads panic.
type panickingUsers struct{ ports.UserRepository }

func (panickingUsers) ByID(context.Context, domain.UserID) (*domain.User, error) { panic(panicText) }

func (panickingUsers) ByEmail(context.Context, domain.Email) (*domain.User, error) {
	panic(panicText)
}

// inactiveOwnerFamilies presents every family as belonging to an inactive
// user, as when an account was switched off in the database while one of
// its sessions was live: refresh must answer account_disabled and end it.
type inactiveOwnerFamilies struct{ ports.FamilyRepository }

func (r inactiveOwnerFamilies) UpdateByToken(ctx context.Context, hash domain.TokenHash, fn func(*domain.Family) error) error {
	return r.FamilyRepository.UpdateByToken(ctx, hash, func(f *domain.Family) error {
		owner := f.Owner()
		owner.Active = false
		var presented *domain.RefreshToken
		if p, ok := f.Presented(); ok {
			presented = &p
		}
		stale := domain.RehydrateFamily(domain.FamilyRecord{
			ID: f.ID(), Owner: owner, CreatedAt: f.CreatedAt(), LastUsedAt: f.LastUsedAt(),
			ExpiresAt: f.ExpiresAt(), RevokedAt: f.RevokedAt(), Client: f.Client(), Version: f.Version(),
		}, presented)
		err := fn(stale)
		if stale.Ended() {
			f.End(stale.RevokedAt())
		}
		if _, issued := stale.Issued(); issued {
			return errors.New("inactiveOwnerFamilies: the family issued a token for an inactive owner")
		}
		return err
	})
}

// TestFixtureServes is a smoke test of the fixture itself.
func TestFixtureServes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "smoke@example.com")
	me := decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken), http.StatusOK)
	if me.Email != "smoke@example.com" || me.ID != a.user.ID {
		t.Errorf("me = %+v, want the registered user %+v", me, a.user)
	}
	if f.hasher.hashes.Load() != 1 || f.hasher.verifys.Load() != 1 {
		t.Errorf("hashes/verifies = %d/%d, want 1/1", f.hasher.hashes.Load(), f.hasher.verifys.Load())
	}
}
