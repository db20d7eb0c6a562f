package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"authd/application"
	"authd/domain"
	"authd/ports"
)

// problemTypePrefix prefixes the stable code to form a problem's type URI.
const problemTypePrefix = "urn:authd:problem:"

// Errors raised by the HTTP layer itself.
var (
	errMalformed        = errors.New("malformed request")
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTooLarge         = errors.New("request body too large")
	errMediaType        = errors.New("unsupported media type")
	errUnavailable      = errors.New("database unavailable")
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Code   string       `json:"code"`
	Errors []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// errorKind is one row of the table from errors to HTTP answers.
type errorKind struct {
	err    error
	status int
	code   string
	detail string
}

// errorTable maps every error the API answers on purpose. The first row
// whose err matches (errors.Is) wins, so specific errors come first.
var errorTable = []errorKind{
	{errMalformed, fiber.StatusBadRequest, "malformed_request", "The request body is not valid JSON of the expected shape."},
	{errNotFound, fiber.StatusNotFound, "not_found", "No resource exists at this path."},
	{errMethodNotAllowed, fiber.StatusMethodNotAllowed, "method_not_allowed", "This path does not support this method."},
	{errTooLarge, fiber.StatusRequestEntityTooLarge, "payload_too_large", "The request body exceeds 64 KiB."},
	{errMediaType, fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Send the request body as application/json."},
	{errUnavailable, fiber.StatusServiceUnavailable, "database_unavailable", "The database is not answering; try again shortly."},
	{ports.ErrUnavailable, fiber.StatusServiceUnavailable, "database_unavailable", "The database is not answering; try again shortly."},
	{domain.ErrEmailTaken, fiber.StatusConflict, "email_taken", "An account with this email already exists."},
	{application.ErrWrongCurrentPassword, fiber.StatusForbidden, "invalid_credentials", "The current password is not correct."},
	{domain.ErrInvalidCredentials, fiber.StatusUnauthorized, "invalid_credentials", "The email or password is not correct."},
	{domain.ErrAccountDisabled, fiber.StatusForbidden, "account_disabled", "This account has been disabled."},
	{domain.ErrRefreshTokenReused, fiber.StatusUnauthorized, "refresh_token_reused", "This refresh token was already used; the session has been ended."},
	{domain.ErrInvalidRefreshToken, fiber.StatusUnauthorized, "invalid_refresh_token", "The refresh token is unknown, expired or its session has ended."},
	{domain.ErrInvalidAccessToken, fiber.StatusUnauthorized, "invalid_token", "A valid bearer access token is required."},
	{domain.ErrForbidden, fiber.StatusForbidden, "forbidden", "You are not allowed to do this."},
	{domain.ErrSessionNotFound, fiber.StatusNotFound, "not_found", "No such session."},
	{domain.ErrUserNotFound, fiber.StatusNotFound, "not_found", "No such user."},
	{domain.ErrLastAdmin, fiber.StatusConflict, "last_admin", "The last active admin cannot be demoted or deactivated."},
	{domain.ErrRateLimited, fiber.StatusTooManyRequests, "rate_limited", "Too many attempts; retry later."},
}

// internalError is the answer to anything not in the table.
var internalError = errorKind{status: fiber.StatusInternalServerError, code: "internal_error", detail: "An unexpected error occurred."}

// classify finds the table row for err.
func classify(err error) errorKind {
	for _, k := range errorTable {
		if errors.Is(err, k.err) {
			return k
		}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return classify(errTooLarge)
		case fiber.StatusNotFound:
			return classify(errNotFound)
		case fiber.StatusMethodNotAllowed:
			return classify(errMethodNotAllowed)
		case fiber.StatusBadRequest:
			return classify(errMalformed)
		}
		// Other client errors raised by the server itself (oversized headers,
		// read timeouts) keep their status and get a code named after it.
		if fe.Code >= 400 && fe.Code < 500 {
			return errorKind{status: fe.Code, code: statusCode(fe.Code), detail: http.StatusText(fe.Code) + "."}
		}
	}
	return internalError
}

// writeProblem answers err as a problem document.
func writeProblem(c *fiber.Ctx, err error) error {
	k := classify(err)
	p := problem{
		Type:   problemTypePrefix + k.code,
		Title:  http.StatusText(k.status),
		Status: k.status,
		Detail: k.detail,
		Code:   k.code,
	}
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		p.Status = fiber.StatusUnprocessableEntity
		p.Title = http.StatusText(p.Status)
		p.Code = "validation_failed"
		p.Type = problemTypePrefix + p.Code
		p.Detail = "The request has invalid fields."
		for _, f := range verr.Fields {
			p.Errors = append(p.Errors, fieldError{Field: f.Field, Message: f.Message})
		}
	}
	var rl *application.RateLimitError
	if errors.As(err, &rl) {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
	}
	if p.Code == "invalid_token" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(p, "application/problem+json")
}

// statusCode turns a status into a snake_case code: 431 becomes
// "request_header_fields_too_large".
func statusCode(status int) string {
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}
