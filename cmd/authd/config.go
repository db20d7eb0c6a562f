package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"authd/adapters/password"
	"authd/adapters/postgres"
	"authd/domain"
)

// RateLimit allows N attempts per Window.
type RateLimit struct {
	N      int
	Window time.Duration
}

// Config is the server's configuration, read from environment variables.
// Every field has a documented default (see README.md); a bad value stops
// start-up with an error naming the variable.
type Config struct {
	Env                    string     // AUTHD_ENV: "prod" (JSON logs) or "dev" (text logs)
	LogLevel               slog.Level // AUTHD_LOG_LEVEL
	DatabaseURL            string     // DATABASE_URL
	HTTPAddr               string     // HTTP_ADDR
	Issuer                 string     // AUTHD_ISSUER
	Audience               string     // AUTHD_AUDIENCE
	JWTPrivateKeyFile      string     // AUTHD_JWT_PRIVATE_KEY_FILE
	JWTExtraPublicKeyFiles []string   // AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES
	AccessTokenTTL         time.Duration
	Session                domain.SessionPolicy
	Argon2                 password.Params
	HashConcurrency        int
	RateLimits             bool
	LoginPerIP             RateLimit
	LoginPerAccount        RateLimit
	RegisterPerIP          RateLimit
	DB                     postgres.PoolOptions
	HTTPReadTimeout        time.Duration
	HTTPWriteTimeout       time.Duration
	HTTPIdleTimeout        time.Duration
	ShutdownTimeout        time.Duration
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

// rate parses "N/DURATION", for example "10/1m".
func (r *envReader) rate(name string, def RateLimit) RateLimit {
	raw := strings.TrimSpace(r.getenv(name))
	if raw == "" {
		return def
	}
	ns, ds, ok := strings.Cut(raw, "/")
	n, err1 := strconv.Atoi(ns)
	d, err2 := time.ParseDuration(ds)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > 1_000_000 || d < time.Second || d > 24*time.Hour {
		r.fail(name, raw, `must look like "10/1m": 1 to 1000000 attempts per 1s to 24h`)
		return def
	}
	return RateLimit{N: n, Window: d}
}

// LoadConfig reads the configuration through getenv (os.Getenv in production).
func LoadConfig(getenv func(string) string) (Config, error) {
	r := &envReader{getenv: getenv}
	pool := postgres.DefaultPoolOptions()
	c := Config{
		Env:               r.str("AUTHD_ENV", "prod"),
		DatabaseURL:       r.str("DATABASE_URL", ""),
		HTTPAddr:          r.str("HTTP_ADDR", "127.0.0.1:8080"),
		Audience:          r.str("AUTHD_AUDIENCE", "authd"),
		JWTPrivateKeyFile: r.str("AUTHD_JWT_PRIVATE_KEY_FILE", ""),
		AccessTokenTTL:    r.duration("AUTHD_ACCESS_TOKEN_TTL", 15*time.Minute, time.Minute, 24*time.Hour),
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
		LoginPerIP:      r.rate("AUTHD_LOGIN_LIMIT_PER_IP", RateLimit{N: 30, Window: time.Minute}),
		LoginPerAccount: r.rate("AUTHD_LOGIN_LIMIT_PER_ACCOUNT", RateLimit{N: 10, Window: time.Minute}),
		RegisterPerIP:   r.rate("AUTHD_REGISTER_LIMIT_PER_IP", RateLimit{N: 10, Window: time.Minute}),
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
	}
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
	if host == "" || host == "0.0.0.0" || host == "::" {
		// Listening on every interface: the default issuer still needs a host.
		host = "localhost"
	}
	c.Issuer = r.str("AUTHD_ISSUER", "http://"+net.JoinHostPort(host, port))
	// A default issuer built from a bad HTTP_ADDR is HTTP_ADDR's fault alone.
	issuerSet := strings.TrimSpace(getenv("AUTHD_ISSUER")) != ""
	if (addrOK || issuerSet) && !validIssuer(c.Issuer) {
		r.fail("AUTHD_ISSUER", c.Issuer, "must be an http(s) URL without query or fragment")
	}
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
	return c, errors.Join(r.errs...)
}

// validIssuer reports whether s is an http(s) URL with a host and without
// query or fragment.
func validIssuer(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
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
	return errors.Join(errs...)
}
