package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// OpenAPIDocument is the OpenAPI 3.0 description of every route, body,
// response and problem code of the API, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPIDocument []byte

func (s *server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(OpenAPIDocument)
}
