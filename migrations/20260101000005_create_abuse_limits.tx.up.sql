-- Counters of the abuse limits, shared by every instance. UNLOGGED: they
-- are not written to the WAL (cheap to update on every attempt) and are
-- emptied by a crash and absent on a promoted standby, which only resets
-- the limits.
CREATE UNLOGGED TABLE limit_counters (
    scope varchar(16) NOT NULL,
    key varchar(320) NOT NULL,
    hits timestamptz[] NOT NULL,
    refused_until timestamptz NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX ix_limit_counters_expires_at ON limit_counters (expires_at);

COMMENT ON COLUMN limit_counters.scope IS
    'What is counted: password_pair (account and IP), password_account, password_ip, registration_ip.';
COMMENT ON COLUMN limit_counters.key IS
    'The normalised email, the IP key (IPv4 address or IPv6 /64), or both separated by a space.';
COMMENT ON COLUMN limit_counters.hits IS
    'Times of the counted attempts in the window, newest first, at most twice the limit.';
COMMENT ON COLUMN limit_counters.refused_until IS
    'End of the block of refusals whose first refusal was reported (audited once per block).';
COMMENT ON COLUMN limit_counters.expires_at IS
    'Newest hit plus the window: past it the row changes no decision and may be pruned.';

-- The IPs that recently logged in to an account, which stay exempt from
-- the account's budget of failures. An ordinary table: losing it in a
-- crash would lock owners out while an attack goes on.
CREATE TABLE known_ips (
    account varchar(255) NOT NULL,
    ip varchar(64) NOT NULL,
    succeeded_at timestamptz NOT NULL,
    PRIMARY KEY (account, ip)
);

CREATE INDEX ix_known_ips_succeeded_at ON known_ips (succeeded_at);

COMMENT ON COLUMN known_ips.account IS 'The normalised email of the account.';
COMMENT ON COLUMN known_ips.ip IS 'The IP key (IPv4 address or IPv6 /64) that logged in.';

-- limit_admit decides whether an attempt may go ahead and, if so, counts it
-- on every counter it is subject to: counter i is (scopes[i], keys[i]),
-- allowing maxes[i] hits per wins[i]; a counter with exempt[i] counts the
-- attempt but does not refuse it. A counter refuses when its maxes[i]-th
-- newest hit lies inside the window; the attempt is admitted again when
-- that hit leaves it. A refused attempt is counted nowhere, so the answer,
-- until (NULL when admitted), is exact. first_refusal is true when this is
-- the first refusal of a counter's current block.
--
-- Admissions that share a counter are serialised by advisory locks, taken
-- in one order so that they cannot deadlock; a VOLATILE function's second
-- statement takes a fresh snapshot, so it reads every hit committed by the
-- admission that held the lock before it. That is what makes a limit exact
-- under concurrency, across instances: one statement could not both wait
-- for a lock and see what the holder wrote.
CREATE FUNCTION limit_admit(at timestamptz, scopes varchar[], keys varchar[], maxes int[], wins interval[], exempt boolean[],
                            OUT until timestamptz, OUT first_refusal boolean)
    LANGUAGE sql VOLATILE
AS $$
    SELECT count(pg_advisory_xact_lock(lock_id))
    FROM (SELECT DISTINCT hashtextextended(s || ' ' || k, 7596846743552386660) AS lock_id
          FROM unnest(scopes, keys) AS u (s, k) ORDER BY 1) AS locks;

    WITH lim AS (
        SELECT * FROM unnest(scopes, keys, maxes, wins, exempt) AS l (scope, key, max, win, exempt)
    ), over AS (
        SELECT c.scope, c.key, c.hits[l.max] + l.win AS until
        FROM lim AS l JOIN limit_counters AS c ON c.scope = l.scope AND c.key = l.key
        WHERE NOT l.exempt AND c.hits[l.max] > at - l.win
    ), noted AS (
        UPDATE limit_counters AS c SET refused_until = o.until
        FROM over AS o
        WHERE c.scope = o.scope AND c.key = o.key AND (c.refused_until IS NULL OR c.refused_until <= at)
        RETURNING 1
    ), counted AS (
        INSERT INTO limit_counters AS c (scope, key, hits, expires_at)
        SELECT scope, key, ARRAY[at], at + win FROM lim
        WHERE NOT EXISTS (SELECT 1 FROM over)
        ON CONFLICT (scope, key) DO UPDATE SET
            hits = (SELECT ARRAY(SELECT h FROM unnest(EXCLUDED.hits || c.hits) AS h
                                 WHERE h > at - l.win ORDER BY h DESC LIMIT 2 * l.max)
                    FROM lim AS l WHERE l.scope = EXCLUDED.scope),
            expires_at = greatest(c.expires_at, EXCLUDED.expires_at)
    )
    SELECT max(over.until), EXISTS (SELECT 1 FROM noted) FROM over;
$$;
