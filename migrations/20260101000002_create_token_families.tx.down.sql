ALTER TABLE refresh_tokens DROP CONSTRAINT IF EXISTS refresh_tokens_token_family_fkey;
DROP TABLE IF EXISTS token_families;
