package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

// sessionJSON is one entry of the session list.
type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
}

func (s *server) listSessions(c *fiber.Ctx) error {
	ss, err := s.uc.ListSessions.Do(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	out := make([]sessionJSON, len(ss))
	for i, x := range ss {
		f := x.Family
		out[i] = sessionJSON{
			ID:         f.ID().String(),
			CreatedAt:  f.CreatedAt().UTC(),
			LastUsedAt: f.LastUsedAt().UTC(),
			ExpiresAt:  f.ExpiresAt().UTC(),
			Current:    x.Current,
			UserAgent:  f.Client().UserAgent(),
			IP:         f.Client().IP(),
		}
	}
	return c.JSON(fiber.Map{"sessions": out})
}

func (s *server) revokeSession(c *fiber.Ctx) error {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		// Not a session id, so certainly not one of the caller's sessions.
		return domain.ErrSessionNotFound
	}
	if err := s.uc.RevokeSession.Do(c.UserContext(), principal(c), id, clientInfo(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) changePassword(c *fiber.Ctx) error {
	var b passwordChangeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"current_password", b.CurrentPassword}, field{"new_password", b.NewPassword}); err != nil {
		return err
	}
	in := application.ChangePasswordInput{CurrentPassword: *b.CurrentPassword, NewPassword: *b.NewPassword, Client: clientInfo(c)}
	if err := s.uc.ChangePassword.Do(c.UserContext(), principal(c), in); err != nil {
		f := classify(err)
		s.deps.Metrics.countRateLimited(f.result())
		return f
	}
	return c.SendStatus(fiber.StatusNoContent)
}
