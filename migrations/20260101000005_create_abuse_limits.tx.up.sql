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
-- allowing maxes[i] hits per wins[i]; a counter with exempts[i] counts the
-- attempt but does not refuse it. A counter refuses when its maxes[i]-th
-- newest hit lies inside the window; the attempt is admitted again when
-- that hit leaves it. A refused attempt is counted nowhere, so the answer,
-- until (NULL when admitted), is exact. first_refusal is true when this is
-- the first refusal of a counter's current block.
--
-- Admissions that share a counter are serialised by advisory locks, taken
-- in one order so that they cannot deadlock; each later statement of the
-- function takes a fresh snapshot, so it reads every hit committed by the
-- admission that held the lock before. That is what makes a limit exact
-- under concurrency, across instances: a single statement cannot both wait
-- for a lock and see what the holder wrote. PL/pgSQL keeps the statements'
-- plans for the session, and each statement reads or writes one counter by
-- its primary key, so no plan depends on the table's statistics.
CREATE FUNCTION limit_admit(at timestamptz, scopes varchar[], keys varchar[], maxes int[], wins interval[], exempts boolean[],
                            OUT until timestamptz, OUT first_refusal boolean)
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    nth timestamptz;
BEGIN
    first_refusal := false;
    PERFORM pg_advisory_xact_lock(lock_id)
    FROM (SELECT DISTINCT hashtextextended(s || ' ' || k, 7596846743552386660) AS lock_id
          FROM unnest(scopes, keys) AS u (s, k) ORDER BY 1) AS locks;

    FOR i IN 1 .. cardinality(scopes) LOOP
        SELECT c.hits[maxes[i]] INTO nth FROM limit_counters AS c WHERE c.scope = scopes[i] AND c.key = keys[i];
        IF NOT exempts[i] AND nth > at - wins[i] THEN
            until := greatest(until, nth + wins[i]);
            UPDATE limit_counters AS c SET refused_until = nth + wins[i]
            WHERE c.scope = scopes[i] AND c.key = keys[i] AND (c.refused_until IS NULL OR c.refused_until <= at);
            first_refusal := first_refusal OR FOUND;
        END IF;
    END LOOP;
    IF until IS NOT NULL THEN
        RETURN;
    END IF;

    FOR i IN 1 .. cardinality(scopes) LOOP
        INSERT INTO limit_counters AS c (scope, key, hits, expires_at)
        VALUES (scopes[i], keys[i], ARRAY[at], at + wins[i])
        ON CONFLICT (scope, key) DO UPDATE SET
            hits = ARRAY(SELECT h FROM unnest(EXCLUDED.hits || c.hits) AS h
                         WHERE h > at - wins[i] ORDER BY h DESC LIMIT 2 * maxes[i]),
            expires_at = greatest(c.expires_at, EXCLUDED.expires_at);
    END LOOP;
END
$$;
