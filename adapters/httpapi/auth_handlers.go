package httpapi

import (
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"

	"authd/application"
	"authd/domain"
)

// userJSON is the API's user object.
type userJSON struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	IsActive  bool      `json:"is_active"`
	CreatedAt time.Time `json:"created_at"`
	// EmailVerified tells whether the address was verified through a
	// mailed link.
	EmailVerified bool `json:"email_verified"`
}

func toUserJSON(u *domain.User) userJSON {
	return userJSON{
		ID:        int64(u.ID()),
		Email:     u.Email().String(),
		Role:      u.Role().String(),
		IsActive:  u.IsActive(),
		CreatedAt: u.CreatedAt().UTC(),

		EmailVerified: u.EmailVerified(),
	}
}

// tokenJSON is an RFC 6749 §5.1 access token response.
type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// writeTokens answers a token pair with the caching headers RFC 6749 §5.1 requires.
func writeTokens(c *fiber.Ctx, tp application.TokenPair) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.JSON(tokenJSON{
		AccessToken:  tp.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int64(tp.ExpiresIn / time.Second),
		RefreshToken: tp.RefreshToken,
	})
}

// clientInfo describes the caller for sessions and the audit trail: its
// User-Agent and the address the edge resolved (see TrustedProxies.ClientIP).
// It is the one place that builds a request's domain.ClientInfo.
func clientInfo(c *fiber.Ctx) domain.ClientInfo {
	ip := ""
	if a, ok := c.Locals(clientIPKey).(netip.Addr); ok && a.IsValid() {
		ip = a.String()
	}
	return domain.NewClientInfo(c.Get(fiber.HeaderUserAgent), ip)
}

func (s *server) register(c *fiber.Ctx) error {
	var b credentialsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"email", b.Email}, field{"password", b.Password}); err != nil {
		return err
	}
	u, err := s.uc.Register.Do(c.UserContext(), application.RegisterInput{Email: *b.Email, Password: *b.Password, Client: clientInfo(c)})
	if err != nil {
		f := classify(err)
		s.deps.Metrics.countRateLimited(f.result())
		return f
	}
	if u == nil || s.uc.Register.VerificationRequired() {
		// New and taken addresses are answered alike (Register.Do).
		return answerAccepted(c, verificationSent)
	}
	return c.Status(fiber.StatusCreated).JSON(toUserJSON(u))
}

func (s *server) login(c *fiber.Ctx) error {
	var b credentialsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"email", b.Email}, field{"password", b.Password}); err != nil {
		return err
	}
	tp, err := s.uc.Login.Do(c.UserContext(), application.LoginInput{Email: *b.Email, Password: *b.Password, Client: clientInfo(c)})
	return s.loggedIn(c, tp, err)
}

// loggedIn answers the end of a login: the token pair, or the failure,
// counted in the login metrics either way.
func (s *server) loggedIn(c *fiber.Ctx, tp application.TokenPair, err error) error {
	if err != nil {
		f := classify(err)
		s.deps.Metrics.countLogin(f.result())
		return f
	}
	s.deps.Metrics.countLogin(resultSuccess)
	c.Locals(userIDKey, int64(tp.UserID))
	return writeTokens(c, tp)
}

func (s *server) refresh(c *fiber.Ctx) error {
	var b refreshBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"refresh_token", b.RefreshToken}); err != nil {
		return err
	}
	return s.rotate(c, *b.RefreshToken)
}

func (s *server) logout(c *fiber.Ctx) error {
	var b refreshBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"refresh_token", b.RefreshToken}); err != nil {
		return err
	}
	return s.revoke(c, *b.RefreshToken, fiber.StatusNoContent)
}

// rotate is the one rotation path of the HTTP edge, behind POST
// /v1/auth/refresh and the refresh_token grant of POST /oauth/token, which
// differ only in how they read the token: it exchanges the refresh token for
// its successor, counts the outcome and answers the new pair.
func (s *server) rotate(c *fiber.Ctx, refreshToken string) error {
	tp, err := s.uc.Refresh.Do(c.UserContext(), application.RefreshInput{RefreshToken: refreshToken, Client: clientInfo(c)})
	if err != nil {
		f := classify(err)
		s.deps.Metrics.countRefresh(f.result())
		return f
	}
	s.deps.Metrics.countRefresh(resultSuccess)
	c.Locals(userIDKey, int64(tp.UserID))
	return writeTokens(c, tp)
}

// revoke is the one revocation path of the HTTP edge, behind POST
// /v1/auth/logout and POST /oauth/revoke (RFC 7009): it ends the session the
// refresh token belongs to and answers status with no body. Unknown tokens
// and ended sessions are not an error, so revoking twice answers the same.
func (s *server) revoke(c *fiber.Ctx, refreshToken string, status int) error {
	if err := s.uc.Logout.Do(c.UserContext(), refreshToken, clientInfo(c)); err != nil {
		return err
	}
	c.Status(status)
	return nil
}

func (s *server) logoutAll(c *fiber.Ctx) error {
	if err := s.uc.LogoutAll.Do(c.UserContext(), principal(c), clientInfo(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) jwks(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.deps.JWKS)
}
