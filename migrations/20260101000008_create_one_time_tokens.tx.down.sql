DROP TABLE IF EXISTS one_time_tokens;
DROP TYPE IF EXISTS one_time_token_purpose;

COMMENT ON COLUMN limit_counters.scope IS
    'What is counted: password_pair (account and IP), password_account, password_ip, registration_ip.';
