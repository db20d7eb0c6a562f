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
	// ErrPasswordRequired: the change needs the current password.
	ErrPasswordRequired = errors.New("current password required")
)
