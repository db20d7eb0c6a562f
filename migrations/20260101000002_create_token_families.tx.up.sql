-- A family is one login session: the aggregate root of its refresh tokens
-- and the row every change to the session locks.
CREATE TABLE token_families (
    id uuid PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NULL,
    user_agent varchar(512) NOT NULL DEFAULT '',
    ip varchar(64) NOT NULL DEFAULT '',
    version bigint NOT NULL DEFAULT 0
);

CREATE INDEX ix_token_families_user_id_created_at ON token_families (user_id, created_at DESC);

COMMENT ON COLUMN token_families.expires_at IS 'Absolute end of the session; rotation never extends it.';
COMMENT ON COLUMN token_families.version IS 'Increased by every change; writers update only the version they loaded.';

-- Tokens written before this migration get a family each, so the foreign
-- key below holds. A family ends when none of its tokens is still unrevoked.
INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, revoked_at)
SELECT token_family,
       min(user_id),
       min(created_at),
       max(created_at),
       max(expires_at),
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
FROM refresh_tokens
GROUP BY token_family;

ALTER TABLE refresh_tokens
    ADD CONSTRAINT refresh_tokens_token_family_fkey
    FOREIGN KEY (token_family) REFERENCES token_families (id) ON DELETE CASCADE;
