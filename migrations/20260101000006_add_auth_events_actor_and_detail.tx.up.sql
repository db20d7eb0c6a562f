-- Who acted (an admin acting on another user; NULL when the user acted or
-- nobody did) and what else an event needs to be understood.
ALTER TABLE auth_events
    ADD COLUMN actor_id bigint NULL REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';
