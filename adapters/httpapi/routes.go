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
	// body is the media type the request body must have; other media types
	// are refused before any handler runs.
	body bodyKind
	// private answers carry user data or tokens: every one of them, errors
	// included, has Cache-Control: no-store.
	private bool
	// email routes belong to the email flows: with email off
	// (Config.Email false) they are not served, and answer 404.
	email bool
	// page routes are authd's hosted pages: HTML in and out, errors
	// included (see pages.go).
	page bool
}

// bodyKind is what a route reads from the request body.
type bodyKind int

const (
	// bodyNone routes read no body, whatever its media type.
	bodyNone bodyKind = iota
	// bodyJSON routes require Content-Type: application/json (415 otherwise),
	// which also keeps cross-site "simple" form posts out.
	bodyJSON
	// bodyForm routes require application/x-www-form-urlencoded (RFC 6749).
	bodyForm
	// bodyOptionalJSON routes take an optional body, which must then be
	// application/json.
	bodyOptionalJSON
)

// routeTable lists every route of the API; it is also what 405 answers, the
// Allow header and CORS preflights are computed from.
func (s *server) routeTable() []route {
	bearer := s.authenticate
	admin := []fiber.Handler{s.authenticate, s.requireAdmin}
	// public: answers anyone may cache; private: answers about a user or
	// their tokens; json: private, with a JSON body; oauth: private, with a
	// form body, answering errors the OAuth way.
	public := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h, body: bodyNone}
	}
	private := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h, private: true, body: bodyNone}
	}
	json := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h, private: true, body: bodyJSON}
	}
	oauth := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h, private: true, body: bodyForm, oauth: true}
	}
	optionalJSON := func(method, path string, h ...fiber.Handler) route {
		return route{method: method, path: path, handlers: h, private: true, body: bodyOptionalJSON}
	}
	withAdmin := func(h fiber.Handler) []fiber.Handler { return append(append([]fiber.Handler{}, admin...), h) }
	// email: a route of the email flows. page: a hosted page, private
	// HTML; its POST takes a form.
	email := func(r route) route {
		r.email = true
		return r
	}
	page := func(method, path string, h fiber.Handler) route {
		body := bodyNone
		if method == fiber.MethodPost {
			body = bodyForm
		}
		return route{method: method, path: path, handlers: []fiber.Handler{h}, private: true, body: body, email: true, page: true}
	}
	return []route{
		public(fiber.MethodGet, "/healthz", s.healthz),
		public(fiber.MethodGet, "/readyz", s.readyz),
		public(fiber.MethodGet, "/openapi.json", s.openapi),
		public(fiber.MethodGet, "/.well-known/jwks.json", s.jwks),
		public(fiber.MethodGet, "/.well-known/oauth-authorization-server", s.metadata),

		json(fiber.MethodPost, "/v1/auth/register", s.register),
		json(fiber.MethodPost, "/v1/auth/login", s.login),
		json(fiber.MethodPost, "/v1/auth/refresh", s.refresh),
		json(fiber.MethodPost, "/v1/auth/logout", s.logout),
		private(fiber.MethodPost, "/v1/auth/logout-all", bearer, s.logoutAll),

		private(fiber.MethodGet, "/v1/users/me", bearer, s.meWithMFA),
		json(fiber.MethodPost, "/v1/users/me/password", bearer, s.changePassword),
		private(fiber.MethodGet, "/v1/users/me/sessions", bearer, s.listSessions),
		private(fiber.MethodDelete, "/v1/users/me/sessions/:id", bearer, s.revokeSession),

		// Multi-factor authentication (mfa_handlers.go).
		json(fiber.MethodPost, "/v1/users/me/mfa/totp", bearer, s.enrollTOTP),
		json(fiber.MethodDelete, "/v1/users/me/mfa/totp", bearer, s.removeTOTP),
		json(fiber.MethodPost, "/v1/users/me/mfa/totp/confirm", bearer, s.confirmTOTP),
		json(fiber.MethodPost, "/v1/users/me/mfa/recovery-codes", bearer, s.regenerateRecoveryCodes),
		json(fiber.MethodPost, "/v1/users/me/passkeys/begin", bearer, s.beginPasskeyRegistration),
		json(fiber.MethodPost, "/v1/users/me/passkeys/finish", bearer, s.finishPasskeyRegistration),
		private(fiber.MethodGet, "/v1/users/me/passkeys", bearer, s.listPasskeys),
		json(fiber.MethodPatch, "/v1/users/me/passkeys/:id", bearer, s.renamePasskey),
		optionalJSON(fiber.MethodDelete, "/v1/users/me/passkeys/:id", bearer, s.removePasskey),
		json(fiber.MethodPost, "/v1/auth/mfa", s.completeMFA),
		json(fiber.MethodPost, "/v1/auth/mfa/webauthn/begin", s.beginMFAPasskey),
		private(fiber.MethodPost, "/v1/auth/passkey/begin", s.beginPasskeyLogin),
		json(fiber.MethodPost, "/v1/auth/passkey/finish", s.finishPasskeyLogin),
		private(fiber.MethodDelete, "/v1/admin/users/:id/mfa", withAdmin(s.resetUserMFA)...),

		private(fiber.MethodGet, "/v1/admin/users", withAdmin(s.listUsers)...),
		private(fiber.MethodGet, "/v1/admin/users/:id", withAdmin(s.getUser)...),
		json(fiber.MethodPatch, "/v1/admin/users/:id", withAdmin(s.patchUser)...),
		private(fiber.MethodPost, "/v1/admin/users/:id/sessions/revoke", withAdmin(s.revokeUserSessions)...),
		private(fiber.MethodGet, "/v1/admin/audit", withAdmin(s.listAudit)...),

		oauth(fiber.MethodPost, "/oauth/token", s.oauthToken),
		oauth(fiber.MethodPost, "/oauth/revoke", s.oauthRevoke),

		email(json(fiber.MethodPost, "/v1/auth/password-reset", s.requestPasswordReset)),
		email(json(fiber.MethodPost, "/v1/auth/password-reset/confirm", s.confirmPasswordReset)),
		email(json(fiber.MethodPost, "/v1/auth/verify-email", s.verifyEmail)),
		email(private(fiber.MethodPost, "/v1/auth/verify-email/resend", bearer, s.resendVerification)),
		email(json(fiber.MethodPost, "/v1/users/me/email", bearer, s.requestEmailChange)),
		email(json(fiber.MethodPost, "/v1/auth/confirm-email-change", s.confirmEmailChange)),
		email(private(fiber.MethodPost, "/v1/admin/users/:id/password-reset", withAdmin(s.sendPasswordReset)...)),
		page(fiber.MethodGet, resetPasswordPage, s.resetPasswordForm),
		page(fiber.MethodPost, resetPasswordPage, s.resetPassword),
		page(fiber.MethodGet, verifyEmailPage, s.verifyEmailForm),
		page(fiber.MethodPost, verifyEmailPage, s.verifyEmailPost),
		page(fiber.MethodGet, confirmEmailChangePage, s.confirmEmailChangeForm),
		page(fiber.MethodPost, confirmEmailChangePage, s.confirmEmailChangePost),
	}
}

// unmatched answers requests no route took: 405 with Allow when the path
// exists under other methods (OPTIONS, answered by preflight, among them),
// 404 otherwise.
func (s *server) unmatched(c *fiber.Ctx) error {
	allowed := s.methodsOf(c.Path())
	if len(allowed) == 0 {
		return errNotFound
	}
	c.Set(fiber.HeaderAllow, allowHeader(allowed))
	return errMethodNotAllowed
}

// allowHeader is the Allow header of a path served under methods: those
// methods and OPTIONS, sorted.
func allowHeader(methods []string) string {
	all := append(append([]string(nil), methods...), fiber.MethodOptions)
	sort.Strings(all)
	return strings.Join(all, ", ")
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
