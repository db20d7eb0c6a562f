package application

import (
	"context"
	"fmt"
	"io"

	"authd/domain"
)

// TOTPEnrolment is what an authenticator app needs to add the account:
// the secret in base32 and the otpauth:// URI (for a QR code). It is shown
// once; authd keeps the secret only sealed.
type TOTPEnrolment struct {
	Secret string
	URI    string
}

// EnrollTOTP starts a TOTP enrolment for the caller.
type EnrollTOTP struct{ m *mfaDeps }

// Do checks the current password (see stepUp), draws a new TOTP secret and
// stores it sealed, pending until ConfirmTOTP; a pending enrolment is
// replaced. It returns domain.ErrMFAAlreadyEnrolled when TOTP is already
// confirmed, ErrWrongCurrentPassword, or a *domain.RateLimitError.
func (uc *EnrollTOTP) Do(ctx context.Context, p domain.Principal, currentPassword string, client domain.ClientInfo) (TOTPEnrolment, error) {
	now := uc.m.env.now()
	u, err := uc.m.current(ctx, p)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if err := uc.m.stepUp.check(ctx, p, u, currentPassword, client, "totp_enrol", now); err != nil {
		return TOTPEnrolment{}, err
	}
	secret := make([]byte, domain.TOTPSecretBytes)
	if _, err := io.ReadFull(uc.m.env.random, secret); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: read random: %w", err)
	}
	sealed, err := uc.m.secrets.Seal(secret, totpContext(u.ID()))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	if err := uc.m.mfa.Update(ctx, u.ID(), func(m *domain.MFA) error {
		return m.StartTOTP(sealed, now)
	}); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("enrol totp: %w", err)
	}
	encoded, uri := uc.m.totp.Enrolment(secret, u.Email().String())
	return TOTPEnrolment{Secret: encoded, URI: uri}, nil
}
