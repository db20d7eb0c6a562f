-- When the user showed that mail to the address reaches them: a
-- verification, password reset or email change link was used. NULL for
-- accounts made before, or not verified yet.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz NULL;

COMMENT ON COLUMN users.email_verified_at IS
    'when the address was verified through a mailed link; NULL while it is not';
