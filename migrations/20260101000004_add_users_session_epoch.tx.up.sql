-- The session epoch counts the changes that ended a user's sessions
-- (password change, deactivation, ...). A login opens its session only if
-- the epoch it read with the user is still current, so a login that checked
-- the old password cannot open a session after a password change.
ALTER TABLE users ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;

COMMENT ON COLUMN users.session_epoch IS
    'Increased by every change that ends the user''s sessions; new sessions are stored only at the current epoch.';
