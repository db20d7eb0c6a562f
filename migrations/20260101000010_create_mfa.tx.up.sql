-- How each session was authenticated (RFC 8176 "amr"), which its access
-- tokens carry across rotations. Every session opened before this column
-- existed was a password login: the default of ADD COLUMN fills them in
-- without rewriting the table, and new sessions name their methods.
ALTER TABLE token_families ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE token_families ALTER COLUMN amr SET DEFAULT '{}';
COMMENT ON COLUMN token_families.amr IS 'RFC 8176 authentication methods of the login that opened the session, e.g. {pwd,otp,mfa}.';

-- One row per user with a second factor (or a WebAuthn user handle).
CREATE TABLE mfa_enrolments (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    webauthn_user_handle bytea NULL UNIQUE,
    totp_secret bytea NULL,
    totp_key_id varchar(16) NULL,
    totp_created_at timestamptz NULL,
    totp_confirmed_at timestamptz NULL,
    totp_last_step bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN mfa_enrolments.webauthn_user_handle IS 'Random WebAuthn user handle; authenticators learn nothing else about the account.';
COMMENT ON COLUMN mfa_enrolments.totp_secret IS 'The TOTP secret sealed with AES-256-GCM under the key totp_key_id (nonce || ciphertext), never in clear.';
COMMENT ON COLUMN mfa_enrolments.totp_confirmed_at IS 'NULL while the enrolment waits for its first code.';
COMMENT ON COLUMN mfa_enrolments.totp_last_step IS 'Last RFC 6238 time step accepted; later codes must be of a later step (no replay).';

CREATE TABLE mfa_recovery_codes (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest bytea NOT NULL,
    key_id varchar(16) NOT NULL,
    created_at timestamptz NOT NULL,
    used_at timestamptz NULL,
    PRIMARY KEY (user_id, digest)
);

COMMENT ON COLUMN mfa_recovery_codes.digest IS 'HMAC-SHA-256 of the code under the key key_id, never the code itself.';

CREATE TABLE webauthn_credentials (
    id uuid PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    public_key bytea NOT NULL,
    sign_count bigint NOT NULL,
    aaguid bytea NOT NULL,
    transports text[] NOT NULL,
    attestation_type varchar(32) NOT NULL,
    attestation_format varchar(32) NOT NULL,
    backup_eligible boolean NOT NULL,
    backup_state boolean NOT NULL,
    user_verified boolean NOT NULL,
    attachment varchar(32) NOT NULL,
    name varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NULL
);

CREATE INDEX ix_webauthn_credentials_user_id ON webauthn_credentials (user_id, created_at);

COMMENT ON COLUMN webauthn_credentials.public_key IS 'COSE_Key of the passkey (public).';
COMMENT ON COLUMN webauthn_credentials.sign_count IS 'Last signature counter accepted; a counter that does not increase is refused as a possible clone.';

-- Logins whose password was right, waiting for their second factor.
CREATE TABLE pending_logins (
    token varchar(64) PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account varchar(255) NOT NULL,
    session_epoch bigint NOT NULL,
    user_agent varchar(512) NOT NULL DEFAULT '',
    ip varchar(64) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz NULL,
    failures integer NOT NULL DEFAULT 0
);

CREATE INDEX ix_pending_logins_expires_at ON pending_logins (expires_at);

COMMENT ON COLUMN pending_logins.token IS 'SHA-256 hex digest of the mfa_token, never the token itself.';
COMMENT ON COLUMN pending_logins.session_epoch IS 'The user''s session epoch when the password was checked; the session opens only while it holds.';

-- WebAuthn ceremonies between their options and their answer: single use
-- and short-lived. UNLOGGED: a crash only makes a ceremony start again.
CREATE UNLOGGED TABLE webauthn_challenges (
    challenge varchar(128) PRIMARY KEY,
    kind varchar(16) NOT NULL,
    user_id bigint NULL REFERENCES users (id) ON DELETE CASCADE,
    pending_login varchar(64) NULL,
    state bytea NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX ix_webauthn_challenges_expires_at ON webauthn_challenges (expires_at);
