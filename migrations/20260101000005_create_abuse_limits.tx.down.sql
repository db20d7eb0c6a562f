DROP FUNCTION IF EXISTS limit_admit(timestamptz, varchar[], varchar[], int[], interval[], boolean[]);
DROP TABLE IF EXISTS known_ips;
DROP TABLE IF EXISTS limit_counters;
