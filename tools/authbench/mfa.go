package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"authd/adapters/passkey/passkeytest"
	"authd/adapters/totp"
	"authd/domain"
)

// Users of the mfa phase.
const (
	kindMFATOTP    = "mfatotp"    // enrol TOTP, then sign in with a code and with a recovery code
	kindMFAPasskey = "mfapasskey" // register a passkey, then sign in with it as second factor and alone
)

// ceremony is one multi-factor ceremony the mfa phase measures: run does
// it once for user i.
type ceremony struct {
	name string
	run  func(i int) error
}

// ceremonyCost is what n runs of a ceremony cost.
type ceremonyCost struct {
	ceremony
	n          int
	elapsed    time.Duration
	use        cpuUse
	statements int64 // PostgreSQL statements, BEGIN and COMMIT left out; -1 unknown
	txs        int64 // explicit transactions (BEGIN); -1 unknown
}

// mfa measures what each multi-factor ceremony costs, one run at a time:
// PostgreSQL statements (pg_stat_statements, when the cluster loads it; make
// bench starts its cluster so) and CPU of authd and PostgreSQL, for o.mfaRuns
// users each. Every run is a ceremony of its own user: a TOTP step is
// accepted once per user.
func (b *bench) mfa(ctx context.Context) error {
	n := b.o.mfaRuns
	b.step("mfa: seeding %d users for TOTP and %d for passkeys", n, n)
	for _, kind := range []string{kindMFATOTP, kindMFAPasskey} {
		if err := b.db.seedUsers(ctx, kind, n, b.hash); err != nil {
			return err
		}
	}
	m := newMFAClient(b.cl, b.srv.addr, n)
	for i := range n {
		var err error
		if m.totpSessions[i], err = m.login(userEmail(kindMFATOTP, i+1)); err != nil {
			return err
		}
		if m.passkeySessions[i], err = m.login(userEmail(kindMFAPasskey, i+1)); err != nil {
			return err
		}
	}
	ceremonies := []ceremony{
		{"password login (no second factor), for reference", func(i int) error {
			_, err := m.login(userEmail(kindMFAPasskey, i+1))
			return err
		}},
		{"TOTP enrolment: POST /v1/users/me/mfa/totp, then /confirm", m.enrolTOTP},
		{"sign-in with password and TOTP code", m.totpSignIn},
		{"sign-in with password and recovery code", m.recoverySignIn},
		{"passkey registration: POST /v1/users/me/passkeys/begin, then /finish", m.registerPasskey},
		{"sign-in with password and passkey", m.passkeySecondFactor},
		{"passwordless sign-in with a passkey", m.passwordless},
	}
	tracked := b.statementsTracked(ctx)
	var costs []ceremonyCost
	for _, c := range ceremonies {
		b.step("mfa: %d x %s", n, c.name)
		cost := ceremonyCost{ceremony: c, n: n, statements: -1, txs: -1}
		stmts0, txs0 := b.statementCount(ctx, tracked)
		var err error
		start := time.Now()
		cost.use = b.watchCPU("mfa: "+c.name, func() {
			for i := range n {
				if err = c.run(i); err != nil {
					return
				}
			}
		})
		cost.elapsed = time.Since(start)
		if err != nil {
			return fmt.Errorf("mfa: %s: %w", c.name, err)
		}
		if tracked {
			stmts1, txs1 := b.statementCount(ctx, tracked)
			// The count's own statement is counted by the next count.
			cost.statements, cost.txs = stmts1-stmts0-1, txs1-txs0
		}
		costs = append(costs, cost)
	}
	for _, c := range costs {
		rate := float64(c.n) / c.elapsed.Seconds()
		stmts := "statements not counted"
		if c.statements >= 0 {
			stmts = fmt.Sprintf("%.1f statements, %.1f BEGIN", float64(c.statements)/float64(c.n), float64(c.txs)/float64(c.n))
		}
		b.rep.info("mfa: "+c.name, fmt.Sprintf("CPU authd %s, PostgreSQL %s; %s", perOp(c.use.server, rate), perOp(c.use.pg, rate), stmts), "-", "-")
	}
	hash := "one argon2id hash"
	if b.hashCPU > 0 {
		hash = fmt.Sprintf("one argon2id hash (%s of CPU in the login phase)", ms(b.hashCPU))
	}
	b.rep.note("mfa: each ceremony %d times, one at a time, each for a user of its own, with rate limits and email off (no notice is rendered); authd's CPU includes %s wherever the password is checked (all but passwordless), and varies with the machine's speed like it",
		n, hash)
	if !tracked {
		b.rep.note("mfa: pg_stat_statements is not loaded in this cluster (make bench starts its own cluster with it; a cluster it did not start may lack it), so statements were not counted")
	} else {
		b.rep.note("mfa: statements per ceremony counted by pg_stat_statements in the benchmark database, BEGIN and COMMIT left out; BEGIN counts the explicit transactions (every other statement is one of its own)")
	}
	return nil
}

// statementsTracked reports whether pg_stat_statements can count the
// benchmark database's statements, creating the extension if need be.
func (b *bench) statementsTracked(ctx context.Context) bool {
	if _, err := b.db.db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return false
	}
	_, err := b.db.db.ExecContext(ctx, "SELECT count(*) FROM pg_stat_statements")
	return err == nil
}

// statementCount returns the statements and the BEGINs pg_stat_statements
// has counted in the benchmark database so far.
func (b *bench) statementCount(ctx context.Context, tracked bool) (stmts, begins int64) {
	if !tracked {
		return 0, 0
	}
	_ = b.db.db.QueryRowContext(ctx, `SELECT
		coalesce(sum(calls) FILTER (WHERE upper(query) NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')), 0),
		coalesce(sum(calls) FILTER (WHERE upper(query) = 'BEGIN'), 0)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&stmts, &begins)
	return stmts, begins
}

// mfaClient plays the users of the mfa phase: their sessions, TOTP secrets,
// recovery codes and a software authenticator holding their passkeys.
type mfaClient struct {
	cl     *client
	e      *exchange
	origin string
	auth   *passkeytest.Authenticator

	totpSessions, passkeySessions []tokenResponse
	secrets                       [][]byte
	codes                         [][]string
	passkeys                      []*passkeytest.Credential
}

func newMFAClient(cl *client, addr string, n int) *mfaClient {
	u := url.URL{Scheme: "http", Host: addr}
	// WebAuthn needs a host name: authd's default origin is localhost on
	// its port.
	origin := "http://localhost:" + u.Port()
	return &mfaClient{
		cl: cl, e: newExchange(), origin: origin, auth: passkeytest.New(origin),
		totpSessions: make([]tokenResponse, n), passkeySessions: make([]tokenResponse, n),
		secrets: make([][]byte, n), codes: make([][]string, n), passkeys: make([]*passkeytest.Credential, n),
	}
}

// call sends method path with body (JSON, none when nil) and bearer, and
// returns the body when the status is want.
func (m *mfaClient) call(method, path, bearer string, body any, want int) ([]byte, error) {
	var j []byte
	if body != nil {
		var err error
		if j, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	return m.cl.request(m.e, method, path, bearer, j, want)
}

func (m *mfaClient) login(email string) (tokenResponse, error) {
	var t tokenResponse
	body, err := m.call("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": benchPassword}, fasthttp.StatusOK)
	if err == nil {
		err = json.Unmarshal(body, &t)
	}
	return t, err
}

// passwordStep logs in to an account with MFA on and returns its mfa_token.
func (m *mfaClient) passwordStep(email string) (string, error) {
	body, err := m.call("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": benchPassword}, fasthttp.StatusForbidden)
	if err != nil {
		return "", err
	}
	var p struct {
		MFAToken string `json:"mfa_token"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.MFAToken == "" {
		return "", fmt.Errorf("login: no mfa_token in %.300s", body)
	}
	return p.MFAToken, nil
}

// secondStep completes a login with the second factor in factor.
func (m *mfaClient) secondStep(token string, factor map[string]any) error {
	factor["mfa_token"] = token
	body, err := m.call("POST", "/v1/auth/mfa", "", factor, fasthttp.StatusOK)
	if err != nil {
		return err
	}
	return tokenIn(body)
}

func tokenIn(body []byte) error {
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil || t.RefreshToken == "" {
		return fmt.Errorf("no token response: %.300s", body)
	}
	return nil
}

var base32NoPadding = base32.StdEncoding.WithPadding(base32.NoPadding)

// code is the TOTP code of user i one step ahead (accepted: ±1 step), so
// that it follows whatever step the user's last accepted code had.
func (m *mfaClient) code(i int) (string, error) {
	return totp.Code(m.secrets[i], domain.TOTPStep(time.Now())+1)
}

func (m *mfaClient) enrolTOTP(i int) error {
	access := m.totpSessions[i].AccessToken
	body, err := m.call("POST", "/v1/users/me/mfa/totp", access, map[string]string{"current_password": benchPassword}, fasthttp.StatusOK)
	if err != nil {
		return err
	}
	var enrol struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &enrol); err != nil {
		return err
	}
	if m.secrets[i], err = base32NoPadding.DecodeString(enrol.Secret); err != nil {
		return fmt.Errorf("TOTP secret: %w", err)
	}
	code, err := totp.Code(m.secrets[i], domain.TOTPStep(time.Now()))
	if err != nil {
		return err
	}
	if body, err = m.call("POST", "/v1/users/me/mfa/totp/confirm", access, map[string]string{"code": code}, fasthttp.StatusOK); err != nil {
		return err
	}
	var confirmed struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal(body, &confirmed); err != nil || len(confirmed.Codes) == 0 {
		return fmt.Errorf("confirm: no recovery codes in %.300s", body)
	}
	m.codes[i] = confirmed.Codes
	return nil
}

func (m *mfaClient) totpSignIn(i int) error {
	token, err := m.passwordStep(userEmail(kindMFATOTP, i+1))
	if err != nil {
		return err
	}
	code, err := m.code(i)
	if err != nil {
		return err
	}
	return m.secondStep(token, map[string]any{"totp_code": code})
}

func (m *mfaClient) recoverySignIn(i int) error {
	token, err := m.passwordStep(userEmail(kindMFATOTP, i+1))
	if err != nil {
		return err
	}
	if len(m.codes[i]) == 0 {
		return errors.New("no recovery code left")
	}
	code := m.codes[i][0]
	m.codes[i] = m.codes[i][1:]
	return m.secondStep(token, map[string]any{"recovery_code": code})
}

func (m *mfaClient) registerPasskey(i int) error {
	access := m.passkeySessions[i].AccessToken
	options, err := m.call("POST", "/v1/users/me/passkeys/begin", access, map[string]string{"current_password": benchPassword}, fasthttp.StatusOK)
	if err != nil {
		return err
	}
	reg, cred, err := m.auth.Register(options, "")
	if err != nil {
		return fmt.Errorf("authenticator: %w", err)
	}
	if _, err := m.call("POST", "/v1/users/me/passkeys/finish", access, map[string]any{"name": "authbench", "credential": json.RawMessage(reg)}, fasthttp.StatusCreated); err != nil {
		return err
	}
	m.passkeys[i] = cred
	return nil
}

func (m *mfaClient) passkeySecondFactor(i int) error {
	token, err := m.passwordStep(userEmail(kindMFAPasskey, i+1))
	if err != nil {
		return err
	}
	options, err := m.call("POST", "/v1/auth/mfa/webauthn/begin", "", map[string]string{"mfa_token": token}, fasthttp.StatusOK)
	if err != nil {
		return err
	}
	assertion, err := m.auth.Assert(options, m.passkeys[i])
	if err != nil {
		return fmt.Errorf("authenticator: %w", err)
	}
	return m.secondStep(token, map[string]any{"webauthn": json.RawMessage(assertion)})
}

func (m *mfaClient) passwordless(i int) error {
	options, err := m.call("POST", "/v1/auth/passkey/begin", "", nil, fasthttp.StatusOK)
	if err != nil {
		return err
	}
	assertion, err := m.auth.Assert(options, m.passkeys[i])
	if err != nil {
		return fmt.Errorf("authenticator: %w", err)
	}
	body, err := m.call("POST", "/v1/auth/passkey/finish", "", map[string]any{"credential": json.RawMessage(assertion)}, fasthttp.StatusOK)
	if err != nil {
		return err
	}
	return tokenIn(body)
}
