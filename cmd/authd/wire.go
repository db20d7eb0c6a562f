package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
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
	"authd/adapters/ratelimit"
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
		fx.StopTimeout(cfg.ShutdownTimeout + 5*time.Second),
		fx.Provide(
			newLogger,
			newDB,
			newHasher,
			newTokens,
			newMetrics,
			fx.Annotate(func() systemClock { return systemClock{} }, fx.As(new(ports.Clock))),
			newUseCases,
			newHTTP,
		),
		fx.Invoke(tuneGC, startHTTP),
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
	return log
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
	return password.NewHasher(cfg.Argon2, cfg.HashConcurrency)
}

// newTokens loads the signing key and the extra verification keys.
func newTokens(cfg Config) (*jwt.Issuer, error) {
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
		Issuer:          cfg.Issuer,
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
func newUseCases(cfg Config, db *bun.DB, clock ports.Clock, hasher *password.Hasher, tokens *jwt.Issuer, log *slog.Logger) *application.UseCases {
	return application.New(useCaseDeps(cfg, db, clock, hasher, tokens, log))
}

// useCaseDeps assembles what the use cases are built from: the PostgreSQL
// repositories on db, the rate limits of cfg, and the given parts. tokens
// may be nil for commands that issue no tokens.
func useCaseDeps(cfg Config, db *bun.DB, clock ports.Clock, hasher ports.PasswordHasher, tokens ports.AccessTokenIssuer, log *slog.Logger) application.Deps {
	limiter := func(l RateLimit) ports.RateLimiter {
		if !cfg.RateLimits {
			return application.Unlimited
		}
		return ratelimit.New(l.N, l.Window)
	}
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
		Limits: application.Limits{
			LoginPerIP:      limiter(cfg.LoginPerIP),
			LoginPerAccount: limiter(cfg.LoginPerAccount),
			RegisterPerIP:   limiter(cfg.RegisterPerIP),
		},
	}
}

// httpDeps are the parts of the HTTP layer.
type httpDeps struct {
	fx.In
	Cfg     Config
	Log     *slog.Logger
	DB      *bun.DB
	Clock   ports.Clock
	Tokens  *jwt.Issuer
	Metrics *httpapi.Metrics
	UC      *application.UseCases
}

func newHTTP(d httpDeps) *fiber.App {
	return httpapi.New(httpapi.Config{
		Issuer:       d.Cfg.Issuer,
		ReadTimeout:  d.Cfg.HTTPReadTimeout,
		WriteTimeout: d.Cfg.HTTPWriteTimeout,
		IdleTimeout:  d.Cfg.HTTPIdleTimeout,
	}, httpapi.Deps{
		UseCases: d.UC,
		Verifier: d.Tokens,
		Clock:    d.Clock,
		Ready:    d.DB.PingContext,
		JWKS:     d.Tokens.JWKS(),
		Log:      d.Log,
		Metrics:  d.Metrics,
	})
}

// startHTTP binds the listener synchronously in OnStart, so a busy port
// fails start-up, serves in the background, and on stop lets in-flight
// requests finish before returning.
func startHTTP(lc fx.Lifecycle, sd fx.Shutdowner, cfg Config, app *fiber.App, log *slog.Logger) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.HTTPAddr)
			if err != nil {
				return fmt.Errorf("HTTP_ADDR: %w", err)
			}
			log.Info("authd listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer)
			go func() {
				if err := app.Listener(ln); err != nil {
					log.Error("http server stopped", "err", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			return app.ShutdownWithContext(ctx)
		},
	})
}
