package httpapi

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"authd/domain"
)

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeOAuthError answers f on an OAuth endpoint in the RFC 6749 §5.2 shape.
func writeOAuthError(c *fiber.Ctx, f *failure) error {
	a := f.row.oauth
	if f.oauthDetail != "" {
		a.detail = f.oauthDetail
	}
	if f.retryAfter != "" {
		c.Set(fiber.HeaderRetryAfter, f.retryAfter)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.Status(a.status).JSON(oauthError{Error: a.code, ErrorDescription: a.detail})
}

// oauthParamError is an invalid_request naming what is wrong.
type oauthParamError struct{ detail string }

func (e *oauthParamError) Error() string { return "invalid_request: " + e.detail }
func (e *oauthParamError) Unwrap() error { return errInvalidRequest }

// formParams reads an application/x-www-form-urlencoded body (the route
// table has already refused other media types, see guard). RFC 6749 §3.2
// forbids repeating a parameter, so a repeated one is invalid_request.
func formParams(c *fiber.Ctx, names ...string) (map[string]string, error) {
	args := c.Request().PostArgs()
	out := make(map[string]string, len(names))
	for _, n := range names {
		vs := args.PeekMulti(n)
		if len(vs) > 1 {
			return nil, &oauthParamError{"parameter " + n + " is repeated"}
		}
		if len(vs) == 1 {
			out[n] = string(vs[0])
		}
	}
	return out, nil
}

// oauthToken is the RFC 6749 token endpoint; it offers only the refresh
// grant (§6). The password grant is deliberately absent (RFC 9700 §2.4).
func (s *server) oauthToken(c *fiber.Ctx) error {
	p, err := formParams(c, "grant_type", "refresh_token", "client_id", "scope")
	if err != nil {
		return err
	}
	switch gt := p["grant_type"]; {
	case gt == "":
		return &oauthParamError{"grant_type is required"}
	case gt != "refresh_token":
		return errUnsupportedGrantType
	}
	rt := p["refresh_token"]
	if rt == "" {
		return &oauthParamError{"refresh_token is required"}
	}
	return s.rotate(c, rt)
}

// oauthRevoke is the RFC 7009 revocation endpoint. A refresh token ends its
// session; so does a valid access token, whose session is its "sid" (RFC
// 7009 §2.1 lets the server revoke the tokens related to the one revoked):
// authd's own routes then refuse it at once, and no refresh token of the
// session rotates again. Unknown, expired and malformed tokens are answered
// 200 as the RFC requires. token_type_hint is only a hint: each token is
// recognised by its shape.
func (s *server) oauthRevoke(c *fiber.Ctx) error {
	p, err := formParams(c, "token", "token_type_hint", "client_id")
	if err != nil {
		return err
	}
	token := p["token"]
	if token == "" {
		return &oauthParamError{"token is required"}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !domain.LooksLikeRefreshSecret(token) {
		if at, err := s.deps.Verifier.Verify(token, s.deps.Clock.Now()); err == nil {
			return s.revokeAccessToken(c, at)
		}
	}
	return s.revoke(c, token, fiber.StatusOK)
}

// revokeAccessToken ends the session of a verified access token and
// answers 200; a session that has already ended is not an error.
func (s *server) revokeAccessToken(c *fiber.Ctx, at domain.Principal) error {
	err := s.uc.RevokeSession.Do(c.UserContext(), at, at.SessionID, clientInfo(c))
	if err != nil && !errors.Is(err, domain.ErrSessionNotFound) {
		return err
	}
	c.Status(fiber.StatusOK)
	return nil
}

// metadata is the RFC 8414 authorization server metadata. The issuer is
// the configured one byte for byte, as in the tokens' iss (RFC 8414 §3.3).
func (s *server) metadata(c *fiber.Ctx) error {
	iss := s.cfg.Issuer
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(fiber.Map{
		"issuer":                                     iss,
		"token_endpoint":                             iss + "/oauth/token",
		"revocation_endpoint":                        iss + "/oauth/revoke",
		"jwks_uri":                                   iss + "/.well-known/jwks.json",
		"grant_types_supported":                      []string{"refresh_token"},
		"response_types_supported":                   []string{},
		"token_endpoint_auth_methods_supported":      []string{"none"},
		"revocation_endpoint_auth_methods_supported": []string{"none"},
		"access_token_signing_alg_values_supported":  []string{"EdDSA"},
		"service_documentation":                      iss + "/openapi.json",
	})
}
