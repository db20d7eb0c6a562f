// Package httpapi is authd's HTTP adapter: Fiber handlers that decode
// requests, call the application's use cases and answer JSON, RFC 9457
// problems for errors, and RFC 6749 shapes on the OAuth endpoints.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"authd/application"
	"authd/ports"
)

// BodyLimit is the largest accepted request body.
const BodyLimit = 64 << 10

// DefaultRequestTimeout is the deadline of a request when Config sets none.
const DefaultRequestTimeout = 10 * time.Second

// Config is the HTTP layer's configuration.
type Config struct {
	// Issuer is the public base URL of the service, used in the RFC 8414
	// metadata (for example https://auth.example.com), exactly as the
	// tokens' iss claim spells it. An https issuer turns HSTS on.
	Issuer       string
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// TrustedProxies are the reverse proxies whose forwarding headers name
	// the client; by default nobody's.
	TrustedProxies TrustedProxies
	// CORSOrigins may call the API from a browser; by default none.
	CORSOrigins Origins

	// RequestTimeout is each request's deadline: its user context, which
	// every handler passes down to the use cases, the hasher and the
	// database, ends after it. Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration

	// Email serves the routes of the email flows (AUTHD_EMAIL); off, they
	// answer 404 like any unknown path.
	Email bool
	// PublicURL is where the hosted pages are served (AUTHD_PUBLIC_URL;
	// empty: the issuer): a form post whose Origin is another origin is
	// refused.
	PublicURL string
}

// Deps is everything New needs.
type Deps struct {
	UseCases *application.UseCases
	Verifier ports.AccessTokenVerifier
	Clock    ports.Clock
	// Ready reports whether the database answers, or ErrDraining while the
	// server drains before it stops; it backs /readyz.
	Ready func(ctx context.Context) error
	// JWKS is the JSON Web Key Set document served at /.well-known/jwks.json.
	JWKS    []byte
	Log     *slog.Logger
	Metrics *Metrics
}

// server holds the handlers' dependencies.
type server struct {
	cfg    Config
	uc     *application.UseCases
	deps   Deps
	routes []route
	// hsts is whether answers carry Strict-Transport-Security.
	hsts bool
	// pageOrigin is the origin of the hosted pages, which their forms
	// post from.
	pageOrigin string
}

// New returns the Fiber app serving authd's API.
func New(cfg Config, deps Deps) *fiber.App {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(nil)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	s := &server{cfg: cfg, uc: deps.UseCases, deps: deps, hsts: strings.HasPrefix(cfg.Issuer, "https://")}
	app := fiber.New(fiber.Config{
		AppName:               "authd",
		BodyLimit:             BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		// Header and path limits far above any legitimate request.
		ReadBufferSize: 16 << 10,
	})
	app.Use(s.stamp)
	app.Use(s.observe)
	app.Use(recover.New())
	app.Use(s.preflight)
	app.Use(s.deadline)
	for _, r := range s.routeTable() {
		if r.email && !cfg.Email {
			continue
		}
		s.routes = append(s.routes, r)
	}
	s.pageOrigin = pageOrigin(cfg)
	for _, r := range s.routes {
		handlers := append([]fiber.Handler{guard(r)}, r.handlers...)
		app.Add(r.method, r.path, handlers...)
		if r.method == fiber.MethodGet {
			app.Add(fiber.MethodHead, r.path, handlers...)
		}
	}
	app.Use(s.unmatched)
	return app
}

// handleError is Fiber's error handler: every error is classified once and
// leaves in the shape its route speaks, a problem document or, on the OAuth
// endpoints, an RFC 6749 §5.2 error.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	s.stampHeaders(c)
	f := classify(err)
	if f.row.logged {
		s.deps.Log.ErrorContext(c.UserContext(), "request failed",
			"request_id", requestID(c), "method", c.Method(), "route", routeOf(c), "err", f.err)
	}
	r, ok := s.matchedRoute(c)
	switch {
	case ok && r.oauth:
		return writeOAuthError(c, f)
	case ok && r.page:
		return writePageError(c, f)
	}
	return writeProblem(c, f)
}

// readyTimeout bounds /readyz's database check.
const readyTimeout = 2 * time.Second

func (s *server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), readyTimeout)
	defer cancel()
	if s.deps.Ready == nil {
		return errors.New("readiness check not configured")
	}
	if err := s.deps.Ready(ctx); err != nil {
		if errors.Is(err, ErrDraining) {
			return err
		}
		s.deps.Log.WarnContext(ctx, "readiness check failed", "err", err)
		return ports.ErrUnavailable
	}
	return c.JSON(fiber.Map{"status": "ok"})
}
