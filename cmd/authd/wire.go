package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uptrace/bun"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"authd/adapters/httpapi"
	"authd/adapters/jwt"
	"authd/adapters/password"
	"authd/adapters/postgres"
	"authd/application"
	"authd/ports"
)

// newApp wires the server. extra options let tests replace or add parts.
func newApp(cfg Config, extra ...fx.Option) *fx.App {
	opts := []fx.Option{
		fx.Supply(cfg),
		fx.WithLogger(func(log *slog.Logger) fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		fx.StartTimeout(cfg.DB.DialTimeout + 10*time.Second),
		fx.StopTimeout(cfg.ShutdownDrain + cfg.ShutdownTimeout + 5*time.Second),
		fx.Provide(
			newLogger,
			newAPIListener,
			newIssuer,
			newDB,
			newHasher,
			newTokens,
			newMetrics,
			fx.Annotate(func() systemClock { return systemClock{} }, fx.As(new(ports.Clock))),
			newLimiter,
			newUseCases,
			func() *draining { return &draining{} },
			newHTTP,
		),
		// drainDeferred before startHTTP: hooks stop in reverse order, so
		// the deferred work is waited for once the API stops taking requests.
		fx.Invoke(func(cfg Config, log *slog.Logger) { reserveProcs(cfg, log) }, tuneGC, startMetrics, startJanitor, drainDeferred, startHTTP),
		mailModule,
		mfaModule,
	}
	return fx.New(append(opts, extra...)...)
}

// newLogger returns JSON logs in production and text logs in development.
func newLogger(cfg Config) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(os.Stdout, o)
	if cfg.Env == "dev" {
		h = slog.NewTextHandler(os.Stdout, o)
	}
	log := slog.New(h)
	if !cfg.RateLimits {
		log.Warn("rate limits are off (AUTHD_RATE_LIMITS=off): use this only for load tests and benchmarks")
	}
	for _, w := range cfg.warnings() {
		log.Warn(w)
	}
	return log
}

// newAPIListener binds HTTP_ADDR while the server is being built, before
// anything that needs the issuer: the default issuer names the port
// actually bound (HTTP_ADDR=127.0.0.1:0 included). startHTTP serves on it.
func newAPIListener(lc fx.Lifecycle, cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR: %w", err)
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		_ = ln.Close() // already closed by the server's shutdown when it served
		return nil
	}})
	return ln, nil
}

// issuerURL is the issuer every part of the server names: the tokens' iss,
// the metadata's issuer and the base of its endpoint URLs.
type issuerURL string

func newIssuer(cfg Config, ln net.Listener) issuerURL {
	return issuerURL(cfg.issuerFor(ln.Addr()))
}

// newDB opens the database, pings it on start, logs how its connections
// send the statements the repositories prepare, and closes it on stop.
func newDB(lc fx.Lifecycle, cfg Config, log *slog.Logger) (*bun.DB, error) {
	db, err := postgres.Open(cfg.DatabaseURL, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := db.PingContext(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			how, err := postgres.StatementsOf(ctx, db)
			if err != nil {
				return fmt.Errorf("database: %w", err)
			}
			log.Info("database connected", "statements", string(how), "AUTHD_DB_PREPARED", cfg.DB.Prepared.String())
			return nil
		},
		OnStop: func(context.Context) error { return db.Close() },
	})
	return db, nil
}

func newHasher(cfg Config) (*password.Hasher, error) {
	return password.NewHasher(cfg.Argon2, cfg.HashConcurrency, cfg.HashQueue)
}

// newTokens loads the signing key and the extra verification keys.
func newTokens(cfg Config, iss issuerURL) (*jwt.Issuer, error) {
	pemBytes, err := os.ReadFile(cfg.JWTPrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("AUTHD_JWT_PRIVATE_KEY_FILE: %w", err)
	}
	key, err := jwt.LoadPrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("AUTHD_JWT_PRIVATE_KEY_FILE: %w", err)
	}
	var extra []ed25519.PublicKey
	for _, f := range cfg.JWTExtraPublicKeyFiles {
		b, err := os.ReadFile(f)
		if err == nil {
			var pub ed25519.PublicKey
			if pub, err = jwt.LoadPublicKey(b); err == nil {
				extra = append(extra, pub)
				continue
			}
		}
		return nil, fmt.Errorf("AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES: %s: %w", f, err)
	}
	return jwt.New(jwt.Config{
		PrivateKey:      key,
		ExtraPublicKeys: extra,
		Issuer:          string(iss),
		Audience:        cfg.Audience,
		TTL:             cfg.AccessTokenTTL,
	})
}

// newMetrics registers the HTTP metrics and those of the password queue,
// the database pool and the Go runtime.
func newMetrics(db *bun.DB, hasher *password.Hasher) *httpapi.Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db.DB, "authd"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_password_hash_queue_depth", Help: "Password hashes waiting for a slot.",
		}, func() float64 { return float64(hasher.QueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_password_hash_in_flight", Help: "Password hashes running now.",
		}, func() float64 { return float64(hasher.InFlight()) }),
	)
	return httpapi.NewMetrics(reg)
}

// newUseCases builds the server's use cases.
func newUseCases(cfg Config, db *bun.DB, clock ports.Clock, hasher *password.Hasher, tokens *jwt.Issuer, limiter ports.Limiter, log *slog.Logger, mail mailTemplates, iss issuerURL, mfa mfaParts) *application.UseCases {
	return application.New(withMFA(withMail(useCaseDeps(cfg, db, clock, hasher, tokens, limiter, log), cfg, mail, string(iss)), db, mfa))
}

// useCaseDeps assembles what the use cases are built from: the PostgreSQL
// repositories on db and the given parts. tokens may be nil for commands
// that issue no tokens.
func useCaseDeps(cfg Config, db *bun.DB, clock ports.Clock, hasher ports.PasswordHasher, tokens ports.AccessTokenIssuer, limiter ports.Limiter, log *slog.Logger) application.Deps {
	return application.Deps{
		Users:    postgres.NewUserRepository(db),
		Families: postgres.NewFamilyRepository(db),
		Audit:    postgres.NewAuditLog(db),
		Hasher:   hasher,
		Common:   password.NewCommonPasswords(),
		Tokens:   tokens,
		Clock:    clock,
		Random:   rand.Reader,
		Log:      log,
		Policy:   cfg.Session,
		Limiter:  limiter,

		OneTimeTokens: postgres.NewOneTimeTokenRepository(db),
	}
}

// newLimiter returns the abuse limiter of cfg: the PostgreSQL one, shared
// by every instance on the database, or application.NoLimits when
// AUTHD_RATE_LIMITS=off. The janitor prunes its expired rows.
func newLimiter(cfg Config, db *bun.DB) (ports.Limiter, error) {
	if !cfg.RateLimits {
		return application.NoLimits, nil
	}
	return postgres.NewLimiter(db, cfg.Limits)
}

// httpDeps are the parts of the HTTP layer.
type httpDeps struct {
	fx.In
	Cfg     Config
	Issuer  issuerURL
	Log     *slog.Logger
	DB      *bun.DB
	Clock   ports.Clock
	Tokens  *jwt.Issuer
	Metrics *httpapi.Metrics
	UC      *application.UseCases
	Drain   *draining
}

// draining is set when the server stops, for the time AUTHD_SHUTDOWN_DRAIN
// lets load balancers notice before the listener closes.
type draining struct{ atomic.Bool }

// ready is the readiness check: ping while serving, ErrDraining once
// draining.
func (d *draining) ready(ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if d.Load() {
			return httpapi.ErrDraining
		}
		return ping(ctx)
	}
}

func newHTTP(d httpDeps) *fiber.App {
	return httpapi.New(httpapi.Config{
		Issuer:         string(d.Issuer),
		ReadTimeout:    d.Cfg.HTTPReadTimeout,
		WriteTimeout:   d.Cfg.HTTPWriteTimeout,
		IdleTimeout:    d.Cfg.HTTPIdleTimeout,
		TrustedProxies: d.Cfg.TrustedProxies,
		CORSOrigins:    d.Cfg.CORSOrigins,
		RequestTimeout: d.Cfg.RequestTimeout,
		Email:          d.Cfg.Mail.On,
		PublicURL:      d.Cfg.Mail.PublicURL,
	}, httpapi.Deps{
		UseCases: d.UC,
		Verifier: d.Tokens,
		Clock:    d.Clock,
		Ready:    d.Drain.ready(d.DB.PingContext),
		JWKS:     d.Tokens.JWKS(),
		Log:      d.Log,
		Metrics:  d.Metrics,
	})
}

// drainDeferred waits, on stop, for the work that requests started without
// waiting for it (password reset lookups and mails), after the API has
// stopped taking requests and before the database closes.
func drainDeferred(lc fx.Lifecycle, uc *application.UseCases, log *slog.Logger) {
	lc.Append(fx.Hook{OnStop: func(ctx context.Context) error {
		if err := uc.Deferred.Wait(ctx); err != nil {
			log.Warn("deferred work did not finish before the shutdown timeout", "err", err)
		}
		return nil
	}})
}

// startHTTP serves the API on the listener newAPIListener bound (so a busy
// port fails start-up) in the background. On stop it drains first (see
// draining), then lets in-flight requests finish before returning.
func startHTTP(lc fx.Lifecycle, sd fx.Shutdowner, cfg Config, ln net.Listener, iss issuerURL, app *fiber.App, drain *draining, log *slog.Logger) {
	proxies := make([]string, 0, len(cfg.TrustedProxies.Prefixes()))
	for _, p := range cfg.TrustedProxies.Prefixes() {
		proxies = append(proxies, p.String())
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// What decides whose address a request has and which browsers may
			// call: the first thing to look at when all clients share one IP.
			log.Info("authd listening", "addr", ln.Addr().String(), "issuer", string(iss),
				"trusted_proxies", proxies, "cors_origins", cfg.CORSOrigins.List())
			go func() {
				if err := app.Listener(ln); err != nil {
					log.Error("http server stopped", "err", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			// Drain: /readyz answers 503 while everything else is still
			// served, so that load balancers stop sending requests here
			// before the listener closes.
			if cfg.ShutdownDrain > 0 {
				drain.Store(true)
				log.Info("draining", "for", cfg.ShutdownDrain.String())
				t := time.NewTimer(cfg.ShutdownDrain)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			return app.ShutdownWithContext(ctx)
		},
	})
}

// metricsReadHeaderTimeout bounds how long the metrics listener waits for a
// request's headers.
const metricsReadHeaderTimeout = 5 * time.Second

// startMetrics serves GET /metrics on AUTHD_METRICS_ADDR, a listener of its
// own, never the API's: it binds synchronously in OnStart (a busy port fails
// start-up, before the API serves) and shuts down on stop.
func startMetrics(lc fx.Lifecycle, sd fx.Shutdowner, cfg Config, m *httpapi.Metrics, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: metricsReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.MetricsAddr)
			if err != nil {
				return fmt.Errorf("AUTHD_METRICS_ADDR: %w", err)
			}
			log.Info("metrics listening", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("metrics server stopped", "err", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: srv.Shutdown,
	})
}
