package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors of multi-factor authentication.
var (
	// ErrMFARequired: the password was right, and the account needs a
	// second factor before a session opens.
	ErrMFARequired = errors.New("second factor required")
	// ErrInvalidMFAToken: the mfa_token is unknown, expired, already used,
	// or ended by too many wrong second factors.
	ErrInvalidMFAToken = errors.New("invalid mfa token")
	// ErrInvalidSecondFactor: the code or the passkey assertion does not
	// prove the second factor (wrong, already used, or from a passkey whose
	// signature counter went back). It matches ErrInvalidCredentials, so
	// that it counts as a failed attempt toward the abuse limits.
	ErrInvalidSecondFactor = fmt.Errorf("%w: the second factor does not match", ErrInvalidCredentials)
	// ErrMFAAlreadyEnrolled: TOTP is already confirmed for the account.
	ErrMFAAlreadyEnrolled = errors.New("second factor already enrolled")
	// ErrMFANotEnrolled: the account has no such factor (no pending TOTP to
	// confirm, no TOTP to remove, no second factor to give recovery codes to).
	ErrMFANotEnrolled = errors.New("second factor not enrolled")
	// ErrPasskeyNotFound: the account has no passkey with that id.
	ErrPasskeyNotFound = errors.New("passkey not found")
	// ErrPasskeyExists: the credential is already registered.
	ErrPasskeyExists = errors.New("passkey already registered")
	// ErrTooManyPasskeys: the account has MaxPasskeys passkeys.
	ErrTooManyPasskeys = errors.New("too many passkeys")
	// ErrPasskeyCounterRegressed: a passkey's signature counter did not
	// increase, so its key may have been copied (a cloned authenticator).
	ErrPasskeyCounterRegressed = errors.New("passkey signature counter did not increase")
	// ErrInvalidWebAuthnResponse: a WebAuthn response is malformed or does
	// not verify (origin, relying party, signature, attestation).
	ErrInvalidWebAuthnResponse = errors.New("invalid webauthn response")
	// ErrWebAuthnChallengeInvalid: a WebAuthn response answers no live
	// challenge of this ceremony (unknown, expired, already answered, or
	// issued for another ceremony or user).
	ErrWebAuthnChallengeInvalid = errors.New("invalid webauthn challenge")
)

// The audited events of multi-factor authentication.
const (
	// EventMFAEnrolled: a second factor was added (detail method: totp or
	// passkey).
	EventMFAEnrolled EventType = "mfa_enrolled"
	// EventMFARemoved: a second factor was removed by the user.
	EventMFARemoved EventType = "mfa_removed"
	// EventMFAResetByAdmin: an admin removed every second factor.
	EventMFAResetByAdmin EventType = "mfa_reset_by_admin"
	// EventRecoveryCodesRegenerated: new recovery codes replaced the old.
	EventRecoveryCodesRegenerated EventType = "recovery_codes_regenerated"
	// EventRecoveryCodeUsed: a recovery code completed a login.
	EventRecoveryCodeUsed EventType = "recovery_code_used"
	// EventPasskeyAdded and EventPasskeyRemoved: a passkey was registered
	// or deleted.
	EventPasskeyAdded   EventType = "passkey_added"
	EventPasskeyRemoved EventType = "passkey_removed"
	// EventPasskeyCounterRegressed: a passkey's signature counter did not
	// increase (a possible cloned authenticator); the sign-in was refused.
	EventPasskeyCounterRegressed EventType = "passkey_counter_regressed"
	// EventMFAFailed: a wrong second factor was presented at login.
	EventMFAFailed EventType = "mfa_failed"
)
