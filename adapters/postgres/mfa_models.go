package postgres

import (
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// mfaEnrolmentRow is a row of mfa_enrolments: a user's TOTP secret, sealed,
// and WebAuthn user handle.
type mfaEnrolmentRow struct {
	bun.BaseModel `bun:"table:mfa_enrolments"`

	UserID          int64     `bun:"user_id,pk,type:bigint"`
	UserHandle      []byte    `bun:"webauthn_user_handle,type:bytea,unique"`
	TOTPSecret      []byte    `bun:"totp_secret,type:bytea"`
	TOTPKeyID       string    `bun:"totp_key_id,type:varchar(16),nullzero"`
	TOTPCreatedAt   time.Time `bun:"totp_created_at,type:timestamptz,nullzero"`
	TOTPConfirmedAt time.Time `bun:"totp_confirmed_at,type:timestamptz,nullzero"`
	TOTPLastStep    int64     `bun:"totp_last_step,type:bigint,notnull,default:0"`
	UpdatedAt       time.Time `bun:"updated_at,type:timestamptz,notnull,default:now()"`
}

// recoveryCodeRow is a row of mfa_recovery_codes: the keyed digest of one
// recovery code, never the code.
type recoveryCodeRow struct {
	bun.BaseModel `bun:"table:mfa_recovery_codes"`

	UserID    int64     `bun:"user_id,pk,type:bigint"`
	Digest    []byte    `bun:"digest,pk,type:bytea"`
	KeyID     string    `bun:"key_id,type:varchar(16),notnull"`
	CreatedAt time.Time `bun:"created_at,type:timestamptz,notnull"`
	UsedAt    time.Time `bun:"used_at,type:timestamptz,nullzero"`
}

// passkeyRow is a row of webauthn_credentials.
type passkeyRow struct {
	bun.BaseModel `bun:"table:webauthn_credentials"`

	ID                uuid.UUID `bun:"id,pk,type:uuid"`
	UserID            int64     `bun:"user_id,type:bigint,notnull"`
	CredentialID      []byte    `bun:"credential_id,type:bytea,notnull,unique"`
	PublicKey         []byte    `bun:"public_key,type:bytea,notnull"`
	SignCount         int64     `bun:"sign_count,type:bigint,notnull"`
	AAGUID            []byte    `bun:"aaguid,type:bytea,notnull"`
	Transports        []string  `bun:"transports,type:text[],notnull,array"`
	AttestationType   string    `bun:"attestation_type,type:varchar(32),notnull"`
	AttestationFormat string    `bun:"attestation_format,type:varchar(32),notnull"`
	BackupEligible    bool      `bun:"backup_eligible,type:boolean,notnull"`
	BackupState       bool      `bun:"backup_state,type:boolean,notnull"`
	UserVerified      bool      `bun:"user_verified,type:boolean,notnull"`
	Attachment        string    `bun:"attachment,type:varchar(32),notnull"`
	Name              string    `bun:"name,type:varchar(64),notnull"`
	CreatedAt         time.Time `bun:"created_at,type:timestamptz,notnull"`
	LastUsedAt        time.Time `bun:"last_used_at,type:timestamptz,nullzero"`
}

// pendingLoginRow is a row of pending_logins. Token is the hex SHA-256
// digest of the mfa_token, never the token itself.
type pendingLoginRow struct {
	bun.BaseModel `bun:"table:pending_logins"`

	Token        string    `bun:"token,pk,type:varchar(64)"`
	UserID       int64     `bun:"user_id,type:bigint,notnull"`
	Account      string    `bun:"account,type:varchar(255),notnull"`
	SessionEpoch int64     `bun:"session_epoch,type:bigint,notnull"`
	UserAgent    string    `bun:"user_agent,type:varchar(512),notnull,default:''"`
	IP           string    `bun:"ip,type:varchar(64),notnull,default:''"`
	CreatedAt    time.Time `bun:"created_at,type:timestamptz,notnull"`
	ExpiresAt    time.Time `bun:"expires_at,type:timestamptz,notnull"`
	UsedAt       time.Time `bun:"used_at,type:timestamptz,nullzero"`
	Failures     int       `bun:"failures,type:integer,notnull,default:0"`
}

// webAuthnChallengeRow is a row of webauthn_challenges (UNLOGGED).
type webAuthnChallengeRow struct {
	bun.BaseModel `bun:"table:webauthn_challenges"`

	Challenge    string    `bun:"challenge,pk,type:varchar(128)"`
	Kind         string    `bun:"kind,type:varchar(16),notnull"`
	UserID       int64     `bun:"user_id,type:bigint,nullzero"`
	PendingLogin string    `bun:"pending_login,type:varchar(64),nullzero"`
	State        []byte    `bun:"state,type:bytea,notnull"`
	ExpiresAt    time.Time `bun:"expires_at,type:timestamptz,notnull"`
}
