package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"authd/application"
	"authd/domain"
)

// mfaErrorRows are the error table's rows of multi-factor authentication
// that come before the rows of the errors they wrap.
var mfaErrorRows = [...]errorRow{
	{
		match:   is(domain.ErrMFARequired),
		problem: answer{fiber.StatusForbidden, "mfa_required", "The password is correct; a second factor is required. Continue at POST /v1/auth/mfa with the mfa_token."},
		oauth:   answer{fiber.StatusForbidden, oauthInvalidRequest, "A second factor is required."},
		result:  resultMFARequired,
	},
	{
		match:   is(domain.ErrInvalidMFAToken),
		problem: answer{fiber.StatusUnauthorized, "invalid_mfa_token", "The mfa_token is unknown, expired, already used or ended by too many wrong second factors; log in again."},
		oauth:   answer{fiber.StatusUnauthorized, oauthInvalidRequest, "The mfa_token is invalid; log in again."},
		result:  resultInvalidMFAToken,
	},
	{
		match:   is(domain.ErrInvalidSecondFactor),
		problem: answer{fiber.StatusUnauthorized, "invalid_second_factor", "The code or the passkey does not prove the second factor."},
		oauth:   answer{fiber.StatusUnauthorized, oauthInvalidRequest, "The second factor is not correct."},
		result:  resultInvalidFactor,
	},
	{
		match:   is(domain.ErrMFAAlreadyEnrolled),
		problem: answer{fiber.StatusConflict, "mfa_already_enrolled", "An authenticator app is already enrolled; remove it first."},
		oauth:   answer{fiber.StatusConflict, oauthInvalidRequest, "An authenticator app is already enrolled."},
	},
	{
		match:   is(domain.ErrMFANotEnrolled),
		problem: answer{fiber.StatusConflict, "mfa_not_enrolled", "The account has no such second factor."},
		oauth:   answer{fiber.StatusConflict, oauthInvalidRequest, "The account has no such second factor."},
	},
	{
		match:   is(domain.ErrPasskeyExists),
		problem: answer{fiber.StatusConflict, "passkey_exists", "This passkey is already registered."},
		oauth:   answer{fiber.StatusConflict, oauthInvalidRequest, "This passkey is already registered."},
	},
	{
		match:   is(domain.ErrTooManyPasskeys),
		problem: answer{fiber.StatusConflict, "too_many_passkeys", "The account has the most passkeys allowed; delete one first."},
		oauth:   answer{fiber.StatusConflict, oauthInvalidRequest, "The account has the most passkeys allowed."},
	},
}

// webAuthnErrorRows are the rows of WebAuthn responses that are bad
// requests, after ErrInvalidCredentials.
var webAuthnErrorRows = [...]errorRow{
	{
		match:   is(domain.ErrWebAuthnChallengeInvalid),
		problem: answer{fiber.StatusBadRequest, "invalid_webauthn_challenge", "The WebAuthn response answers no live challenge of this ceremony (unknown, expired or already answered); begin again."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidRequest, "The WebAuthn response answers no live challenge."},
	},
	{
		match:   is(domain.ErrInvalidWebAuthnResponse),
		problem: answer{fiber.StatusBadRequest, "invalid_webauthn_response", "The WebAuthn response is malformed or does not verify (origin, relying party, signature)."},
		oauth:   answer{fiber.StatusBadRequest, oauthInvalidRequest, "The WebAuthn response is malformed or does not verify."},
	},
}

// passkeyNotFoundRow answers a passkey id the caller has no passkey with.
var passkeyNotFoundRow = errorRow{
	match:   is(domain.ErrPasskeyNotFound),
	problem: answer{fiber.StatusNotFound, "not_found", "No such passkey."},
	oauth:   answer{fiber.StatusNotFound, oauthInvalidRequest, "No such passkey."},
}

// mfaChallenge is what an mfa_required problem adds: the mfa_token that
// continues the login, how long it works and the factors it takes.
type mfaChallenge struct {
	MFAToken  string   `json:"mfa_token"`
	Methods   []string `json:"methods"`
	ExpiresIn int64    `json:"expires_in"`
}

func mfaChallengeOf(e *application.MFARequiredError) *mfaChallenge {
	methods := make([]string, len(e.Methods))
	for i, m := range e.Methods {
		methods[i] = string(m)
	}
	return &mfaChallenge{MFAToken: e.Token, Methods: methods, ExpiresIn: int64(e.ExpiresIn.Seconds())}
}
