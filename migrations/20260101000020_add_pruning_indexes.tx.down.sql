DROP INDEX IF EXISTS ix_mail_outbox_done;
DROP INDEX IF EXISTS ix_auth_events_created_at;
DROP INDEX IF EXISTS ix_token_families_revoked_at;
DROP INDEX IF EXISTS ix_token_families_expires_at;
