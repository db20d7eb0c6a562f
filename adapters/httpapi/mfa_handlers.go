package httpapi

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"authd/application"
	"authd/domain"
)

// The bodies of the multi-factor routes.
type (
	// currentPasswordBody is the body of the step-up routes.
	currentPasswordBody struct {
		CurrentPassword *string `json:"current_password"`
	}
	// totpConfirmBody confirms a TOTP enrolment.
	totpConfirmBody struct {
		Code *string `json:"code"`
	}
	// passkeyFinishBody finishes a passkey registration.
	passkeyFinishBody struct {
		Name       *string         `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	// passkeyPatchBody renames a passkey.
	passkeyPatchBody struct {
		Name *string `json:"name"`
	}
	// mfaBody is the second step of a login.
	mfaBody struct {
		MFAToken     *string         `json:"mfa_token"`
		TOTPCode     *string         `json:"totp_code"`
		RecoveryCode *string         `json:"recovery_code"`
		WebAuthn     json.RawMessage `json:"webauthn"`
	}
	// mfaTokenBody starts the passkey assertion of a login.
	mfaTokenBody struct {
		MFAToken *string `json:"mfa_token"`
	}
	// passkeyLoginBody finishes a passwordless sign-in.
	passkeyLoginBody struct {
		Credential json.RawMessage `json:"credential"`
	}
)

// present reports whether a raw JSON member was given (and is not null).
func present(r json.RawMessage) bool { return len(r) > 0 && !bytes.Equal(r, []byte("null")) }

// rawObject returns r when it was given, nil otherwise; required makes a
// missing one a validation error on field.
func rawObject(r json.RawMessage, field string, required bool) ([]byte, error) {
	if !present(r) {
		if required {
			return nil, domain.NewValidationError(field, "is required")
		}
		return nil, nil
	}
	if r[0] != '{' {
		return nil, domain.NewValidationError(field, "must be a PublicKeyCredential object")
	}
	return r, nil
}

// meJSON is the caller's user object: a user and a summary of its second
// factors.
type meJSON struct {
	userJSON
	MFA mfaSummaryJSON `json:"mfa"`
}

type mfaSummaryJSON struct {
	TOTP              bool `json:"totp"`
	Passkeys          int  `json:"passkeys"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

func (s *server) meWithMFA(c *fiber.Ctx) error {
	u := caller(c)
	sum, err := s.uc.MFASummary.Do(c.UserContext(), u.ID())
	if err != nil {
		return err
	}
	return c.JSON(meJSON{userJSON: toUserJSON(u), MFA: mfaSummaryJSON{TOTP: sum.TOTP, Passkeys: sum.Passkeys, RecoveryCodesLeft: sum.RecoveryCodesLeft}})
}

// currentPassword decodes a step-up body.
func currentPassword(c *fiber.Ctx) (string, error) {
	var b currentPasswordBody
	if err := decodeJSON(c, &b); err != nil {
		return "", err
	}
	if err := require(field{"current_password", b.CurrentPassword}); err != nil {
		return "", err
	}
	return *b.CurrentPassword, nil
}

// stepUpFailed classifies the error of a step-up route, counting a refusal
// of the abuse limits as a password change's is.
func (s *server) stepUpFailed(err error) error {
	f := classify(err)
	s.deps.Metrics.countRateLimited(f.result())
	return f
}

func (s *server) enrollTOTP(c *fiber.Ctx) error {
	pw, err := currentPassword(c)
	if err != nil {
		return err
	}
	e, err := s.uc.EnrollTOTP.Do(c.UserContext(), principal(c), pw, clientInfo(c))
	if err != nil {
		return s.stepUpFailed(err)
	}
	return c.JSON(fiber.Map{"secret": e.Secret, "otpauth_uri": e.URI})
}

func (s *server) confirmTOTP(c *fiber.Ctx) error {
	var b totpConfirmBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"code", b.Code}); err != nil {
		return err
	}
	codes, err := s.uc.ConfirmTOTP.Do(c.UserContext(), principal(c), *b.Code, clientInfo(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"recovery_codes": codes})
}

func (s *server) removeTOTP(c *fiber.Ctx) error {
	pw, err := currentPassword(c)
	if err != nil {
		return err
	}
	if err := s.uc.RemoveTOTP.Do(c.UserContext(), principal(c), pw, clientInfo(c)); err != nil {
		return s.stepUpFailed(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) regenerateRecoveryCodes(c *fiber.Ctx) error {
	pw, err := currentPassword(c)
	if err != nil {
		return err
	}
	codes, err := s.uc.RegenerateRecoveryCodes.Do(c.UserContext(), principal(c), pw, clientInfo(c))
	if err != nil {
		return s.stepUpFailed(err)
	}
	return c.JSON(fiber.Map{"recovery_codes": codes})
}

// sendOptions answers the options of a WebAuthn ceremony, as the relying
// party encoded them.
func sendOptions(c *fiber.Ctx, options []byte) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(options)
}

func (s *server) beginPasskeyRegistration(c *fiber.Ctx) error {
	pw, err := currentPassword(c)
	if err != nil {
		return err
	}
	options, err := s.uc.BeginPasskeyRegistration.Do(c.UserContext(), principal(c), pw, clientInfo(c))
	if err != nil {
		return s.stepUpFailed(err)
	}
	return sendOptions(c, options)
}

// passkeyJSON is a passkey as the API shows it.
type passkeyJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	BackupEligible bool       `json:"backup_eligible"`
	BackedUp       bool       `json:"backed_up"`
	Transports     []string   `json:"transports"`
}

func toPasskeyJSON(p domain.Passkey) passkeyJSON {
	cred := p.Credential()
	out := passkeyJSON{
		ID: p.ID().String(), Name: p.Name(), CreatedAt: p.CreatedAt().UTC(),
		BackupEligible: cred.BackupEligible, BackedUp: cred.BackupState, Transports: cred.Transports,
	}
	if out.Transports == nil {
		out.Transports = []string{}
	}
	if t := p.LastUsedAt(); !t.IsZero() {
		t = t.UTC()
		out.LastUsedAt = &t
	}
	return out
}

func (s *server) finishPasskeyRegistration(c *fiber.Ctx) error {
	var b passkeyFinishBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	cred, err := rawObject(b.Credential, "credential", true)
	if err != nil {
		return err
	}
	in := application.FinishPasskeyRegistrationInput{Response: cred, Client: clientInfo(c)}
	if b.Name != nil {
		if in.Name = *b.Name; in.Name == "" {
			return domain.NewValidationError("name", "must not be empty")
		}
	}
	r, err := s.uc.FinishPasskeyRegistration.Do(c.UserContext(), principal(c), in)
	if err != nil {
		return err
	}
	out := fiber.Map{"passkey": toPasskeyJSON(r.Passkey)}
	if r.RecoveryCodes != nil {
		out["recovery_codes"] = r.RecoveryCodes
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (s *server) listPasskeys(c *fiber.Ctx) error {
	ps, err := s.uc.ListPasskeys.Do(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	out := make([]passkeyJSON, len(ps))
	for i, p := range ps {
		out[i] = toPasskeyJSON(p)
	}
	return c.JSON(fiber.Map{"passkeys": out})
}

// pathPasskeyID parses the {id} of a passkey route; anything but a UUID
// names no passkey of the caller's.
func pathPasskeyID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, domain.ErrPasskeyNotFound
	}
	return id, nil
}

func (s *server) renamePasskey(c *fiber.Ctx) error {
	id, err := pathPasskeyID(c)
	if err != nil {
		return err
	}
	var b passkeyPatchBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"name", b.Name}); err != nil {
		return err
	}
	p, err := s.uc.RenamePasskey.Do(c.UserContext(), principal(c), id, *b.Name)
	if err != nil {
		return err
	}
	return c.JSON(toPasskeyJSON(p))
}

func (s *server) removePasskey(c *fiber.Ctx) error {
	id, err := pathPasskeyID(c)
	if err != nil {
		return err
	}
	var b currentPasswordBody
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
	}
	if err := s.uc.RemovePasskey.Do(c.UserContext(), principal(c), id, b.CurrentPassword, clientInfo(c)); err != nil {
		return s.stepUpFailed(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) completeMFA(c *fiber.Ctx) error {
	var b mfaBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"mfa_token", b.MFAToken}); err != nil {
		return err
	}
	assertion, err := rawObject(b.WebAuthn, "webauthn", false)
	if err != nil {
		return err
	}
	tp, err := s.uc.CompleteMFALogin.Do(c.UserContext(), application.CompleteMFAInput{
		MFAToken: *b.MFAToken, TOTPCode: b.TOTPCode, RecoveryCode: b.RecoveryCode, Assertion: assertion, Client: clientInfo(c),
	})
	return s.loggedIn(c, tp, err)
}

func (s *server) beginMFAPasskey(c *fiber.Ctx) error {
	var b mfaTokenBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := require(field{"mfa_token", b.MFAToken}); err != nil {
		return err
	}
	options, err := s.uc.BeginMFAPasskey.Do(c.UserContext(), *b.MFAToken)
	if err != nil {
		return err
	}
	return sendOptions(c, options)
}

func (s *server) beginPasskeyLogin(c *fiber.Ctx) error {
	options, err := s.uc.BeginPasskeyLogin.Do(c.UserContext(), clientInfo(c))
	if err != nil {
		return err
	}
	return sendOptions(c, options)
}

func (s *server) finishPasskeyLogin(c *fiber.Ctx) error {
	var b passkeyLoginBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	cred, err := rawObject(b.Credential, "credential", true)
	if err != nil {
		return err
	}
	tp, err := s.uc.FinishPasskeyLogin.Do(c.UserContext(), cred, clientInfo(c))
	return s.loggedIn(c, tp, err)
}

func (s *server) resetUserMFA(c *fiber.Ctx) error {
	id, err := pathUserID(c)
	if err != nil {
		return err
	}
	if err := s.uc.ResetMFA.Do(c.UserContext(), principal(c), id, clientInfo(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
