package main

import (
	"net/http"
	"testing"
)

// TestAccountBudgetAcrossProcesses spreads the failed logins of one account
// over two authd processes on one database: they add up to one budget,
// which then refuses new IPs on both, while the owner's IP, known from a
// login through the other process, still gets in.
func TestAccountBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := migratedDatabase(t)
	key := genKeyFile(t)
	env := []string{"AUTHD_RATE_LIMITS=on", "AUTHD_FAILED_LOGINS_PER_ACCOUNT=6/1h"}
	servers := []*server{
		startServer(t, serverOptions{DSN: dsn, KeyFile: key, Env: env}),
		startServer(t, serverOptions{DSN: dsn, KeyFile: key, Env: env}),
	}
	from := func(s *server, ip string) *apiClient { return newAPIClientFrom(t, s.URL, ip, nil) }
	email, password := newEmail(t, "olga"), newPassword(t)
	servers[0].API.register(email, password)
	for _, s := range servers {
		s.forbid(password)
	}
	login := func(c *apiClient, pw string) *apiResponse {
		t.Helper()
		return c.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
	}
	login(from(servers[0], "127.0.0.10"), password).want(t, http.StatusOK).tokens(t)

	// Six failures from three IPs, three through each process: each
	// process alone saw half of the budget.
	for i, ip := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.21", "127.0.0.22", "127.0.0.23"} {
		login(from(servers[i%2], ip), "wrong-"+password).want(t, http.StatusUnauthorized, "invalid_credentials")
	}
	for i, s := range servers {
		r := login(from(s, "127.0.0.30"), password).want(t, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("server %d: a 429 without Retry-After", i)
		}
	}
	login(from(servers[1], "127.0.0.10"), password).want(t, http.StatusOK).tokens(t)

	// A restart forgets nothing: the counters are in the database.
	servers[1].stop(t)
	restarted := startServer(t, serverOptions{DSN: dsn, KeyFile: key, Env: env})
	login(from(restarted, "127.0.0.31"), password).want(t, http.StatusTooManyRequests, "rate_limited")
}
