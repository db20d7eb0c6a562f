package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"authd/adapters/jwt"
	"authd/domain"
	"authd/ports"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := f.do(t, "POST", "/v1/auth/register", credentials("  Ada.Lovelace@Example.COM ", strongPassword), "")
	u := decode[userBody](t, r, http.StatusCreated)
	if u.Email != "ada.lovelace@example.com" || u.Role != "user" || !u.IsActive || u.ID <= 0 || !u.CreatedAt.Equal(epoch) {
		t.Errorf("registered user = %+v, want a normalised email, role user, active, created at the clock's time", u)
	}
	if strings.Contains(string(r.body), "password") {
		t.Errorf("the user object mentions the password: %s", r.body)
	}

	f.do(t, "POST", "/v1/auth/register", credentials("ADA.LOVELACE@example.com", otherPassword), "").
		problem(t, http.StatusConflict, "email_taken")

	cases := []struct {
		name   string
		body   string
		fields []string
	}{
		{"short password", credentials("short@example.com", "Xy7#short"), []string{"password"}},
		{"long password", credentials("long@example.com", strings.Repeat("Zq9!", 32)+"x"), []string{"password"}},
		{"common password", credentials("common@example.com", "password1234"), []string{"password"}},
		{"repetitive password", credentials("repeat@example.com", "aaaaaaaaaaaaaaaa"), []string{"password"}},
		{"bad email", credentials("not-an-email", strongPassword), []string{"email"}},
		{"display name", credentials("Ada <ada@example.com>", strongPassword), []string{"email"}},
		{"both bad", credentials("@", "short"), []string{"email", "password"}},
		{"missing fields", `{}`, []string{"email", "password"}},
		{"null fields", `{"email":null,"password":null}`, []string{"email", "password"}},
		{"NUL in password", credentials("nul@example.com", "Vq7#mZ2!\x00pL9x-kT4"), []string{"password"}},
		{"NUL in email", credentials("nul\x00@example.com", strongPassword), []string{"email"}},
		{"256-byte email", credentials(strings.Repeat("e", 244)+"@example.com", strongPassword), []string{"email"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := f.do(t, "POST", "/v1/auth/register", c.body, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
			var fields []string
			for _, e := range p.Errors {
				if e.Message == "" {
					t.Errorf("field error %q has no message", e.Field)
				}
				fields = append(fields, e.Field)
			}
			slices.Sort(fields)
			if !slices.Equal(fields, c.fields) {
				t.Errorf("fields = %v, want %v", fields, c.fields)
			}
		})
	}
}

func TestRegisterAbsurdPasswordIsNeverHashed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	start := time.Now()
	r := f.do(t, "POST", "/v1/auth/register", credentials("absurd@example.com", strings.Repeat("Zq9!x", 2048)), "")
	p := r.problem(t, http.StatusUnprocessableEntity, "validation_failed")
	if len(p.Errors) != 1 || p.Errors[0].Field != "password" {
		t.Errorf("errors = %+v, want one about password", p.Errors)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 10 KB password took %s to refuse", d)
	}
	// Logging in with it must not hash it either.
	f.do(t, "POST", "/v1/auth/login", credentials("absurd@example.com", strings.Repeat("Zq9!x", 2048)), "").
		problem(t, http.StatusUnauthorized, "invalid_credentials")
	if h, v := f.hasher.hashes.Load(), f.hasher.verifys.Load(); h != 0 || v != 0 {
		t.Errorf("hasher called %d/%d times (hash/verify), want never", h, v)
	}
	if n := f.hasher.longest.Load(); n > domain.MaxPasswordBytes {
		t.Errorf("the hasher saw a %d-byte password", n)
	}
}

func TestRegisterRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
		p.Registrations = domain.Limit{Max: 2, Window: time.Hour}
	})})
	f.register(t, "r1@example.com", strongPassword)
	// A refused registration still counts as an attempt.
	f.do(t, "POST", "/v1/auth/register", credentials("bad", strongPassword), "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
	r := f.do(t, "POST", "/v1/auth/register", credentials("r3@example.com", strongPassword), "")
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, r)

	// The window slides: after Retry-After the client gets in again.
	secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
	f.clock.Advance(time.Duration(secs) * time.Second)
	f.register(t, "r3@example.com", strongPassword)
}

// wantRetryAfter fails t unless r carries a positive Retry-After in seconds.
func wantRetryAfter(t testing.TB, r response) {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n <= 0 || n > 3600 {
		t.Errorf("Retry-After = %q, want a positive number of seconds within the window", r.header.Get("Retry-After"))
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.register(t, "login@example.com", strongPassword)

	r := f.do(t, "POST", "/v1/auth/login", credentials(" LOGIN@example.com", strongPassword), "")
	tok := decode[tokenBody](t, r, http.StatusOK)
	if tok.TokenType != "Bearer" || tok.ExpiresIn != int64(jwt.DefaultTTL/time.Second) || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Errorf("token response = %+v, want RFC 6749 §5.1 fields", tok)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if !domain.LooksLikeRefreshSecret(tok.RefreshToken) {
		t.Errorf("refresh token %q is not 32 random bytes in base64url", tok.RefreshToken)
	}
	var raw map[string]any
	_ = json.Unmarshal(r.body, &raw)
	if len(raw) != 4 {
		t.Errorf("token response has fields %v, want exactly the four of §5.1", raw)
	}

	p, err := f.issuer.Verify(tok.AccessToken, f.clock.Now())
	if err != nil {
		t.Fatalf("the access token does not verify: %v", err)
	}
	if int64(p.UserID) != u.ID || p.Role != domain.RoleUser || p.SessionID.String() == "" {
		t.Errorf("principal = %+v, want user %d with role user", p, u.ID)
	}
	header := jwtHeader(t, tok.AccessToken)
	if header["alg"] != "EdDSA" || header["typ"] != "at+jwt" || header["kid"] != f.issuer.KeyID() {
		t.Errorf("access token header = %v", header)
	}
	claims := jwtClaims(t, tok.AccessToken)
	if claims["sub"] != strconv.FormatInt(u.ID, 10) || claims["sid"] != p.SessionID.String() || claims["role"] != "user" ||
		claims["iss"] != testIssuer || claims["aud"] != testAudience {
		t.Errorf("claims = %v", claims)
	}
}

func TestLoginFailuresLookIdentical(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "known@example.com", strongPassword)
	unknown := f.do(t, "POST", "/v1/auth/login", credentials("unknown@example.com", strongPassword), "")
	wrong := f.do(t, "POST", "/v1/auth/login", credentials("known@example.com", otherPassword), "")
	unknown.problem(t, http.StatusUnauthorized, "invalid_credentials")
	wrong.problem(t, http.StatusUnauthorized, "invalid_credentials")
	if !bytes.Equal(unknown.body, wrong.body) {
		t.Errorf("unknown email and wrong password differ:\n%s\n%s", unknown.body, wrong.body)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "Retry-After"} {
		if unknown.header.Get(h) != wrong.header.Get(h) {
			t.Errorf("header %s differs: %q vs %q", h, unknown.header.Get(h), wrong.header.Get(h))
		}
	}
	// Both cost one password verification.
	if n := f.hasher.verifys.Load(); n != 2 {
		t.Errorf("verifications = %d, want 2", n)
	}
	// Malformed but well-typed input is a failed login, not a validation error.
	for _, body := range []string{credentials("not-an-email", strongPassword), credentials("known@example.com", "")} {
		f.do(t, "POST", "/v1/auth/login", body, "").problem(t, http.StatusUnauthorized, "invalid_credentials")
	}
	f.do(t, "POST", "/v1/auth/login", `{"email":"known@example.com"}`, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
}

func TestLoginDisabledAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.register(t, "disabled@example.com", strongPassword)
	f.setUser(t, u.ID, domain.UserChange{Active: ptr(false)})

	f.do(t, "POST", "/v1/auth/login", credentials("disabled@example.com", otherPassword), "").
		problem(t, http.StatusUnauthorized, "invalid_credentials")
	f.do(t, "POST", "/v1/auth/login", credentials("disabled@example.com", strongPassword), "").
		problem(t, http.StatusForbidden, "account_disabled")
}

func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	t.Run("per account", func(t *testing.T) {
		t.Parallel()
		f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
			p.PerAccount = domain.Limit{Max: 3, Window: time.Hour}
		})})
		f.register(t, "target@example.com", strongPassword)
		f.register(t, "bystander@example.com", strongPassword)
		for range 3 {
			f.do(t, "POST", "/v1/auth/login", credentials("target@example.com", otherPassword), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
		}
		// Even the right password is refused while the account is over its
		// budget (from an IP that never logged in to it), and the key is the
		// normalised email.
		before := f.hasher.verifys.Load()
		r := f.do(t, "POST", "/v1/auth/login", credentials("TARGET@example.com", strongPassword), "")
		r.problem(t, http.StatusTooManyRequests, "rate_limited")
		if got := r.header.Get("Retry-After"); got != "3600" {
			t.Errorf("Retry-After = %q, want 3600", got)
		}
		if f.hasher.verifys.Load() != before {
			t.Error("a rate-limited login still verified a password")
		}
		// Another account from the same IP is not affected.
		f.login(t, "bystander@example.com", strongPassword)
	})
	t.Run("per IP", func(t *testing.T) {
		t.Parallel()
		f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
			p.PerIP = domain.Limit{Max: 3, Window: time.Hour}
		})})
		f.register(t, "ip@example.com", strongPassword)
		for i := range 3 {
			f.do(t, "POST", "/v1/auth/login", credentials("nobody"+strconv.Itoa(i)+"@example.com", strongPassword), "").
				problem(t, http.StatusUnauthorized, "invalid_credentials")
		}
		before := f.hasher.verifys.Load()
		r := f.do(t, "POST", "/v1/auth/login", credentials("ip@example.com", strongPassword), "")
		r.problem(t, http.StatusTooManyRequests, "rate_limited")
		wantRetryAfter(t, r)
		if f.hasher.verifys.Load() != before {
			t.Error("a rate-limited login still verified a password")
		}
		f.clock.Advance(time.Hour)
		f.login(t, "ip@example.com", strongPassword)
	})
}

// TestRateLimitedAnswersAlike compares the whole 429 answer for an existing
// and an unknown account: status, headers and body.
func TestRateLimitedAnswersAlike(t *testing.T) {
	t.Parallel()
	answer := func(email string) response {
		f := newFixtureWith(t, options{limits: limitsWith(func(p *domain.LimitPolicy) {
			p.PerAccountIP = domain.Limit{Max: 3, Window: 15 * time.Minute}
		})})
		f.register(t, "known@example.com", strongPassword)
		f.clock.Advance(time.Minute)
		for range 3 {
			f.do(t, "POST", "/v1/auth/login", credentials(email, otherPassword), "").problem(t, http.StatusUnauthorized, "invalid_credentials")
		}
		f.clock.Advance(time.Minute)
		r := f.do(t, "POST", "/v1/auth/login", credentials(email, strongPassword), "")
		r.problem(t, http.StatusTooManyRequests, "rate_limited")
		for _, h := range []string{"Date", "X-Request-Id"} {
			r.header.Del(h)
		}
		return r
	}
	known, unknown := answer("known@example.com"), answer("unknown@example.com")
	if known.status != unknown.status || !bytes.Equal(known.body, unknown.body) || fmt.Sprint(known.header) != fmt.Sprint(unknown.header) {
		t.Errorf("429 for an existing account:\n%d %v %s\nfor an unknown one:\n%d %v %s",
			known.status, known.header, known.body, unknown.status, unknown.header, unknown.body)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "refresh@example.com")

	f.clock.Advance(time.Minute)
	r := f.refresh(t, a.tokens.RefreshToken)
	next := decode[tokenBody](t, r, http.StatusOK)
	if next.RefreshToken == a.tokens.RefreshToken || next.AccessToken == a.tokens.AccessToken {
		t.Error("refresh did not rotate the tokens")
	}
	if next.TokenType != "Bearer" || next.ExpiresIn <= 0 || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("refresh response = %+v, Cache-Control %q", next, r.header.Get("Cache-Control"))
	}
	p1, err1 := f.issuer.Verify(a.tokens.AccessToken, f.clock.Now())
	p2, err2 := f.issuer.Verify(next.AccessToken, f.clock.Now())
	if err1 != nil || err2 != nil || p1.SessionID != p2.SessionID || p1.UserID != p2.UserID {
		t.Errorf("rotation changed the session: %+v vs %+v (%v, %v)", p1, p2, err1, err2)
	}
	decode[tokenBody](t, f.refresh(t, next.RefreshToken), http.StatusOK)

	unknown := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for name, token := range map[string]string{
		"unknown":      unknown,
		"garbage":      "garbage",
		"empty":        "",
		"padded":       unknown + "=",
		"access token": next.AccessToken,
	} {
		t.Run(name, func(t *testing.T) {
			f.refresh(t, token).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
		})
	}
	f.do(t, "POST", "/v1/auth/refresh", `{}`, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
}

func TestRefreshExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "expired@example.com")
	f.clock.Advance(domain.DefaultSessionPolicy.TokenTTL)
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")

	// A session at its absolute end cannot be refreshed even with a fresh token.
	b := f.login(t, "expired@example.com", strongPassword)
	end := f.clock.Now().Add(domain.DefaultSessionPolicy.MaxLifetime)
	tok := b.RefreshToken
	for f.clock.Now().Add(10 * 24 * time.Hour).Before(end) {
		f.clock.Advance(10 * 24 * time.Hour)
		tok = decode[tokenBody](t, f.refresh(t, tok), http.StatusOK).RefreshToken
	}
	f.clock.Set(end)
	f.refresh(t, tok).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
}

func TestRefreshReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "reuse@example.com")
	other := f.login(t, a.email, strongPassword)
	next := decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)

	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "refresh_token_reused")
	// The whole family is ended: the successor is dead too.
	f.refresh(t, next.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	// Other sessions of the user are untouched.
	decode[tokenBody](t, f.refresh(t, other.RefreshToken), http.StatusOK)
}

func TestRefreshDisabledAccount(t *testing.T) {
	t.Parallel()
	t.Run("deactivated user", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		a := f.newAccount(t, "deactivated@example.com")
		f.setUser(t, a.user.ID, domain.UserChange{Active: ptr(false)})
		f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusForbidden, "account_disabled")
		f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
		// Reactivation does not bring the ended session back.
		f.setUser(t, a.user.ID, domain.UserChange{Active: ptr(true)})
		f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	})
	t.Run("live session of an inactive owner", func(t *testing.T) {
		t.Parallel()
		var inactive bool
		f := newFixtureWith(t, options{limits: generousLimits, wrapFamilies: func(r ports.FamilyRepository) ports.FamilyRepository {
			return switchableFamilies{FamilyRepository: r, inactive: &inactive}
		}})
		a := f.newAccount(t, "stale@example.com")
		inactive = true
		f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusForbidden, "account_disabled")
		inactive = false
		// The refusal ended the session.
		f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	})
}

// switchableFamilies presents families' owners as inactive while *inactive
// is true. Tests set it between requests, never concurrently with one.
type switchableFamilies struct {
	ports.FamilyRepository
	inactive *bool
}

func (r switchableFamilies) UpdateByToken(ctx context.Context, hash domain.TokenHash, fn func(*domain.Family) error) error {
	if *r.inactive {
		return inactiveOwnerFamilies{r.FamilyRepository}.UpdateByToken(ctx, hash, fn)
	}
	return r.FamilyRepository.UpdateByToken(ctx, hash, fn)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "logout@example.com")
	keep := f.login(t, a.email, strongPassword)
	next := decode[tokenBody](t, f.refresh(t, a.tokens.RefreshToken), http.StatusOK)

	// Logging out with an earlier token of the family ends the family.
	for range 2 {
		r := f.do(t, "POST", "/v1/auth/logout", refreshJSON(a.tokens.RefreshToken), "")
		r.wantStatus(t, http.StatusNoContent)
	}
	f.refresh(t, next.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	for _, token := range []string{base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "garbage", ""} {
		f.do(t, "POST", "/v1/auth/logout", refreshJSON(token), "").wantStatus(t, http.StatusNoContent)
	}
	f.do(t, "POST", "/v1/auth/logout", `{}`, "").problem(t, http.StatusUnprocessableEntity, "validation_failed")
	decode[tokenBody](t, f.refresh(t, keep.RefreshToken), http.StatusOK)
}

func TestLogoutAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "everywhere@example.com")
	b := f.login(t, a.email, strongPassword)
	c := f.login(t, a.email, strongPassword)
	bystander := f.newAccount(t, "bystander@example.com")

	f.do(t, "POST", "/v1/auth/logout-all", "", b.AccessToken).wantStatus(t, http.StatusNoContent)
	for _, tok := range []tokenBody{a.tokens, b, c} {
		f.refresh(t, tok.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	}
	decode[tokenBody](t, f.refresh(t, bystander.tokens.RefreshToken), http.StatusOK)
	// The access token of an ended session no longer authenticates, so a
	// second call is refused; from a new session it ends nothing more.
	f.do(t, "POST", "/v1/auth/logout-all", "", b.AccessToken).problem(t, http.StatusUnauthorized, "invalid_token")
	again := f.login(t, a.email, strongPassword)
	f.do(t, "POST", "/v1/auth/logout-all", "", again.AccessToken).wantStatus(t, http.StatusNoContent)
	decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", bystander.tokens.AccessToken), http.StatusOK)
}

func TestBearerRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "bearer@example.com")

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	foreign, err := jwt.New(jwt.Config{PrivateKey: otherKey, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.issuer.Verify(a.tokens.AccessToken, f.clock.Now())
	forged, _, err := foreign.Issue(domain.AccessGrant{UserID: p.UserID, SessionID: p.SessionID, Role: domain.RoleAdmin}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(a.tokens.AccessToken, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+f.issuer.KeyID()+`"}`)) + "." + parts[1] + "."
	tampered := parts[0] + "." + b64([]byte(strings.Replace(string(mustB64(t, parts[1])), `"role":"user"`, `"role":"admin"`, 1))) + "." + parts[2]

	cases := []struct {
		name          string
		authorization string
	}{
		{"missing", ""},
		{"empty bearer", "Bearer "},
		{"basic", "Basic YWRhOnB3"},
		{"garbage", "Bearer garbage"},
		{"three dots", "Bearer a.b.c"},
		{"alg none", "Bearer " + algNone},
		{"alg none without signature part", "Bearer " + strings.TrimSuffix(algNone, ".")},
		{"tampered claims", "Bearer " + tampered},
		{"foreign key", "Bearer " + forged},
		{"oversized", "Bearer " + strings.Repeat("a", 9000)},
		{"refresh token as bearer", "Bearer " + a.tokens.RefreshToken},
	}
	routes := []struct{ method, path string }{
		{"GET", "/v1/users/me"},
		{"POST", "/v1/auth/logout-all"},
		{"GET", "/v1/users/me/sessions"},
		{"GET", "/v1/admin/users"},
	}
	for _, c := range cases {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.path, func(t *testing.T) {
				t.Parallel()
				req := request{method: rt.method, path: rt.path}
				if c.authorization != "" {
					req.header = map[string]string{"Authorization": c.authorization}
				}
				r := f.send(t, req)
				r.problem(t, http.StatusUnauthorized, "invalid_token")
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			})
		}
	}

	// Expired, beyond the 30 s leeway.
	t.Run("expired", func(t *testing.T) {
		g := newFixture(t)
		b := g.newAccount(t, "late@example.com")
		decode[userBody](t, g.do(t, "GET", "/v1/users/me", "", b.tokens.AccessToken), http.StatusOK)
		g.clock.Advance(jwt.DefaultTTL + jwt.DefaultLeeway + time.Second)
		r := g.do(t, "GET", "/v1/users/me", "", b.tokens.AccessToken)
		r.problem(t, http.StatusUnauthorized, "invalid_token")
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
	})
	// The scheme is case-insensitive (RFC 7235 §2.1).
	r := f.send(t, request{method: "GET", path: "/v1/users/me", header: map[string]string{"Authorization": "bearer " + a.tokens.AccessToken}})
	decode[userBody](t, r, http.StatusOK)
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustB64(t, strings.Split(token, ".")[0]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jwtClaims decodes a JWT's claims without verifying them.
func jwtClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWS compact serialisation", token)
	}
	var m map[string]any
	if err := json.Unmarshal(mustB64(t, parts[1]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return b
}

func TestRefreshConcurrentlyOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "race@example.com")
	const n = 8
	statuses := make(chan response, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- f.refresh(t, a.tokens.RefreshToken) })
	}
	wg.Wait()
	close(statuses)
	var ok int
	for r := range statuses {
		switch r.status {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
			var p problemBody
			_ = json.Unmarshal(r.body, &p)
			if p.Code != "refresh_token_reused" && p.Code != "invalid_refresh_token" {
				t.Errorf("loser answered %s", r.body)
			}
		default:
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes of one token succeeded, want exactly 1", ok)
	}
}
