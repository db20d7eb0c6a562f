package httpapi

import (
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// route is one entry of the API.
type route struct {
	method   string
	path     string
	handlers []fiber.Handler
	// oauth routes speak OAuth 2.0: their errors take the RFC 6749 §5.2
	// shape instead of a problem document.
	oauth bool
}

// routeTable lists every route of the API; it is also what 405 answers and
// the Allow header are computed from.
func (s *server) routeTable() []route {
	bearer := s.authenticate
	admin := []fiber.Handler{s.authenticate, s.requireAdmin}
	r := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h}
	}
	oauth := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h, oauth: true}
	}
	withAdmin := func(h fiber.Handler) []fiber.Handler { return append(append([]fiber.Handler{}, admin...), h) }
	return []route{
		r(fiber.MethodGet, "/healthz", s.healthz),
		r(fiber.MethodGet, "/readyz", s.readyz),
		r(fiber.MethodGet, "/metrics", s.metrics),
		r(fiber.MethodGet, "/openapi.json", s.openapi),
		r(fiber.MethodGet, "/.well-known/jwks.json", s.jwks),
		r(fiber.MethodGet, "/.well-known/oauth-authorization-server", s.metadata),

		r(fiber.MethodPost, "/v1/auth/register", s.register),
		r(fiber.MethodPost, "/v1/auth/login", s.login),
		r(fiber.MethodPost, "/v1/auth/refresh", s.refresh),
		r(fiber.MethodPost, "/v1/auth/logout", s.logout),
		r(fiber.MethodPost, "/v1/auth/logout-all", bearer, s.logoutAll),

		r(fiber.MethodGet, "/v1/users/me", bearer, s.me),
		r(fiber.MethodPost, "/v1/users/me/password", bearer, s.changePassword),
		r(fiber.MethodGet, "/v1/users/me/sessions", bearer, s.listSessions),
		r(fiber.MethodDelete, "/v1/users/me/sessions/:id", bearer, s.revokeSession),

		r(fiber.MethodGet, "/v1/admin/users", withAdmin(s.listUsers)...),
		r(fiber.MethodGet, "/v1/admin/users/:id", withAdmin(s.getUser)...),
		r(fiber.MethodPatch, "/v1/admin/users/:id", withAdmin(s.patchUser)...),
		r(fiber.MethodPost, "/v1/admin/users/:id/sessions/revoke", withAdmin(s.revokeUserSessions)...),
		r(fiber.MethodGet, "/v1/admin/audit", withAdmin(s.listAudit)...),

		oauth(fiber.MethodPost, "/oauth/token", s.oauthToken),
		oauth(fiber.MethodPost, "/oauth/revoke", s.oauthRevoke),
	}
}

// unmatched answers requests no route took: 405 with Allow when the path
// exists under other methods, 404 otherwise.
func (s *server) unmatched(c *fiber.Ctx) error {
	var allowed []string
	for _, r := range s.routes {
		if pathMatches(r.path, c.Path()) {
			allowed = append(allowed, r.method)
			if r.method == fiber.MethodGet {
				allowed = append(allowed, fiber.MethodHead)
			}
		}
	}
	if len(allowed) == 0 {
		return errNotFound
	}
	sort.Strings(allowed)
	c.Set(fiber.HeaderAllow, strings.Join(allowed, ", "))
	return errMethodNotAllowed
}

// pathMatches reports whether path fits pattern, where a ":name" segment
// matches any one non-empty segment.
func pathMatches(pattern, path string) bool {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], ":") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// routeOf returns the matched route pattern, for logs and metric labels;
// unmatched requests share one label so that label cardinality stays bounded.
func routeOf(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Path == "" || r.Path == "/" {
		return "unmatched"
	}
	return r.Path
}

// matchedRoute returns the table's route that c matched. A request refused
// before routing (a body over the limit) matched none; Fiber then reports
// the request's own method and path as its route, which find a table route
// only when they spell it exactly. Requests that reached the catch-all
// (unknown paths and methods) find none.
func (s *server) matchedRoute(c *fiber.Ctx) (route, bool) {
	m := c.Route()
	method := m.Method
	if method == fiber.MethodHead {
		method = fiber.MethodGet // HEAD is served by the GET route
	}
	for _, r := range s.routes {
		if r.method == method && r.path == m.Path {
			return r, true
		}
	}
	return route{}, false
}
