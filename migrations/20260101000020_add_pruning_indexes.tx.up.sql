-- Indexes the janitor's batched deletes use, so that a pass finds what has
-- expired without scanning whole tables. None of them is on a column that
-- a rotation writes, so rotations stay heap-only updates.
CREATE INDEX ix_token_families_expires_at ON token_families (expires_at);
CREATE INDEX ix_token_families_revoked_at ON token_families (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX ix_auth_events_created_at ON auth_events (created_at);
CREATE INDEX ix_mail_outbox_done ON mail_outbox (created_at) WHERE status <> 'pending';
