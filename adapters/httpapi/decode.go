package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"authd/domain"
)

// decodeJSON strictly decodes the request body into dst: it must be one
// UTF-8 JSON object with only known fields of the right types. Anything else
// is errMalformed. The route table has already refused bodies that are not
// application/json (see guard).
func decodeJSON(c *fiber.Ctx, dst any) error {
	return decodeJSONBytes(c.Body(), dst)
}

// decodeJSONBytes is decodeJSON on a raw body; it is exposed to the fuzz tests.
func decodeJSONBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: empty body", errMalformed)
	}
	// encoding/json would silently replace invalid UTF-8 with U+FFFD.
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: body is not valid UTF-8", errMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", errMalformed)
	}
	return nil
}

// credentialsBody is the body of register and login.
type credentialsBody struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

// refreshBody is the body of refresh and logout.
type refreshBody struct {
	RefreshToken *string `json:"refresh_token"`
}

// passwordChangeBody is the body of a password change.
type passwordChangeBody struct {
	CurrentPassword *string `json:"current_password"`
	NewPassword     *string `json:"new_password"`
}

// userPatchBody is the body of an admin's change to a user.
type userPatchBody struct {
	Role     *string `json:"role"`
	IsActive *bool   `json:"is_active"`
}

// field is a named required string field of a request body.
type field struct {
	name  string
	value *string
}

// require returns a *domain.ValidationError naming every missing field.
func require(fields ...field) error {
	var verr domain.ValidationError
	for _, f := range fields {
		if f.value == nil {
			verr.Add(f.name, "is required")
		}
	}
	return verr.Err()
}

// emailBody is the body of a password reset request.
type emailBody struct {
	Email *string `json:"email"`
}

// resetConfirmBody is the body of the use of a password reset link.
type resetConfirmBody struct {
	Token       *string `json:"token"`
	NewPassword *string `json:"new_password"`
}

// tokenBody is the body of the use of a verification or email change link.
type tokenBody struct {
	Token *string `json:"token"`
}

// emailChangeBody is the body of a request to change the caller's address.
type emailChangeBody struct {
	NewEmail        *string `json:"new_email"`
	CurrentPassword *string `json:"current_password"`
}
