package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"authd/application"
)

// statusJSON is the answer of a request that was accepted and goes on
// without the caller: a mail may or may not follow.
type statusJSON struct {
	Status string `json:"status"`
}

// The statuses of accepted requests.
var (
	accepted         = statusJSON{Status: "accepted"}
	verificationSent = statusJSON{Status: "verification_sent"}
)

// answerAccepted answers 202 with status.
func answerAccepted(c *fiber.Ctx, status statusJSON) error {
	return c.Status(fiber.StatusAccepted).JSON(status)
}

// limited counts a refusal by the abuse limits in the metrics and returns
// the classified error.
func (s *server) limited(err error) error {
	f := classify(err)
	s.deps.Metrics.countRateLimited(f.result())
	return f
}

func (s *server) requestPasswordReset(c *fiber.Ctx) error {
	var b emailBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"email", b.Email}); err != nil {
		return err
	}
	if err := s.uc.RequestPasswordReset.Do(c.UserContext(), application.RequestPasswordResetInput{Email: *b.Email, Client: clientInfo(c)}); err != nil {
		return s.limited(err)
	}
	return answerAccepted(c, accepted)
}

func (s *server) confirmPasswordReset(c *fiber.Ctx) error {
	var b resetConfirmBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"token", b.Token}, field{"new_password", b.NewPassword}); err != nil {
		return err
	}
	if err := s.uc.ConfirmPasswordReset.Do(c.UserContext(), application.ConfirmPasswordResetInput{
		Token: *b.Token, NewPassword: *b.NewPassword, Client: clientInfo(c),
	}); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) verifyEmail(c *fiber.Ctx) error {
	var b tokenBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"token", b.Token}); err != nil {
		return err
	}
	if err := s.uc.VerifyEmail.Do(c.UserContext(), *b.Token, clientInfo(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) resendVerification(c *fiber.Ctx) error {
	if err := s.uc.ResendVerification.Do(c.UserContext(), caller(c), principal(c), clientInfo(c)); err != nil {
		return s.limited(err)
	}
	return answerAccepted(c, accepted)
}

func (s *server) requestEmailChange(c *fiber.Ctx) error {
	var b emailChangeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"new_email", b.NewEmail}, field{"current_password", b.CurrentPassword}); err != nil {
		return err
	}
	if err := s.uc.RequestEmailChange.Do(c.UserContext(), principal(c), application.RequestEmailChangeInput{
		NewEmail: *b.NewEmail, CurrentPassword: *b.CurrentPassword, Client: clientInfo(c),
	}); err != nil {
		return s.limited(err)
	}
	return answerAccepted(c, accepted)
}

func (s *server) confirmEmailChange(c *fiber.Ctx) error {
	var b tokenBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"token", b.Token}); err != nil {
		return err
	}
	if err := s.uc.ConfirmEmailChange.Do(c.UserContext(), *b.Token, clientInfo(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) sendPasswordReset(c *fiber.Ctx) error {
	id, err := pathUserID(c)
	if err != nil {
		return err
	}
	if err := s.uc.SendPasswordReset.Do(c.UserContext(), principal(c), id, clientInfo(c)); err != nil {
		return err
	}
	return answerAccepted(c, accepted)
}
