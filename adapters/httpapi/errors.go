package httpapi

import (
	"context"
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

// Errors raised by the HTTP layer itself.
var (
	errMalformed        = errors.New("malformed request")
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTooLarge         = errors.New("request body too large")
	errMediaType        = errors.New("unsupported media type")
	errOriginNotAllowed = errors.New("origin not allowed")
	// errFormMediaType refuses a hosted page's form post whose body is not
	// application/x-www-form-urlencoded.
	errFormMediaType = errors.New("unsupported media type for a form")
	// errCrossSite refuses a hosted page's form post that a browser says
	// another site sent (Sec-Fetch-Site, Origin).
	errCrossSite = errors.New("cross-site form post")
)

// ErrDraining is what Deps.Ready answers while the server drains before it
// stops: /readyz then answers 503 shutting_down, so that load balancers send
// their traffic elsewhere while requests in flight finish.
var ErrDraining = errors.New("shutting down")

// Errors of the OAuth endpoints that name an RFC 6749 §5.2 error code.
var (
	errInvalidRequest       = errors.New("invalid_request")
	errUnsupportedGrantType = errors.New("unsupported_grant_type")
)

// OAuth 2.0 error codes (RFC 6749 §5.2, and §4.1.2.1 for the last two).
const (
	oauthInvalidRequest       = "invalid_request"
	oauthInvalidGrant         = "invalid_grant"
	oauthUnsupportedGrantType = "unsupported_grant_type"
	oauthServerError          = "server_error"
	oauthUnavailable          = "temporarily_unavailable"
)

// Result labels of authd_logins_total and authd_refreshes_total.
const (
	resultSuccess            = "success"
	resultError              = "error"
	resultRateLimited        = "rate_limited"
	resultInvalidCredentials = "invalid_credentials" //nolint:gosec // G101: a metric label, not a credential.
	resultAccountDisabled    = "account_disabled"
	resultReused             = "reused"
	resultInvalid            = "invalid"
	resultOverloaded         = "overloaded"
	resultMFARequired        = "mfa_required"
	resultInvalidMFAToken    = "invalid_mfa_token" //nolint:gosec // G101: a metric label, not a credential.
	resultInvalidFactor      = "invalid_second_factor"
	resultEmailNotVerified   = "email_not_verified"
)

// errorRow is one row of errorTable: everything the API decides about one
// kind of error, whichever writer answers it.
type errorRow struct {
	// match reports whether an error is of this kind.
	match func(error) bool
	// problem is the RFC 9457 answer: status, code and detail.
	problem answer
	// oauth is the RFC 6749 §5.2 answer of the OAuth endpoints: status,
	// error and error_description.
	oauth answer
	// challenge, when set, is the problem's WWW-Authenticate header.
	challenge string
	// retryAfter, when set, is the answer's Retry-After header in seconds
	// (a rate-limited answer computes its own instead).
	retryAfter string
	// result labels the login and refresh metrics; empty means resultError.
	result string
	// logged errors are unexpected: an operator must look, so they are
	// logged at error level with the request they failed.
	logged bool
}

// answer is what one writer sends for an error.
type answer struct {
	status int
	code   string
	detail string
}

// is matches errors that errors.Is finds target in.
func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// as matches errors that errors.As finds a T in.
func as[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// errorTable maps every error the API answers on purpose. The first row
// whose match accepts the error wins, so specific errors come first. On the
// OAuth endpoints, errors about the request itself keep their status and are
// an invalid_request; errors about the refresh token are an invalid_grant,
// which RFC 6749 §5.2 answers 400.
var errorTable = []errorRow{
	{
		match:   as[*domain.ValidationError],
		problem: answer{fiber.StatusUnprocessableEntity, "validation_failed", "The request has invalid fields."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidRequest, "The request has invalid fields."},
	},
	{
		match:   is(errMalformed),
		problem: answer{fiber.StatusBadRequest, "malformed_request", "The request body is not valid JSON of the expected shape."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidRequest, "The request body is not valid JSON of the expected shape."},
	},
	{
		match:   is(errNotFound),
		problem: answer{fiber.StatusNotFound, "not_found", "No resource exists at this path."},
		oauth:   answer{fiber.StatusNotFound, oauthInvalidRequest, "No resource exists at this path."},
	},
	{
		match:   is(errMethodNotAllowed),
		problem: answer{fiber.StatusMethodNotAllowed, "method_not_allowed", "This path does not support this method."},
		oauth:   answer{fiber.StatusMethodNotAllowed, oauthInvalidRequest, "This path does not support this method."},
	},
	{
		match:   is(errTooLarge),
		problem: answer{fiber.StatusRequestEntityTooLarge, "payload_too_large", "The request body exceeds 64 KiB."},
		oauth:   answer{fiber.StatusRequestEntityTooLarge, oauthInvalidRequest, "The request body exceeds 64 KiB."},
	},
	{
		match:   is(errMediaType),
		problem: answer{fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Send the request body as JSON, with Content-Type: application/json."},
		oauth:   answer{fiber.StatusUnsupportedMediaType, oauthInvalidRequest, "Send the request body as JSON, with Content-Type: application/json."},
	},
	{
		match:   is(errOriginNotAllowed),
		problem: answer{fiber.StatusForbidden, "origin_not_allowed", "This origin may not call the API from a browser."},
		oauth:   answer{fiber.StatusForbidden, oauthInvalidRequest, "This origin may not call the API from a browser."},
	},
	{
		match:   is(errFormMediaType),
		problem: answer{fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Send the form as application/x-www-form-urlencoded."},
		oauth:   answer{fiber.StatusUnsupportedMediaType, oauthInvalidRequest, "Send the form as application/x-www-form-urlencoded."},
	},
	{
		match:   is(errCrossSite),
		problem: answer{fiber.StatusForbidden, "cross_site_request", "This form may only be sent from its own page."},
		oauth:   answer{fiber.StatusForbidden, oauthInvalidRequest, "This form may only be sent from its own page."},
	},
	{
		match:   is(errInvalidRequest),
		problem: answer{fiber.StatusBadRequest, "invalid_request", "The request is missing a parameter or is malformed."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidRequest, "The request is missing a parameter or is malformed."},
	},
	{
		match:   is(errUnsupportedGrantType),
		problem: answer{fiber.StatusBadRequest, "unsupported_grant_type", "Only grant_type=refresh_token is supported."},
		oauth:   answer{fiber.StatusBadRequest, oauthUnsupportedGrantType, "Only grant_type=refresh_token is supported."},
	},
	{
		// A full password-hashing queue, or a request that ran out of time
		// (its deadline, AUTHD_REQUEST_TIMEOUT), is refused quickly rather
		// than left to pile up. A deadline that passed while the database
		// did not answer (the driver's read timed out too, so the error
		// also matches ErrUnavailable) is the database's: a pooler holding
		// queries while PostgreSQL restarts answers database_unavailable.
		match: func(err error) bool {
			return errors.Is(err, ports.ErrOverloaded) ||
				errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ports.ErrUnavailable)
		},
		problem:    answer{fiber.StatusServiceUnavailable, "overloaded", "The server is too busy to answer now; retry after Retry-After seconds."},
		oauth:      answer{fiber.StatusServiceUnavailable, oauthUnavailable, "The server is too busy to answer now; retry after Retry-After seconds."},
		retryAfter: "1",
		result:     resultOverloaded,
	},
	{
		match:   is(ErrDraining),
		problem: answer{fiber.StatusServiceUnavailable, "shutting_down", "This instance is shutting down; other instances answer."},
		oauth:   answer{fiber.StatusServiceUnavailable, oauthUnavailable, "This instance is shutting down; other instances answer."},
	},
	{
		match:   is(ports.ErrUnavailable),
		problem: answer{fiber.StatusServiceUnavailable, "database_unavailable", "The database is not answering; try again shortly."},
		oauth:   answer{fiber.StatusServiceUnavailable, oauthUnavailable, "The database is not answering; try again shortly."},
	},
	{
		match:   is(domain.ErrEmailTaken),
		problem: answer{fiber.StatusConflict, "email_taken", "An account with this email already exists."},
		oauth:   answer{fiber.StatusConflict, oauthInvalidRequest, "An account with this email already exists."},
	},
	// Multi-factor authentication (mfa_errors.go), before
	// ErrInvalidCredentials, which ErrInvalidSecondFactor wraps.
	mfaErrorRows[0], mfaErrorRows[1], mfaErrorRows[2], mfaErrorRows[3], mfaErrorRows[4], mfaErrorRows[5], mfaErrorRows[6],
	{
		// Before ErrInvalidCredentials, which it wraps.
		match:   is(application.ErrWrongCurrentPassword),
		problem: answer{fiber.StatusForbidden, "invalid_credentials", "The current password is not correct."},
		oauth:   answer{fiber.StatusForbidden, oauthInvalidRequest, "The current password is not correct."},
	},
	{
		match:   is(domain.ErrInvalidCredentials),
		problem: answer{fiber.StatusUnauthorized, "invalid_credentials", "The email or password is not correct."},
		oauth:   answer{fiber.StatusUnauthorized, oauthInvalidRequest, "The email or password is not correct."},
		result:  resultInvalidCredentials,
	},
	// A WebAuthn response that does not verify at a passwordless sign-in
	// is an ErrInvalidCredentials above; elsewhere it is a bad request.
	webAuthnErrorRows[0], webAuthnErrorRows[1], passkeyNotFoundRow,
	{
		match:   is(domain.ErrAccountDisabled),
		problem: answer{fiber.StatusForbidden, "account_disabled", "This account has been disabled."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidGrant, "The refresh token is invalid, expired or revoked."},
		result:  resultAccountDisabled,
	},
	{
		match:   is(domain.ErrEmailNotVerified),
		problem: answer{fiber.StatusForbidden, "email_not_verified", "The email address of this account is not verified yet; use the link mailed to it."},
		oauth:   answer{fiber.StatusForbidden, oauthInvalidRequest, "The email address of this account is not verified yet."},
		result:  resultEmailNotVerified,
	},
	{
		match:   is(domain.ErrInvalidOneTimeToken),
		problem: answer{fiber.StatusBadRequest, "invalid_or_expired_token", "The link is invalid, was already used, or has expired; ask for a new one."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidRequest, "The link is invalid, was already used, or has expired."},
	},
	{
		match:   is(domain.ErrRefreshTokenReused),
		problem: answer{fiber.StatusUnauthorized, "refresh_token_reused", "This refresh token was already used; the session has been ended."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidGrant, "The refresh token was already used; the session has been ended."},
		result:  resultReused,
	},
	{
		match:   is(domain.ErrInvalidRefreshToken),
		problem: answer{fiber.StatusUnauthorized, "invalid_refresh_token", "The refresh token is unknown, expired or its session has ended."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidGrant, "The refresh token is invalid, expired or revoked."},
		result:  resultInvalid,
	},
	{
		match:     is(domain.ErrInvalidAccessToken),
		problem:   answer{fiber.StatusUnauthorized, "invalid_token", "A valid bearer access token is required."},
		oauth:     answer{fiber.StatusUnauthorized, oauthInvalidRequest, "A valid bearer access token is required."},
		challenge: `Bearer error="invalid_token"`, // RFC 6750 §3
	},
	{
		match:   is(domain.ErrForbidden),
		problem: answer{fiber.StatusForbidden, "forbidden", "You are not allowed to do this."},
		oauth:   answer{fiber.StatusForbidden, oauthInvalidRequest, "You are not allowed to do this."},
	},
	{
		match:   is(domain.ErrSessionNotFound),
		problem: answer{fiber.StatusNotFound, "not_found", "No such session."},
		oauth:   answer{fiber.StatusNotFound, oauthInvalidRequest, "No such session."},
	},
	{
		match:   is(domain.ErrUserNotFound),
		problem: answer{fiber.StatusNotFound, "not_found", "No such user."},
		oauth:   answer{fiber.StatusNotFound, oauthInvalidRequest, "No such user."},
	},
	{
		match:   is(domain.ErrLastAdmin),
		problem: answer{fiber.StatusConflict, "last_admin", "The last active admin cannot be demoted or deactivated."},
		oauth:   answer{fiber.StatusConflict, oauthInvalidRequest, "The last active admin cannot be demoted or deactivated."},
	},
	{
		match:   is(domain.ErrRateLimited),
		problem: answer{fiber.StatusTooManyRequests, "rate_limited", "Too many attempts; retry later."},
		oauth:   answer{fiber.StatusTooManyRequests, oauthInvalidRequest, "Too many attempts; retry later."},
		result:  resultRateLimited,
	},
}

// internalRow answers anything not in the table.
var internalRow = errorRow{
	problem: answer{fiber.StatusInternalServerError, "internal_error", "An unexpected error occurred."},
	oauth:   answer{fiber.StatusInternalServerError, oauthServerError, "An unexpected error occurred."},
	logged:  true,
}

// fiberErrors maps the statuses of Fiber's own errors (a body over the limit
// refused before routing, a request it cannot parse, a method it refuses)
// onto rows of the table.
var fiberErrors = map[int]error{
	fiber.StatusRequestEntityTooLarge: errTooLarge,
	fiber.StatusNotFound:              errNotFound,
	fiber.StatusMethodNotAllowed:      errMethodNotAllowed,
	fiber.StatusBadRequest:            errMalformed,
}

// failure is a request's error classified against errorTable: the row that
// answers it, and what the error itself adds to that answer. Handlers that
// must act on the classification (count it in a metric) return the failure,
// and the error handler answers it without classifying again.
type failure struct {
	err error
	row *errorRow
	// fields are the invalid fields of a validation error.
	fields []fieldError
	// retryAfter is the Retry-After header of a rate-limited request.
	retryAfter string
	// oauthDetail, when set, names the OAuth parameter at fault.
	oauthDetail string
	// mfa, when set, continues a login that needs a second factor.
	mfa *mfaChallenge
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// result is the failure's label in the login and refresh metrics.
func (f *failure) result() string {
	if f.row.result == "" {
		return resultError
	}
	return f.row.result
}

// classify returns err's failure: the one err already is, or a new one.
func classify(err error) *failure {
	if f := (*failure)(nil); errors.As(err, &f) {
		return f
	}
	f := &failure{err: err, row: rowOf(err)}
	f.retryAfter = f.row.retryAfter
	if verr := (*domain.ValidationError)(nil); errors.As(err, &verr) {
		for _, fe := range verr.Fields {
			f.fields = append(f.fields, fieldError{Field: fe.Field, Message: fe.Message})
		}
	}
	if rl := (*domain.RateLimitError)(nil); errors.As(err, &rl) {
		f.retryAfter = strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds())))
	}
	if pe := (*oauthParamError)(nil); errors.As(err, &pe) {
		f.oauthDetail = pe.detail
	}
	if mr := (*application.MFARequiredError)(nil); errors.As(err, &mr) {
		f.mfa = mfaChallengeOf(mr)
	}
	return f
}

// rowOf finds the table row for err.
func rowOf(err error) *errorRow {
	for i := range errorTable {
		if errorTable[i].match(err) {
			return &errorTable[i]
		}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if known, ok := fiberErrors[fe.Code]; ok {
			return rowOf(known)
		}
		// Other client errors raised by the server itself (oversized headers,
		// read timeouts) keep their status and get a code named after it.
		if fe.Code >= 400 && fe.Code < 500 {
			detail := http.StatusText(fe.Code) + "."
			return &errorRow{
				problem: answer{fe.Code, statusCode(fe.Code), detail},
				oauth:   answer{fe.Code, oauthInvalidRequest, detail},
			}
		}
	}
	return &internalRow
}

// statusCode turns a status into a snake_case code: 431 becomes
// "request_header_fields_too_large".
func statusCode(status int) string {
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}
