package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	handler     http.Handler
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
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// Registry returns the registry the metrics live in, so other components
// (the password hasher, the database pool) can add theirs.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, statusLabel(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// countLogin counts a login by its result label, one of the error table's.
func (m *Metrics) countLogin(result string) {
	m.logins.WithLabelValues(result).Inc()
	m.countRateLimited(result)
}

// countRefresh counts a rotation by its result label, one of the error table's.
func (m *Metrics) countRefresh(result string) {
	m.refreshes.WithLabelValues(result).Inc()
	if result == resultReused {
		m.reuse.Inc()
	}
}

func (m *Metrics) countRateLimited(result string) {
	if result == resultRateLimited {
		m.rateLimited.Inc()
	}
}

// Handler serves the metrics in the Prometheus text format. It belongs on
// a listener of its own (AUTHD_METRICS_ADDR), never on the API's: the API
// answers 404 for /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// statusLabels are the status codes 100 to 599 as label values, so that
// counting a request does not format its status.
var statusLabels = func() []string {
	l := make([]string, 600)
	for i := 100; i < len(l); i++ {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(status int) string {
	if status >= 100 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}
