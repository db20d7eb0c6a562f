package httpapi

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"authd/domain"
)

// Metrics are the Prometheus metrics of the HTTP layer. Route labels are
// route patterns, never raw paths, so cardinality stays bounded.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	reuse       prometheus.Counter
	rateLimited prometheus.Counter
	handler     fiber.Handler
}

// NewMetrics registers authd's HTTP metrics on reg (a new registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authd_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_logins_total", Help: "Login attempts by result.",
		}, []string{"result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_refreshes_total", Help: "Refresh-token rotations by result.",
		}, []string{"result"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_token_reuse_detected_total", Help: "Rotated refresh tokens presented again (sessions ended as stolen).",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_rate_limited_total", Help: "Requests refused by a rate limit.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.logins, m.refreshes, m.reuse, m.rateLimited)
	m.handler = adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

// Registry returns the registry the metrics live in, so other components
// (the password hasher, the database pool) can add theirs.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// result names the outcome of a login or refresh for metric labels.
func result(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, domain.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, domain.ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, domain.ErrAccountDisabled):
		return "account_disabled"
	case errors.Is(err, domain.ErrRefreshTokenReused):
		return "reused"
	case errors.Is(err, domain.ErrInvalidRefreshToken):
		return "invalid"
	default:
		return "error"
	}
}

func (m *Metrics) countLogin(err error) {
	m.logins.WithLabelValues(result(err)).Inc()
	m.countRateLimited(err)
}

func (m *Metrics) countRefresh(err error) {
	m.refreshes.WithLabelValues(result(err)).Inc()
	if errors.Is(err, domain.ErrRefreshTokenReused) {
		m.reuse.Inc()
	}
}

func (m *Metrics) countRateLimited(err error) {
	if errors.Is(err, domain.ErrRateLimited) {
		m.rateLimited.Inc()
	}
}

func (s *server) metrics(c *fiber.Ctx) error {
	return s.deps.Metrics.handler(c)
}
