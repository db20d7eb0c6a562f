DROP TABLE webauthn_challenges;
DROP TABLE pending_logins;
DROP TABLE webauthn_credentials;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_enrolments;
ALTER TABLE token_families DROP COLUMN amr;
