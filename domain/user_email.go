package domain

import (
	"io"
	"time"

	"github.com/google/uuid"
)

// The user's address and the one-time tokens mailed to it: verification,
// password reset and email change. Each method checks a token against the
// user itself; the repository has already consumed it (see
// OneTimeToken.Consume) in the transaction that stores the change.

// EmailVerified reports whether the user has shown that mail to the
// address reaches them (a verification link, a password reset link or an
// email change link was used).
func (u *User) EmailVerified() bool { return !u.emailVerifiedAt.IsZero() }

// EmailVerifiedAt returns when the address was verified; zero if it was not.
func (u *User) EmailVerifiedAt() time.Time { return u.emailVerifiedAt }

// CheckEmailVerified returns ErrEmailNotVerified unless the address is
// verified.
func (u *User) CheckEmailVerified() error {
	if !u.EmailVerified() {
		return ErrEmailNotVerified
	}
	return nil
}

// MarkEmailVerified counts the address as verified from now, when an
// operator vouches for it (an admin created from the command line).
func (u *User) MarkEmailVerified(now time.Time) {
	if u.emailVerifiedAt.IsZero() {
		u.emailVerifiedAt = now
	}
}

// IssueToken draws a one-time token of purpose p (a password reset or an
// email verification) for the user's current address from r, and revokes
// the user's unused tokens of p: only the newest link of a purpose works.
// It returns the secret to mail; only its digest is stored, with the
// change.
func (u *User) IssueToken(p TokenPurpose, r io.Reader, now time.Time) (string, error) {
	if p != PurposePasswordReset && p != PurposeEmailVerification {
		return "", errNoTokenPurpose
	}
	secret, t, err := newOneTimeToken(r, p, u.id, u.email, uuid.Nil, now)
	if err != nil {
		return "", err
	}
	u.issue(t, now)
	return secret, nil
}

// RequestEmailChange draws the one-time token that moves the user to the
// address to, to be mailed there, and revokes the user's unused email
// change tokens. session, the session asking (uuid.Nil: none), survives
// the change. It returns a *ValidationError for the field "new_email" when
// to is already the user's address.
func (u *User) RequestEmailChange(to Email, session uuid.UUID, r io.Reader, now time.Time) (string, error) {
	if to == u.email {
		return "", NewValidationError("new_email", "is already the address of the account")
	}
	secret, t, err := newOneTimeToken(r, PurposeEmailChange, u.id, to, session, now)
	if err != nil {
		return "", err
	}
	u.issue(t, now)
	return secret, nil
}

// ResetPassword replaces the password's hash with hash through the
// consumed reset token t: every session of the user ends, the address
// counts as verified (the link reached it), and the user's other reset
// tokens are revoked. It returns ErrInvalidOneTimeToken when t is not a
// reset token of u's current address, or u is inactive.
func (u *User) ResetPassword(t OneTimeToken, hash string, now time.Time) error {
	if err := u.checkToken(t, PurposePasswordReset); err != nil {
		return err
	}
	u.passwordHash = hash
	u.endSessions(now, uuid.Nil)
	u.MarkEmailVerified(now)
	u.revokeTokens(now, PurposePasswordReset)
	return nil
}

// VerifyEmail counts the address as verified through the consumed
// verification token t, and revokes the user's other verification tokens.
// Verifying a verified address changes nothing else. It returns
// ErrInvalidOneTimeToken when t is not a verification token of u's current
// address, or u is inactive.
func (u *User) VerifyEmail(t OneTimeToken, now time.Time) error {
	if err := u.checkToken(t, PurposeEmailVerification); err != nil {
		return err
	}
	u.MarkEmailVerified(now)
	u.revokeTokens(now, PurposeEmailVerification)
	return nil
}

// ChangeEmail moves the user to the address the consumed email change
// token t was mailed to, which counts as verified by it. Every session
// ends except the one that asked for the change; every unused one-time
// token of the user is revoked, since those of the old address are void.
// The repository refuses the change with ErrEmailTaken when another user
// has the address by then. It returns ErrInvalidOneTimeToken when t is not
// an email change token of u, its address is u's already, or u is
// inactive.
func (u *User) ChangeEmail(t OneTimeToken, now time.Time) error {
	if t.purpose != PurposeEmailChange || t.user != u.id || !u.active || t.email == u.email || t.email.IsZero() {
		return ErrInvalidOneTimeToken
	}
	u.email = t.email
	u.emailVerifiedAt = now
	u.endSessions(now, t.session)
	u.revokeTokens(now, TokenPurposes()...)
	return nil
}

// checkToken returns ErrInvalidOneTimeToken unless t is a token of purpose
// p issued to u for the address u has now, and u is active: a link mailed
// to an address the user no longer has is void.
func (u *User) checkToken(t OneTimeToken, p TokenPurpose) error {
	if t.purpose != p || t.user != u.id || t.email != u.email || !u.active {
		return ErrInvalidOneTimeToken
	}
	return nil
}
