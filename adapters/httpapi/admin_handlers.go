package httpapi

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

// queryInt parses an optional non-negative integer query parameter.
func queryInt(c *fiber.Ctx, name string, verr *domain.ValidationError) int64 {
	raw := c.Query(name)
	if raw == "" {
		return 0
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		verr.Add(name, "must be a non-negative integer")
		return 0
	}
	return n
}

// cursor is the next_after of a listing: null on the last page.
func cursor(next int64) *int64 {
	if next == 0 {
		return nil
	}
	return &next
}

// pathUserID parses the :id path parameter; a malformed id names no user.
func pathUserID(c *fiber.Ctx) (domain.UserID, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.ErrUserNotFound
	}
	return domain.UserID(id), nil
}

func (s *server) listUsers(c *fiber.Ctx) error {
	page, err := application.ParsePage(c.Query("limit"), c.Query("after"))
	if err != nil {
		return err
	}
	us, next, err := s.uc.ListUsers.Do(c.UserContext(), page, c.Query("email"))
	if err != nil {
		return err
	}
	out := make([]userJSON, len(us))
	for i, u := range us {
		out[i] = toUserJSON(u)
	}
	return c.JSON(fiber.Map{"users": out, "next_after": cursor(int64(next))})
}

func (s *server) getUser(c *fiber.Ctx) error {
	id, err := pathUserID(c)
	if err != nil {
		return err
	}
	u, err := s.uc.GetUser.Do(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(toUserJSON(u))
}

func (s *server) patchUser(c *fiber.Ctx) error {
	id, err := pathUserID(c)
	if err != nil {
		return err
	}
	var b userPatchBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	var change domain.UserChange
	if b.Role != nil {
		r, err := domain.ParseRole(*b.Role)
		if err != nil {
			return err
		}
		change.Role = &r
	}
	change.Active = b.IsActive
	u, err := s.uc.UpdateUser.Do(c.UserContext(), principal(c), id, change, clientInfo(c))
	if err != nil {
		return err
	}
	return c.JSON(toUserJSON(u))
}

func (s *server) revokeUserSessions(c *fiber.Ctx) error {
	id, err := pathUserID(c)
	if err != nil {
		return err
	}
	n, err := s.uc.RevokeUserSessions.Do(c.UserContext(), principal(c), id, clientInfo(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"revoked": n})
}

// eventJSON is one entry of the audit trail.
type eventJSON struct {
	ID        int64             `json:"id"`
	Type      string            `json:"type"`
	UserID    *int64            `json:"user_id"`
	ActorID   *int64            `json:"actor_id"`
	SessionID *string           `json:"session_id"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Detail    map[string]string `json:"detail"`
	CreatedAt time.Time         `json:"created_at"`
}

// optionalID is a user id as JSON: null when unknown.
func optionalID(id domain.UserID) *int64 {
	if id == 0 {
		return nil
	}
	n := int64(id)
	return &n
}

func (s *server) listAudit(c *fiber.Ctx) error {
	page, err := application.ParsePage(c.Query("limit"), c.Query("after"))
	if err != nil {
		return err
	}
	var verr domain.ValidationError
	userID := queryInt(c, "user_id", &verr)
	if err := verr.Err(); err != nil {
		return err
	}
	es, next, err := s.uc.ListAudit.Do(c.UserContext(), page, domain.UserID(userID))
	if err != nil {
		return err
	}
	out := make([]eventJSON, len(es))
	for i, e := range es {
		out[i] = eventJSON{ID: e.ID, Type: string(e.Type), UserID: optionalID(e.UserID), ActorID: optionalID(e.ActorID),
			IP: e.Client.IP(), UserAgent: e.Client.UserAgent(), Detail: e.Detail, CreatedAt: e.At.UTC()}
		if out[i].Detail == nil {
			out[i].Detail = map[string]string{}
		}
		if e.SessionID != uuid.Nil {
			sid := e.SessionID.String()
			out[i].SessionID = &sid
		}
	}
	return c.JSON(fiber.Map{"events": out, "next_after": cursor(next)})
}
