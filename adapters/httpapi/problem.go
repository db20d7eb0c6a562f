package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// problemTypePrefix prefixes the stable code to form a problem's type URI.
const problemTypePrefix = "urn:authd:problem:"

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Code   string       `json:"code"`
	Errors []fieldError `json:"errors,omitempty"`
	// The members of an mfa_required problem.
	*mfaChallenge
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// writeProblem answers f as a problem document.
func writeProblem(c *fiber.Ctx, f *failure) error {
	a := f.row.problem
	if f.retryAfter != "" {
		c.Set(fiber.HeaderRetryAfter, f.retryAfter)
	}
	if f.row.challenge != "" {
		c.Set(fiber.HeaderWWWAuthenticate, f.row.challenge)
	}
	c.Status(a.status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(problem{
		Type:         problemTypePrefix + a.code,
		Title:        http.StatusText(a.status),
		Status:       a.status,
		Detail:       a.detail,
		Code:         a.code,
		Errors:       f.fields,
		mfaChallenge: f.mfa,
	}, "application/problem+json")
}
