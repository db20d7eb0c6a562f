package httpapi

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"authd/domain"
)

// Keys of values handlers leave in c.Locals.
const (
	principalKey = "authd.principal"
	callerKey    = "authd.caller"
	userIDKey    = "authd.user_id"
)

// maxBearerBytes bounds the Authorization header before any parsing.
const maxBearerBytes = 8 << 10

// authenticate requires a valid bearer access token whose session is still
// live and whose user is active (one database lookup, which also reads the
// user), and stores the principal and that user for the handlers.
func (s *server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(h) > maxBearerBytes {
		return domain.ErrInvalidAccessToken
	}
	p, err := s.deps.Verifier.Verify(strings.TrimSpace(token), s.deps.Clock.Now())
	if err != nil {
		return domain.ErrInvalidAccessToken
	}
	c.Locals(userIDKey, int64(p.UserID))
	u, err := s.uc.CurrentUser.Do(c.UserContext(), p)
	if err != nil {
		return err
	}
	c.Locals(principalKey, p)
	c.Locals(callerKey, u)
	return c.Next()
}

// requireAdmin lets only callers who are active admins in the database
// through, whatever role their token claims. It runs after authenticate
// and decides on the user authenticate read.
func (s *server) requireAdmin(c *fiber.Ctx) error {
	if err := s.uc.AuthorizeAdmin.Do(caller(c)); err != nil {
		return err
	}
	return c.Next()
}

// principal returns the caller's token as authenticate verified it.
func principal(c *fiber.Ctx) domain.Principal {
	p, _ := c.Locals(principalKey).(domain.Principal)
	return p
}

// caller returns the caller's account as authenticate read it.
func caller(c *fiber.Ctx) *domain.User {
	u, _ := c.Locals(callerKey).(*domain.User)
	return u
}

// deadline gives the request its deadline: Fiber's user context is
// context.Background() unless set, and every handler passes it on, so the
// use cases, the hasher's queue and the database all stop waiting when the
// request has run out of time (answered 503 overloaded).
func (s *server) deadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// observe logs every request and records its metrics. It never logs
// bodies, tokens or the Authorization header.
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Answer now so that the status logged is the status sent.
		if herr := s.handleError(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	route := routeOf(c)
	elapsed := time.Since(start)
	method := stableMethod(c.Method())
	s.deps.Metrics.observeRequest(method, route, status, elapsed)
	ctx := c.UserContext()
	if !s.deps.Log.Enabled(ctx, slog.LevelInfo) {
		return nil // the attributes are built only for a line written
	}
	attrs := []any{
		"request_id", requestID(c),
		"method", method,
		"route", route,
		"status", status,
		"duration_ms", float64(elapsed.Microseconds()) / 1000,
	}
	if uid, ok := c.Locals(userIDKey).(int64); ok {
		attrs = append(attrs, "user_id", strconv.FormatInt(uid, 10))
	}
	s.deps.Log.InfoContext(ctx, "request", attrs...)
	return nil
}

// stableMethod returns method as a string that outlives the request: Fiber's
// strings alias buffers that are reused by later requests, and metric labels
// and log lines outlive it. The methods the API serves need no copy.
func stableMethod(method string) string {
	for _, m := range [...]string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPatch,
		fiber.MethodDelete, fiber.MethodOptions, fiber.MethodPut} {
		if method == m {
			return m
		}
	}
	return utils.CopyString(method)
}
