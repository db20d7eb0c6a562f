package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"authd/adapters/httpapi"
	"authd/adapters/jwt"
	"authd/adapters/password"
	"authd/adapters/postgres"
	"authd/adapters/smtp"
	"authd/application"
	"authd/domain"
)

// Config is the server's configuration, read from environment variables.
// Every field has a documented default (see README.md); a bad value stops
// start-up with an error naming the variable.
type Config struct {
	Env                    string     // AUTHD_ENV: "prod" (JSON logs) or "dev" (text logs)
	LogLevel               slog.Level // AUTHD_LOG_LEVEL
	DatabaseURL            string     // DATABASE_URL
	HTTPAddr               string     // HTTP_ADDR
	Issuer                 string     // AUTHD_ISSUER normalised; empty: http:// and the address bound (issuerFor)
	Audience               string     // AUTHD_AUDIENCE
	JWTPrivateKeyFile      string     // AUTHD_JWT_PRIVATE_KEY_FILE
	JWTExtraPublicKeyFiles []string   // AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES
	AccessTokenTTL         time.Duration
	Session                domain.SessionPolicy
	Argon2                 password.Params
	HashConcurrency        int
	RateLimits             bool               // AUTHD_RATE_LIMITS: off switches Limits off
	Limits                 domain.LimitPolicy // AUTHD_FAILED_LOGINS_*, AUTHD_KNOWN_IP*, AUTHD_REGISTRATIONS_PER_IP, AUTHD_EMAIL*_PER_*
	DB                     postgres.PoolOptions
	HTTPReadTimeout        time.Duration
	HTTPWriteTimeout       time.Duration
	HTTPIdleTimeout        time.Duration
	ShutdownTimeout        time.Duration
	// ShutdownDrain is AUTHD_SHUTDOWN_DRAIN: on SIGTERM /readyz answers 503
	// this long, while requests are still served, before the listener closes.
	ShutdownDrain time.Duration
	Prune         PruneConfig

	// The HTTP edge: clients behind proxies, browsers, metrics (loadEdge).
	TrustedProxies httpapi.TrustedProxies // AUTHD_TRUSTED_PROXIES
	CORSOrigins    httpapi.Origins        // AUTHD_CORS_ORIGINS
	MetricsAddr    string                 // AUTHD_METRICS_ADDR
	Mail           MailConfig
	MFA            MFAConfig
	// Bounded work (DESIGN.md): every request's deadline, and how many
	// requests may wait for a password-hashing slot.
	RequestTimeout time.Duration // AUTHD_REQUEST_TIMEOUT
	HashQueue      int           // AUTHD_HASH_QUEUE
}

// envReader reads variables and remembers the first error, naming the variable.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (r *envReader) fail(name, raw, why string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: %s", name, raw, why))
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) duration(name string, def, lo, hi time.Duration) time.Duration {
	raw := strings.TrimSpace(r.getenv(name))
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		r.fail(name, raw, "not a duration (use forms like 15m, 336h)")
		return def
	}
	if d < lo || d > hi {
		r.fail(name, raw, fmt.Sprintf("must be between %s and %s", lo, hi))
		return def
	}
	return d
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	raw := strings.TrimSpace(r.getenv(name))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		r.fail(name, raw, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}

func (r *envReader) boolean(name string, def bool) bool {
	raw := strings.ToLower(strings.TrimSpace(r.getenv(name)))
	switch raw {
	case "":
		return def
	case "on", "true", "1", "yes":
		return true
	case "off", "false", "0", "no":
		return false
	}
	r.fail(name, raw, `must be "on" or "off"`)
	return def
}

// limit parses "N/DURATION", for example "5/15m".
func (r *envReader) limit(name string, def domain.Limit) domain.Limit {
	raw := strings.TrimSpace(r.getenv(name))
	if raw == "" {
		return def
	}
	ns, ds, ok := strings.Cut(raw, "/")
	n, err1 := strconv.Atoi(strings.TrimSpace(ns))
	d, err2 := time.ParseDuration(strings.TrimSpace(ds))
	if !ok || err1 != nil || err2 != nil || n < 1 || n > domain.MaxLimitAttempts || d < time.Second || d > 24*time.Hour {
		r.fail(name, raw, fmt.Sprintf(`must look like "5/15m": 1 to %d attempts per 1s to 24h`, domain.MaxLimitAttempts))
		return def
	}
	return domain.Limit{Max: n, Window: d}
}

// retiredVariables were replaced by variables that say what they count; a
// deployment that still sets one would otherwise run with a default it did
// not choose.
var retiredVariables = map[string]string{
	"AUTHD_LOGIN_LIMIT_PER_IP":      "AUTHD_FAILED_LOGINS_PER_IP",
	"AUTHD_LOGIN_LIMIT_PER_ACCOUNT": "AUTHD_FAILED_LOGINS_PER_ACCOUNT",
	"AUTHD_REGISTER_LIMIT_PER_IP":   "AUTHD_REGISTRATIONS_PER_IP",
}

// LoadConfig reads the configuration through getenv (os.Getenv in production).
func LoadConfig(getenv func(string) string) (Config, error) {
	r := &envReader{getenv: getenv}
	pool := postgres.DefaultPoolOptions()
	limits := domain.DefaultLimitPolicy
	c := Config{
		Env:               r.str("AUTHD_ENV", "prod"),
		DatabaseURL:       r.str("DATABASE_URL", ""),
		HTTPAddr:          r.str("HTTP_ADDR", "127.0.0.1:8080"),
		Audience:          r.str("AUTHD_AUDIENCE", "authd"),
		JWTPrivateKeyFile: r.str("AUTHD_JWT_PRIVATE_KEY_FILE", ""),
		AccessTokenTTL:    r.duration("AUTHD_ACCESS_TOKEN_TTL", jwt.DefaultTTL, time.Minute, jwt.MaxTTL),
		Session: domain.SessionPolicy{
			TokenTTL:    r.duration("AUTHD_REFRESH_TOKEN_TTL", domain.DefaultSessionPolicy.TokenTTL, time.Minute, 365*24*time.Hour),
			MaxLifetime: r.duration("AUTHD_SESSION_MAX_LIFETIME", domain.DefaultSessionPolicy.MaxLifetime, time.Minute, 5*365*24*time.Hour),
		},
		Argon2: password.Params{
			Memory:  uint32(r.integer("AUTHD_ARGON2_MEMORY_KIB", int(password.DefaultParams().Memory), 8, 1<<20)),
			Time:    uint32(r.integer("AUTHD_ARGON2_TIME", int(password.DefaultParams().Time), 1, 100)),
			Threads: uint8(r.integer("AUTHD_ARGON2_THREADS", int(password.DefaultParams().Threads), 1, 255)),
			SaltLen: password.DefaultParams().SaltLen,
			KeyLen:  password.DefaultParams().KeyLen,
		},
		HashConcurrency: r.integer("AUTHD_HASH_CONCURRENCY", runtime.GOMAXPROCS(0), 1, 1024),
		RateLimits:      r.boolean("AUTHD_RATE_LIMITS", true),
		Limits: domain.LimitPolicy{
			PerAccountIP:           r.limit("AUTHD_FAILED_LOGINS_PER_ACCOUNT_IP", limits.PerAccountIP),
			PerAccount:             r.limit("AUTHD_FAILED_LOGINS_PER_ACCOUNT", limits.PerAccount),
			PerIP:                  r.limit("AUTHD_FAILED_LOGINS_PER_IP", limits.PerIP),
			KnownIPTTL:             r.duration("AUTHD_KNOWN_IP_TTL", limits.KnownIPTTL, time.Hour, 365*24*time.Hour),
			KnownIPsPerAccount:     r.integer("AUTHD_KNOWN_IPS_PER_ACCOUNT", limits.KnownIPsPerAccount, 1, 1000),
			Registrations:          r.limit("AUTHD_REGISTRATIONS_PER_IP", limits.Registrations),
			MailRequestsPerIP:      r.limit("AUTHD_EMAIL_REQUESTS_PER_IP", limits.MailRequestsPerIP),
			MailsPerAddress:        r.limit("AUTHD_EMAILS_PER_ADDRESS", limits.MailsPerAddress),
			PasskeyCeremoniesPerIP: r.limit("AUTHD_PASSKEY_CEREMONIES_PER_IP", limits.PasskeyCeremoniesPerIP),
		},
		DB: postgres.PoolOptions{
			MaxOpenConns:    r.integer("AUTHD_DB_MAX_OPEN_CONNS", pool.MaxOpenConns, 1, 1000),
			MaxIdleConns:    r.integer("AUTHD_DB_MAX_IDLE_CONNS", pool.MaxIdleConns, 1, 1000),
			ConnMaxLifetime: r.duration("AUTHD_DB_CONN_MAX_LIFETIME", pool.ConnMaxLifetime, time.Second, 24*time.Hour),
			ConnMaxIdleTime: r.duration("AUTHD_DB_CONN_MAX_IDLE_TIME", pool.ConnMaxIdleTime, time.Second, 24*time.Hour),
			DialTimeout:     r.duration("AUTHD_DB_DIAL_TIMEOUT", pool.DialTimeout, 100*time.Millisecond, time.Minute),
			ReadTimeout:     r.duration("AUTHD_DB_READ_TIMEOUT", pool.ReadTimeout, 100*time.Millisecond, 10*time.Minute),
			WriteTimeout:    r.duration("AUTHD_DB_WRITE_TIMEOUT", pool.WriteTimeout, 100*time.Millisecond, 10*time.Minute),
		},
		HTTPReadTimeout:  r.duration("AUTHD_HTTP_READ_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute),
		HTTPWriteTimeout: r.duration("AUTHD_HTTP_WRITE_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute),
		HTTPIdleTimeout:  r.duration("AUTHD_HTTP_IDLE_TIMEOUT", 60*time.Second, time.Second, time.Hour),
		ShutdownTimeout:  r.duration("AUTHD_SHUTDOWN_TIMEOUT", 15*time.Second, time.Second, 10*time.Minute),
		ShutdownDrain:    r.duration("AUTHD_SHUTDOWN_DRAIN", 5*time.Second, 0, 10*time.Minute),
		Prune:            loadPrune(r),
	}
	for _, old := range slices.Sorted(maps.Keys(retiredVariables)) {
		if raw := getenv(old); raw != "" {
			r.fail(old, raw, "is no longer read: set "+retiredVariables[old]+" instead (see README.md)")
		}
	}
	// Bounded work: the queue's default follows the hash concurrency.
	c.RequestTimeout = r.duration("AUTHD_REQUEST_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	c.HashQueue = r.integer("AUTHD_HASH_QUEUE", password.QueueFactor*c.HashConcurrency, 1, 1_000_000)

	// Prepared statements do not survive a pooler in transaction mode;
	// auto prepares on direct connections only (README: "Through a
	// connection pooler").
	prepared := strings.ToLower(r.str("AUTHD_DB_PREPARED", pool.Prepared.String()))
	if m, perr := postgres.ParsePreparedMode(prepared); perr == nil {
		c.DB.Prepared = m
	} else {
		r.fail("AUTHD_DB_PREPARED", prepared, `must be "auto", "on" or "off"`)
	}
	if c.Env != "prod" && c.Env != "dev" {
		r.fail("AUTHD_ENV", c.Env, `must be "prod" or "dev"`)
	}
	if raw := r.str("AUTHD_LOG_LEVEL", "info"); c.LogLevel.UnmarshalText([]byte(raw)) != nil {
		r.fail("AUTHD_LOG_LEVEL", raw, "must be debug, info, warn or error")
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	addrOK := err == nil
	if n, perr := strconv.Atoi(port); !addrOK || perr != nil || n < 0 || n > 65535 {
		r.fail("HTTP_ADDR", c.HTTPAddr, "must be host:port with a port from 0 to 65535")
		addrOK = false
	}
	r.loadIssuer(&c, host, addrOK)
	c.Mail = loadMailConfig(r, c.Env, c.Issuer)
	c.MFA = loadMFAConfig(r, c.Env)
	if c.Session.TokenTTL > c.Session.MaxLifetime {
		r.fail("AUTHD_REFRESH_TOKEN_TTL", c.Session.TokenTTL.String(), "must not exceed AUTHD_SESSION_MAX_LIFETIME")
	}
	if raw := r.str("AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES", ""); raw != "" {
		for _, f := range strings.Split(raw, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.JWTExtraPublicKeyFiles = append(c.JWTExtraPublicKeyFiles, f)
			}
		}
	}
	if err := c.Argon2.Validate(); err != nil {
		r.errs = append(r.errs, fmt.Errorf("AUTHD_ARGON2_MEMORY_KIB=%d, AUTHD_ARGON2_TIME=%d, AUTHD_ARGON2_THREADS=%d: %w",
			c.Argon2.Memory, c.Argon2.Time, c.Argon2.Threads, err))
	}
	r.loadEdge(&c)
	return c, errors.Join(r.errs...)
}

// loadIssuer reads AUTHD_ISSUER into c.Issuer, normalised, and checks the
// issuer that will be used (the default one when it is unset): in prod it
// must be https unless its host is a loopback address. httpHost is HTTP_ADDR's
// host; a default issuer built from a bad HTTP_ADDR is HTTP_ADDR's fault alone.
func (r *envReader) loadIssuer(c *Config, httpHost string, addrOK bool) {
	raw := strings.TrimSpace(r.getenv("AUTHD_ISSUER"))
	if raw == "" {
		if addrOK && c.Env == "prod" && !loopbackHost(httpHost) {
			r.fail("AUTHD_ISSUER", raw, fmt.Sprintf("must be set in prod (AUTHD_ENV=prod) when HTTP_ADDR (%s) is not a loopback address: "+
				"the default issuer would be plain http; set it to the public https URL", c.HTTPAddr))
		}
		return
	}
	iss, err := normaliseIssuer(raw)
	if err != nil {
		r.fail("AUTHD_ISSUER", raw, err.Error())
		return
	}
	u, _ := url.Parse(iss)
	if c.Env == "prod" && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		r.fail("AUTHD_ISSUER", raw, "must be an https URL in prod (AUTHD_ENV=prod); plain http is allowed only on a loopback host")
		return
	}
	c.Issuer = iss
}

// normaliseIssuer returns the one spelling of an issuer URL that the
// metadata, the tokens' iss and every endpoint URL share: scheme and host in
// lower case, no default port, no trailing slash. It refuses anything but an
// http(s) URL with an ASCII host and without user, query or fragment.
func normaliseIssuer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return "", errors.New("must be an http(s) URL such as https://auth.example.com")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", errors.New("must be an http(s) URL without user, query or fragment")
	}
	host := strings.ToLower(u.Hostname())
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 || host[i] <= ' ' {
			return "", errors.New("the host must be ASCII (write an internationalised name in its xn-- form)")
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", errors.New("the port must be from 1 to 65535")
		}
		defaultPort := (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80)
		if !defaultPort {
			host += ":" + port
		}
	}
	u.Host = host
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// loopbackHost reports whether host (a name or an address, without port)
// is this machine: localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// issuerFor returns the issuer the server uses once its listener is bound
// to bound: AUTHD_ISSUER, or http:// with HTTP_ADDR's host and the port
// actually bound, so that HTTP_ADDR=127.0.0.1:0 never advertises port 0.
func (c Config) issuerFor(bound net.Addr) string {
	if c.Issuer != "" {
		return c.Issuer
	}
	host, port, _ := net.SplitHostPort(c.HTTPAddr)
	if tcp, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		// Listening on every interface: the default issuer still needs a host.
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(strings.ToLower(host), port)
}

// loadEdge reads the variables of the HTTP edge: which proxies' forwarding
// headers to believe, which browser origins may call the API, and where
// /metrics is served.
func (r *envReader) loadEdge(c *Config) {
	var err error
	raw := r.str("AUTHD_TRUSTED_PROXIES", "")
	if c.TrustedProxies, err = httpapi.ParseTrustedProxies(raw); err != nil {
		r.fail("AUTHD_TRUSTED_PROXIES", raw, err.Error()+" (want comma-separated CIDR prefixes)")
	}
	raw = r.str("AUTHD_CORS_ORIGINS", "")
	if c.CORSOrigins, err = httpapi.ParseOrigins(raw); err != nil {
		r.fail("AUTHD_CORS_ORIGINS", raw, err.Error()+" (want comma-separated origins such as https://app.example.com)")
	}
	c.MetricsAddr = r.str("AUTHD_METRICS_ADDR", "127.0.0.1:9464")
	if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
		r.fail("AUTHD_METRICS_ADDR", c.MetricsAddr, "must be host:port")
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.fail("AUTHD_METRICS_ADDR", c.MetricsAddr, "must be host:port with a port from 0 to 65535")
	}
}

// owaspArgon2 are OWASP's minimum argon2id configurations, each as strong
// as the others (Password Storage Cheat Sheet): memory in KiB, iterations.
var owaspArgon2 = []struct{ memoryKiB, time uint32 }{
	{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
}

// warnings returns what the start-up log should warn about.
func (c Config) warnings() []string {
	var out []string
	strong := false
	for _, o := range owaspArgon2 {
		strong = strong || (c.Argon2.Memory >= o.memoryKiB && c.Argon2.Time >= o.time)
	}
	if !strong {
		out = append(out, fmt.Sprintf("argon2id parameters are below OWASP's minimum (AUTHD_ARGON2_MEMORY_KIB=%d, AUTHD_ARGON2_TIME=%d; "+
			"want at least m=19456 t=2, or m=47104 t=1): password hashes are cheaper to crack than they should be", c.Argon2.Memory, c.Argon2.Time))
	}
	return out
}

// requireServe checks what only the server needs.
func (c Config) requireServe() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required"))
	}
	if c.JWTPrivateKeyFile == "" {
		errs = append(errs, errors.New("AUTHD_JWT_PRIVATE_KEY_FILE is required (make run creates a development key)"))
	}
	if c.MFA.EncryptionKeyFile == "" {
		errs = append(errs, errors.New("AUTHD_ENCRYPTION_KEY_FILE is required (make run creates a development key)"))
	}
	if c.Mail.On && c.Mail.SMTPURL == "" {
		errs = append(errs, errors.New("AUTHD_SMTP_URL is required unless AUTHD_EMAIL=off (make run starts Mailpit)"))
	}
	return errors.Join(errs...)
}

// Mail.

// MailConfig configures email: the outbox's dispatcher, the SMTP server,
// the templates and the links mails carry (see mail.go).
type MailConfig struct {
	// On is AUTHD_EMAIL (default on). Off, no mail is queued or sent and
	// the email routes answer 404. In dev a missing AUTHD_SMTP_URL turns it
	// off; in prod it stops start-up instead.
	On bool
	// SMTPURL is AUTHD_SMTP_URL, smtp://user:password@host:587 or smtps://…;
	// it holds a password, so it is never printed.
	SMTPURL string
	// From is AUTHD_MAIL_FROM, required with AUTHD_SMTP_URL.
	From string
	// TemplatesDir is AUTHD_MAIL_TEMPLATES_DIR; empty: the embedded templates.
	TemplatesDir string
	// PublicURL is AUTHD_PUBLIC_URL: where authd's hosted pages are, for
	// the links in mails; empty means the issuer (see links).
	PublicURL string
	// AppURL is AUTHD_APP_URL: when set, links lead to the application's
	// own pages instead, with the token in the fragment.
	AppURL string
	// SMTPTimeout is AUTHD_SMTP_TIMEOUT, the bound of one delivery attempt.
	SMTPTimeout time.Duration
	// PollInterval is AUTHD_MAIL_POLL_INTERVAL: how often an idle
	// dispatcher looks for due mail.
	PollInterval time.Duration
	// RequireVerified is AUTHD_REQUIRE_VERIFIED_EMAIL (default off): an
	// account whose address is not verified cannot log in, and
	// registration answers alike for new and taken addresses. It needs
	// email on.
	RequireVerified bool
}

// loadMailConfig reads the mail variables. issuer is the default public URL.
func loadMailConfig(r *envReader, env, issuer string) MailConfig {
	m := MailConfig{
		On:           r.boolean("AUTHD_EMAIL", true),
		SMTPURL:      r.str("AUTHD_SMTP_URL", ""),
		From:         r.str("AUTHD_MAIL_FROM", ""),
		TemplatesDir: r.str("AUTHD_MAIL_TEMPLATES_DIR", ""),
		PublicURL:    r.str("AUTHD_PUBLIC_URL", issuer),
		// issuer is empty when it is made from the address bound.
		AppURL:       r.str("AUTHD_APP_URL", ""),
		SMTPTimeout:  r.duration("AUTHD_SMTP_TIMEOUT", 30*time.Second, time.Second, 5*time.Minute),
		PollInterval: r.duration("AUTHD_MAIL_POLL_INTERVAL", time.Second, 10*time.Millisecond, time.Minute),

		RequireVerified: r.boolean("AUTHD_REQUIRE_VERIFIED_EMAIL", false),
	}
	if m.SMTPURL != "" {
		if _, err := smtp.ParseURL(m.SMTPURL); err != nil {
			// Not r.fail: the value holds a password.
			r.errs = append(r.errs, fmt.Errorf("AUTHD_SMTP_URL: %w", err))
		}
		if m.From == "" {
			r.errs = append(r.errs, errors.New(`AUTHD_MAIL_FROM is required with AUTHD_SMTP_URL (for example "authd <no-reply@example.com>")`))
		}
	}
	if m.From != "" {
		if _, err := mail.ParseAddress(m.From); err != nil {
			r.fail("AUTHD_MAIL_FROM", m.From, `must be an address, optionally with a name: "authd <no-reply@example.com>"`)
		}
	}
	if _, err := application.NewLinks(m.PublicURL, ""); err != nil && strings.TrimSpace(r.getenv("AUTHD_PUBLIC_URL")) != "" {
		r.fail("AUTHD_PUBLIC_URL", m.PublicURL, err.Error())
	}
	if m.AppURL != "" {
		if _, err := application.NewLinks("http://localhost", m.AppURL); err != nil {
			r.fail("AUTHD_APP_URL", m.AppURL, err.Error())
		}
	}
	if m.On && m.SMTPURL == "" && env == "dev" {
		m.On = false
	}
	if m.RequireVerified && !m.On {
		r.errs = append(r.errs, errors.New("AUTHD_REQUIRE_VERIFIED_EMAIL=on needs email on (AUTHD_EMAIL and AUTHD_SMTP_URL): "+
			"nobody could verify an address, so nobody could log in"))
	}
	return m
}

// links returns the link builder of m, whose URLs LoadConfig checked;
// issuer is the public URL when AUTHD_PUBLIC_URL and AUTHD_ISSUER are unset.
func (m MailConfig) links(issuer string) application.Links {
	public := m.PublicURL
	if public == "" {
		public = issuer
	}
	l, err := application.NewLinks(public, m.AppURL)
	if err != nil {
		// Only a default public URL built from a bad HTTP_ADDR gets here,
		// and LoadConfig has refused that already.
		return application.Links{}
	}
	return l
}
