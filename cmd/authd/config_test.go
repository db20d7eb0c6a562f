package main

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/adapters/httpapi"
	"authd/adapters/jwt"
	"authd/adapters/password"
	"authd/adapters/postgres"
	"authd/domain"
)

// envMap is a getenv over a map.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := LoadConfig(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	pool := postgres.DefaultPoolOptions()
	want := Config{
		Env:             "prod",
		LogLevel:        slog.LevelInfo,
		HTTPAddr:        "127.0.0.1:8080",
		Audience:        "authd",
		AccessTokenTTL:  15 * time.Minute,
		Session:         domain.SessionPolicy{TokenTTL: 336 * time.Hour, MaxLifetime: 2160 * time.Hour},
		Argon2:          password.Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		HashConcurrency: runtime.GOMAXPROCS(0),
		RateLimits:      true,
		Limits: domain.LimitPolicy{
			PerAccountIP:           domain.Limit{Max: 5, Window: 15 * time.Minute},
			PerAccount:             domain.Limit{Max: 50, Window: time.Hour},
			PerIP:                  domain.Limit{Max: 100, Window: time.Hour},
			KnownIPTTL:             30 * 24 * time.Hour,
			KnownIPsPerAccount:     20,
			Registrations:          domain.Limit{Max: 10, Window: time.Minute},
			MailRequestsPerIP:      domain.Limit{Max: 30, Window: time.Hour},
			MailsPerAddress:        domain.Limit{Max: 5, Window: time.Hour},
			PasskeyCeremoniesPerIP: domain.Limit{Max: 60, Window: time.Minute},
		},
		DB: postgres.PoolOptions{
			MaxOpenConns:    max(8, 4*runtime.GOMAXPROCS(0)),
			MaxIdleConns:    max(8, 4*runtime.GOMAXPROCS(0)),
			ConnMaxLifetime: 30 * time.Minute,
			ConnMaxIdleTime: 5 * time.Minute,
			DialTimeout:     5 * time.Second,
			ReadTimeout:     30 * time.Second,
			WriteTimeout:    10 * time.Second,
		},
		HTTPReadTimeout:  10 * time.Second,
		HTTPWriteTimeout: 10 * time.Second,
		HTTPIdleTimeout:  60 * time.Second,
		ShutdownTimeout:  15 * time.Second,
		ShutdownDrain:    5 * time.Second,
		Prune:            PruneConfig{After: 7 * 24 * time.Hour, AuditRetention: 400 * 24 * time.Hour, Interval: time.Minute},
		MetricsAddr:      "127.0.0.1:9464",
		Mail:             MailConfig{On: true, SMTPTimeout: 30 * time.Second, PollInterval: time.Second},
		MFA:              MFAConfig{DisplayName: "authd"},
		RequestTimeout:   10 * time.Second,
		HashQueue:        8 * runtime.GOMAXPROCS(0),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if iss := got.issuerFor(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}); iss != "http://127.0.0.1:8080" {
		t.Errorf("default issuer = %q, want http://127.0.0.1:8080", iss)
	}
	if diff := cmp.Diff(pool, got.DB); diff != "" {
		t.Errorf("pool defaults differ from postgres.DefaultPoolOptions (-want +got):\n%s", diff)
	}
	if err := got.requireServe(); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "AUTHD_JWT_PRIVATE_KEY_FILE") ||
		!strings.Contains(err.Error(), "AUTHD_SMTP_URL") || !strings.Contains(err.Error(), "AUTHD_ENCRYPTION_KEY_FILE") {
		t.Errorf("requireServe() = %v, want the four required variables named", err)
	}
}

func TestLoadConfigEveryVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AUTHD_ENV":                          "dev",
		"AUTHD_LOG_LEVEL":                    "debug",
		"DATABASE_URL":                       "postgres://u@db:5432/authd?sslmode=disable",
		"HTTP_ADDR":                          "0.0.0.0:9000",
		"AUTHD_ISSUER":                       "https://auth.example.com",
		"AUTHD_AUDIENCE":                     "api",
		"AUTHD_JWT_PRIVATE_KEY_FILE":         "/keys/current.pem",
		"AUTHD_JWT_EXTRA_PUBLIC_KEY_FILES":   " /keys/old1.pem, ,/keys/old2.pem ",
		"AUTHD_ACCESS_TOKEN_TTL":             "5m",
		"AUTHD_REFRESH_TOKEN_TTL":            "24h",
		"AUTHD_SESSION_MAX_LIFETIME":         "720h",
		"AUTHD_ARGON2_MEMORY_KIB":            "65536",
		"AUTHD_ARGON2_TIME":                  "3",
		"AUTHD_ARGON2_THREADS":               "4",
		"AUTHD_HASH_CONCURRENCY":             "7",
		"AUTHD_RATE_LIMITS":                  "off",
		"AUTHD_FAILED_LOGINS_PER_ACCOUNT_IP": "3/10m",
		"AUTHD_FAILED_LOGINS_PER_ACCOUNT":    "20/2h",
		"AUTHD_FAILED_LOGINS_PER_IP":         " 500 / 1h ",
		"AUTHD_KNOWN_IP_TTL":                 "168h",
		"AUTHD_KNOWN_IPS_PER_ACCOUNT":        "5",
		"AUTHD_REGISTRATIONS_PER_IP":         "3/10m",
		"AUTHD_EMAIL_REQUESTS_PER_IP":        "7/30m",
		"AUTHD_EMAILS_PER_ADDRESS":           "2/2h",
		"AUTHD_PASSKEY_CEREMONIES_PER_IP":    "9/5m",
		"AUTHD_DB_MAX_OPEN_CONNS":            "20",
		"AUTHD_DB_MAX_IDLE_CONNS":            "4",
		"AUTHD_DB_CONN_MAX_LIFETIME":         "1h",
		"AUTHD_DB_CONN_MAX_IDLE_TIME":        "2m",
		"AUTHD_DB_DIAL_TIMEOUT":              "2s",
		"AUTHD_DB_READ_TIMEOUT":              "3s",
		"AUTHD_DB_WRITE_TIMEOUT":             "4s",
		"AUTHD_HTTP_READ_TIMEOUT":            "5s",
		"AUTHD_HTTP_WRITE_TIMEOUT":           "6s",
		"AUTHD_HTTP_IDLE_TIMEOUT":            "7s",
		"AUTHD_SHUTDOWN_TIMEOUT":             "8s",
		"AUTHD_SHUTDOWN_DRAIN":               "0s",
		"AUTHD_PRUNE_AFTER":                  "48h",
		"AUTHD_AUDIT_RETENTION":              "720h",
		"AUTHD_PRUNE_INTERVAL":               "30s",
		"AUTHD_TRUSTED_PROXIES":              "10.0.0.0/8, 2001:db8::1",
		"AUTHD_CORS_ORIGINS":                 "https://app.example.com,http://localhost:5173",
		"AUTHD_METRICS_ADDR":                 "0.0.0.0:9100",
		"AUTHD_REQUEST_TIMEOUT":              "9s",
		"AUTHD_HASH_QUEUE":                   "12",
		"AUTHD_DB_PREPARED":                  "off",
		"AUTHD_ENCRYPTION_KEY_FILE":          "/keys/encryption.key",
		"AUTHD_MFA_DISPLAY_NAME":             "Example",
		"AUTHD_WEBAUTHN_RP_ID":               "Example.com",
		"AUTHD_WEBAUTHN_ORIGINS":             "https://example.com/, https://app.example.com",
	}
	got, err := LoadConfig(envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Env:                    "dev",
		LogLevel:               slog.LevelDebug,
		DatabaseURL:            "postgres://u@db:5432/authd?sslmode=disable",
		HTTPAddr:               "0.0.0.0:9000",
		Issuer:                 "https://auth.example.com",
		Audience:               "api",
		JWTPrivateKeyFile:      "/keys/current.pem",
		JWTExtraPublicKeyFiles: []string{"/keys/old1.pem", "/keys/old2.pem"},
		AccessTokenTTL:         5 * time.Minute,
		Session:                domain.SessionPolicy{TokenTTL: 24 * time.Hour, MaxLifetime: 720 * time.Hour},
		Argon2:                 password.Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32},
		HashConcurrency:        7,
		RateLimits:             false,
		Limits: domain.LimitPolicy{
			PerAccountIP:           domain.Limit{Max: 3, Window: 10 * time.Minute},
			PerAccount:             domain.Limit{Max: 20, Window: 2 * time.Hour},
			PerIP:                  domain.Limit{Max: 500, Window: time.Hour},
			KnownIPTTL:             168 * time.Hour,
			KnownIPsPerAccount:     5,
			Registrations:          domain.Limit{Max: 3, Window: 10 * time.Minute},
			MailRequestsPerIP:      domain.Limit{Max: 7, Window: 30 * time.Minute},
			MailsPerAddress:        domain.Limit{Max: 2, Window: 2 * time.Hour},
			PasskeyCeremoniesPerIP: domain.Limit{Max: 9, Window: 5 * time.Minute},
		},
		DB: postgres.PoolOptions{
			MaxOpenConns: 20, MaxIdleConns: 4,
			ConnMaxLifetime: time.Hour, ConnMaxIdleTime: 2 * time.Minute,
			DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second,
			Prepared: postgres.PreparedOff,
		},
		HTTPReadTimeout:  5 * time.Second,
		HTTPWriteTimeout: 6 * time.Second,
		HTTPIdleTimeout:  7 * time.Second,
		ShutdownTimeout:  8 * time.Second,
		Prune:            PruneConfig{After: 48 * time.Hour, AuditRetention: 720 * time.Hour, Interval: 30 * time.Second},
		TrustedProxies:   mustTrust(t, "10.0.0.0/8,2001:db8::1/128"),
		CORSOrigins:      mustOrigins(t, "http://localhost:5173,https://app.example.com"),
		MetricsAddr:      "0.0.0.0:9100",
		// dev without AUTHD_SMTP_URL: email is off.
		Mail: MailConfig{On: false, PublicURL: "https://auth.example.com", SMTPTimeout: 30 * time.Second, PollInterval: time.Second},
		MFA: MFAConfig{
			EncryptionKeyFile: "/keys/encryption.key", DisplayName: "Example",
			RPID: "example.com", Origins: []string{"https://example.com", "https://app.example.com"},
		},
		RequestTimeout: 9 * time.Second,
		HashQueue:      12,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if err := got.requireServe(); err != nil {
		t.Errorf("requireServe() = %v", err)
	}
}

func TestLoadConfigAcceptedSpellings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		check       func(Config) bool
	}{
		{"AUTHD_RATE_LIMITS", "on", func(c Config) bool { return c.RateLimits }},
		{"AUTHD_RATE_LIMITS", "true", func(c Config) bool { return c.RateLimits }},
		{"AUTHD_RATE_LIMITS", "1", func(c Config) bool { return c.RateLimits }},
		{"AUTHD_RATE_LIMITS", " OFF ", func(c Config) bool { return !c.RateLimits }},
		{"AUTHD_RATE_LIMITS", "false", func(c Config) bool { return !c.RateLimits }},
		{"AUTHD_RATE_LIMITS", "0", func(c Config) bool { return !c.RateLimits }},
		{"AUTHD_RATE_LIMITS", "no", func(c Config) bool { return !c.RateLimits }},
		{"AUTHD_LOG_LEVEL", "warn", func(c Config) bool { return c.LogLevel == slog.LevelWarn }},
		{"AUTHD_LOG_LEVEL", "ERROR", func(c Config) bool { return c.LogLevel == slog.LevelError }},
		{"HTTP_ADDR", "localhost:1234", func(c Config) bool { return c.issuerFor(nil) == "http://localhost:1234" }},
		{"AUTHD_ISSUER", "https://auth.internal:8080/tenant/", func(c Config) bool { return c.Issuer == "https://auth.internal:8080/tenant" }},
		{"AUTHD_ISSUER", "http://127.0.0.1:8080/", func(c Config) bool { return c.Issuer == "http://127.0.0.1:8080" }},
		{"AUTHD_TRUSTED_PROXIES", " 127.0.0.1/32 ,", func(c Config) bool { return c.TrustedProxies.Equal(mustTrust(t, "127.0.0.1")) }},
		{"AUTHD_METRICS_ADDR", "127.0.0.1:0", func(c Config) bool { return c.MetricsAddr == "127.0.0.1:0" }},
		{"AUTHD_SESSION_MAX_LIFETIME", "336h", func(c Config) bool { return c.Session.MaxLifetime == c.Session.TokenTTL }},
		{"AUTHD_ACCESS_TOKEN_TTL", "  1m ", func(c Config) bool { return c.AccessTokenTTL == time.Minute }},
		{"AUTHD_ACCESS_TOKEN_TTL", "1h", func(c Config) bool { return c.AccessTokenTTL == time.Hour }},
		{"AUTHD_REQUEST_TIMEOUT", "2s", func(c Config) bool { return c.RequestTimeout == 2*time.Second }},
		{"AUTHD_HASH_QUEUE", "3", func(c Config) bool { return c.HashQueue == 3 }},
		{"AUTHD_HASH_CONCURRENCY", "3", func(c Config) bool { return c.HashQueue == 24 }},
		{"AUTHD_DB_PREPARED", " ON ", func(c Config) bool { return c.DB.Prepared == postgres.PreparedOn }},
		{"AUTHD_DB_PREPARED", "auto", func(c Config) bool { return c.DB.Prepared == postgres.PreparedAuto }},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(envMap(map[string]string{tc.name: tc.value}))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("%s=%q was not read as expected: %+v", tc.name, tc.value, c)
			}
		})
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env   map[string]string
		names string // the variable the error must name
	}{
		{map[string]string{"AUTHD_ENV": "staging"}, "AUTHD_ENV"},
		{map[string]string{"AUTHD_LOG_LEVEL": "loud"}, "AUTHD_LOG_LEVEL"},
		{map[string]string{"HTTP_ADDR": "nope"}, "HTTP_ADDR"},
		{map[string]string{"HTTP_ADDR": "127.0.0.1"}, "HTTP_ADDR"},
		{map[string]string{"AUTHD_ISSUER": "ftp://x"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "auth.example.com"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "https://"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "https://x/?a=b"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "https://x/#frag"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "banana"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "10s"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "25h"}, "AUTHD_ACCESS_TOKEN_TTL"},
		// Stateless resource servers accept a token until exp: at most an hour.
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "61m"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "-15m"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_REFRESH_TOKEN_TTL": "2161h"}, "AUTHD_REFRESH_TOKEN_TTL"},
		{map[string]string{"AUTHD_REFRESH_TOKEN_TTL": "48h", "AUTHD_SESSION_MAX_LIFETIME": "24h"}, "AUTHD_SESSION_MAX_LIFETIME"},
		{map[string]string{"AUTHD_REFRESH_TOKEN_TTL": "fortnight"}, "AUTHD_REFRESH_TOKEN_TTL"},
		{map[string]string{"AUTHD_SESSION_MAX_LIFETIME": "0"}, "AUTHD_SESSION_MAX_LIFETIME"},
		{map[string]string{"AUTHD_RATE_LIMITS": "maybe"}, "AUTHD_RATE_LIMITS"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_IP": "10/banana"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_IP": "10"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_IP": "0/1m"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_IP": "10/1ms"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_IP": "10001/1h"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_ACCOUNT": "x/1m"}, "AUTHD_FAILED_LOGINS_PER_ACCOUNT"},
		{map[string]string{"AUTHD_FAILED_LOGINS_PER_ACCOUNT_IP": "-5/15m"}, "AUTHD_FAILED_LOGINS_PER_ACCOUNT_IP"},
		{map[string]string{"AUTHD_REGISTRATIONS_PER_IP": "10/48h"}, "AUTHD_REGISTRATIONS_PER_IP"},
		{map[string]string{"AUTHD_KNOWN_IP_TTL": "1m"}, "AUTHD_KNOWN_IP_TTL"},
		{map[string]string{"AUTHD_KNOWN_IP_TTL": "thirty days"}, "AUTHD_KNOWN_IP_TTL"},
		{map[string]string{"AUTHD_KNOWN_IPS_PER_ACCOUNT": "0"}, "AUTHD_KNOWN_IPS_PER_ACCOUNT"},
		// The variables these replaced are refused, naming their successor.
		{map[string]string{"AUTHD_LOGIN_LIMIT_PER_IP": "30/1m"}, "AUTHD_FAILED_LOGINS_PER_IP"},
		{map[string]string{"AUTHD_LOGIN_LIMIT_PER_ACCOUNT": "10/1m"}, "AUTHD_FAILED_LOGINS_PER_ACCOUNT"},
		{map[string]string{"AUTHD_REGISTER_LIMIT_PER_IP": "10/1m"}, "AUTHD_REGISTRATIONS_PER_IP"},
		{map[string]string{"AUTHD_DB_MAX_OPEN_CONNS": "0"}, "AUTHD_DB_MAX_OPEN_CONNS"},
		{map[string]string{"AUTHD_DB_MAX_OPEN_CONNS": "many"}, "AUTHD_DB_MAX_OPEN_CONNS"},
		{map[string]string{"AUTHD_DB_MAX_IDLE_CONNS": "-1"}, "AUTHD_DB_MAX_IDLE_CONNS"},
		{map[string]string{"AUTHD_DB_CONN_MAX_LIFETIME": "1ms"}, "AUTHD_DB_CONN_MAX_LIFETIME"},
		{map[string]string{"AUTHD_DB_CONN_MAX_IDLE_TIME": "forever"}, "AUTHD_DB_CONN_MAX_IDLE_TIME"},
		{map[string]string{"AUTHD_DB_DIAL_TIMEOUT": "1h"}, "AUTHD_DB_DIAL_TIMEOUT"},
		{map[string]string{"AUTHD_DB_READ_TIMEOUT": "1"}, "AUTHD_DB_READ_TIMEOUT"},
		{map[string]string{"AUTHD_DB_WRITE_TIMEOUT": "0s"}, "AUTHD_DB_WRITE_TIMEOUT"},
		{map[string]string{"AUTHD_DB_PREPARED": "true"}, "AUTHD_DB_PREPARED"},
		{map[string]string{"AUTHD_HTTP_READ_TIMEOUT": "x"}, "AUTHD_HTTP_READ_TIMEOUT"},
		{map[string]string{"AUTHD_HTTP_WRITE_TIMEOUT": "11m"}, "AUTHD_HTTP_WRITE_TIMEOUT"},
		{map[string]string{"AUTHD_HTTP_IDLE_TIMEOUT": "100ms"}, "AUTHD_HTTP_IDLE_TIMEOUT"},
		{map[string]string{"AUTHD_SHUTDOWN_TIMEOUT": "1h"}, "AUTHD_SHUTDOWN_TIMEOUT"},
		{map[string]string{"AUTHD_SHUTDOWN_DRAIN": "-1s"}, "AUTHD_SHUTDOWN_DRAIN"},
		{map[string]string{"AUTHD_PRUNE_AFTER": "10m"}, "AUTHD_PRUNE_AFTER"},
		{map[string]string{"AUTHD_AUDIT_RETENTION": "1h"}, "AUTHD_AUDIT_RETENTION"},
		{map[string]string{"AUTHD_PRUNE_INTERVAL": "often"}, "AUTHD_PRUNE_INTERVAL"},
		{map[string]string{"AUTHD_ARGON2_MEMORY_KIB": "1"}, "AUTHD_ARGON2_MEMORY_KIB"},
		{map[string]string{"AUTHD_ARGON2_MEMORY_KIB": "2000000"}, "AUTHD_ARGON2_MEMORY_KIB"},
		{map[string]string{"AUTHD_ARGON2_MEMORY_KIB": "16", "AUTHD_ARGON2_THREADS": "4"}, "AUTHD_ARGON2_MEMORY_KIB"},
		{map[string]string{"AUTHD_ARGON2_TIME": "0"}, "AUTHD_ARGON2_TIME"},
		{map[string]string{"AUTHD_ARGON2_TIME": "101"}, "AUTHD_ARGON2_TIME"},
		{map[string]string{"AUTHD_ARGON2_THREADS": "0"}, "AUTHD_ARGON2_THREADS"},
		{map[string]string{"AUTHD_ARGON2_THREADS": "256"}, "AUTHD_ARGON2_THREADS"},
		{map[string]string{"AUTHD_HASH_CONCURRENCY": "0"}, "AUTHD_HASH_CONCURRENCY"},
		{map[string]string{"AUTHD_ISSUER": "https://user:pw@auth.example.com"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "https://auth.example.com:0"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "https://auth.example.com:"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "https://bücher.example"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "http://auth.example.com"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_ISSUER": "http://10.0.0.7:8080"}, "AUTHD_ISSUER"},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:8080"}, "AUTHD_ISSUER"},
		{map[string]string{"HTTP_ADDR": ":8080"}, "AUTHD_ISSUER"},
		{map[string]string{"AUTHD_TRUSTED_PROXIES": "10.0.0.0/33"}, "AUTHD_TRUSTED_PROXIES"},
		{map[string]string{"AUTHD_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, "AUTHD_TRUSTED_PROXIES"},
		{map[string]string{"AUTHD_TRUSTED_PROXIES": "0.0.0.0/0"}, "AUTHD_TRUSTED_PROXIES"},
		{map[string]string{"AUTHD_CORS_ORIGINS": "*"}, "AUTHD_CORS_ORIGINS"},
		{map[string]string{"AUTHD_CORS_ORIGINS": "https://app.example.com/login"}, "AUTHD_CORS_ORIGINS"},
		{map[string]string{"AUTHD_CORS_ORIGINS": "app.example.com"}, "AUTHD_CORS_ORIGINS"},
		{map[string]string{"AUTHD_METRICS_ADDR": "9464"}, "AUTHD_METRICS_ADDR"},
		{map[string]string{"AUTHD_METRICS_ADDR": "127.0.0.1:70000"}, "AUTHD_METRICS_ADDR"},
		{map[string]string{"AUTHD_REQUEST_TIMEOUT": "soon"}, "AUTHD_REQUEST_TIMEOUT"},
		{map[string]string{"AUTHD_REQUEST_TIMEOUT": "10ms"}, "AUTHD_REQUEST_TIMEOUT"},
		{map[string]string{"AUTHD_REQUEST_TIMEOUT": "11m"}, "AUTHD_REQUEST_TIMEOUT"},
		{map[string]string{"AUTHD_HASH_QUEUE": "0"}, "AUTHD_HASH_QUEUE"},
		{map[string]string{"AUTHD_HASH_QUEUE": "-1"}, "AUTHD_HASH_QUEUE"},
		{map[string]string{"AUTHD_HASH_QUEUE": "lots"}, "AUTHD_HASH_QUEUE"},
	}
	for _, tc := range tests {
		var name strings.Builder
		for k, v := range tc.env {
			name.WriteString(k + "=" + v + ";")
		}
		t.Run(name.String(), func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(envMap(tc.env))
			if err == nil {
				t.Fatalf("LoadConfig accepted %v", tc.env)
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Errorf("error %q does not name %s", err, tc.names)
			}
		})
	}

	t.Run("every error is reported", func(t *testing.T) {
		t.Parallel()
		_, err := LoadConfig(envMap(map[string]string{
			"AUTHD_ENV": "staging", "AUTHD_RATE_LIMITS": "maybe", "AUTHD_DB_MAX_OPEN_CONNS": "0",
		}))
		for _, name := range []string{"AUTHD_ENV", "AUTHD_RATE_LIMITS", "AUTHD_DB_MAX_OPEN_CONNS"} {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("error %v does not name %s", err, name)
			}
		}
	})
}

func TestLoadConfigHTTPAddrPort(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:banana", "127.0.0.1:99999"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(envMap(map[string]string{"HTTP_ADDR": addr}))
			if err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") || strings.Contains(err.Error(), "AUTHD_ISSUER") {
				t.Errorf("LoadConfig(HTTP_ADDR=%s) = %v, want an error naming HTTP_ADDR only", addr, err)
			}
		})
	}
	t.Run("no host", func(t *testing.T) {
		t.Parallel()
		c, err := LoadConfig(envMap(map[string]string{"HTTP_ADDR": ":8080", "AUTHD_ENV": "dev"}))
		if iss := c.issuerFor(nil); err != nil || iss != "http://localhost:8080" {
			t.Errorf("HTTP_ADDR=:8080 gives issuer %q, %v; want http://localhost:8080", iss, err)
		}
	})
	t.Run("port 0", func(t *testing.T) {
		t.Parallel()
		c, err := LoadConfig(envMap(map[string]string{"HTTP_ADDR": "127.0.0.1:0"}))
		if err != nil {
			t.Fatal(err)
		}
		if iss := c.issuerFor(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}); iss != "http://127.0.0.1:41234" {
			t.Errorf("issuer = %q, want the bound port", iss)
		}
	})
}

func TestNormaliseIssuer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"https://auth.example.com", "https://auth.example.com"},
		{"https://auth.example.com/", "https://auth.example.com"},
		{"https://auth.example.com//", "https://auth.example.com"},
		{"HTTPS://Auth.Example.COM/", "https://auth.example.com"},
		{"https://auth.example.com:443/", "https://auth.example.com"},
		{"http://127.0.0.1:80", "http://127.0.0.1"},
		{"https://auth.example.com:8443", "https://auth.example.com:8443"},
		{"https://auth.example.com/tenant/", "https://auth.example.com/tenant"},
		{"https://auth.example.com/Tenant%20A/", "https://auth.example.com/Tenant%20A"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
	} {
		got, err := normaliseIssuer(c.in)
		if err != nil || got != c.want {
			t.Errorf("normaliseIssuer(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		// Normalising is idempotent: the result is its own normal form.
		if again, err := normaliseIssuer(got); err != nil || again != got {
			t.Errorf("normaliseIssuer(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}

func TestIssuerInProd(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env map[string]string
		ok  bool
	}{
		{map[string]string{"AUTHD_ISSUER": "https://auth.example.com"}, true},
		{map[string]string{"AUTHD_ISSUER": "http://127.0.0.1:8080"}, true},
		{map[string]string{"AUTHD_ISSUER": "http://127.8.9.10:8080"}, true},
		{map[string]string{"AUTHD_ISSUER": "http://localhost:8080"}, true},
		{map[string]string{"AUTHD_ISSUER": "http://[::1]:8080"}, true},
		{map[string]string{"HTTP_ADDR": "127.0.0.1:0"}, true},
		{map[string]string{"HTTP_ADDR": "[::1]:8080"}, true},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:8080", "AUTHD_ISSUER": "https://auth.example.com"}, true},
		{map[string]string{"AUTHD_ISSUER": "http://auth.example.com"}, false},
		{map[string]string{"AUTHD_ISSUER": "http://localhost.example.com"}, false},
		{map[string]string{"AUTHD_ISSUER": "http://192.168.1.10"}, false},
		{map[string]string{"HTTP_ADDR": "10.0.0.5:8080"}, false},
		{map[string]string{"HTTP_ADDR": "[::]:8080"}, false},
	} {
		_, err := LoadConfig(envMap(c.env))
		if c.ok && err != nil {
			t.Errorf("%v in prod: %v", c.env, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "AUTHD_ISSUER")) {
			t.Errorf("%v in prod: %v, want an error naming AUTHD_ISSUER", c.env, err)
		}
		// In dev, plain http is the developer's business.
		dev := map[string]string{"AUTHD_ENV": "dev"}
		for k, v := range c.env {
			dev[k] = v
		}
		if _, err := LoadConfig(envMap(dev)); err != nil {
			t.Errorf("%v in dev: %v", c.env, err)
		}
	}
}

func TestArgon2Warning(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		memory, time string
		warn         bool
	}{
		{"", "", false}, // the defaults: m=19456 t=2
		{"47104", "1", false},
		{"12288", "3", false},
		{"65536", "3", false},
		{"19455", "2", true},
		{"19456", "1", true},
		{"47103", "1", true},
		{"1024", "1", true},
		{"7168", "4", true},
	} {
		cfg, err := LoadConfig(envMap(map[string]string{"AUTHD_ARGON2_MEMORY_KIB": c.memory, "AUTHD_ARGON2_TIME": c.time}))
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Join(cfg.warnings(), "\n")
		if got := strings.Contains(w, "below OWASP's minimum"); got != c.warn {
			t.Errorf("m=%s t=%s: warnings %q, want a warning: %v", c.memory, c.time, w, c.warn)
		}
		if c.warn && (!strings.Contains(w, "AUTHD_ARGON2_MEMORY_KIB") || !strings.Contains(w, "AUTHD_ARGON2_TIME")) {
			t.Errorf("the warning does not name the variables: %q", w)
		}
	}
}

func mustTrust(t testing.TB, list string) httpapi.TrustedProxies {
	t.Helper()
	p, err := httpapi.ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOrigins(t testing.TB, list string) httpapi.Origins {
	t.Helper()
	o, err := httpapi.ParseOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestHelpFlag runs the binary, with no configuration, so that a help flag
// mistaken for serve cannot start a server.
func TestHelpFlag(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"help", "-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runAuthd(t, nil, "", arg)
			if code != 0 || !strings.Contains(stdout, "usage: authd") {
				t.Errorf("authd %s exited %d\nstdout: %s\nstderr: %s", arg, code, stdout, stderr)
			}
		})
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		code     int
		stdout   string
		stderr   string
		noStdout bool
	}{
		{args: []string{"bogus"}, code: 1, stderr: `unknown command "bogus"`},
		{args: []string{"help"}, code: 0, stdout: "usage: authd"},
		{args: []string{"gen-key"}, code: 1, stderr: "--out is required"},
		{args: []string{"gen-key", "--no-such-flag"}, code: 1, stderr: "no-such-flag"},
		{args: []string{"create-admin"}, code: 1, stderr: "--email is required"},
		{args: []string{"create-admin", "--email"}, code: 1, stderr: "email"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stdout %q, stderr %q; want them to contain %q and %q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
			}
		})
	}
}

func TestGenKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "key.pem")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"gen-key", "--out", path}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("gen-key exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), path) {
		t.Errorf("stdout %q does not name the file", stdout.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("key file mode %v is readable by others", fi.Mode().Perm())
	}
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("key file is not a PKCS#8 PEM: %.40q", pemBytes)
	}

	// The key loads the way the server loads it, and signs verifiable tokens.
	key, err := jwt.LoadPrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jwt.New(jwt.Config{PrivateKey: key, Issuer: "http://127.0.0.1:1", Audience: "authd"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	grant := domain.AccessGrant{UserID: 42, SessionID: uuid.New(), Role: domain.RoleUser}
	tok, _, err := iss.Issue(grant, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := iss.Verify(tok, now)
	if err != nil {
		t.Fatalf("verify a token signed with the generated key: %v", err)
	}
	if p.UserID != grant.UserID {
		t.Errorf("principal user %v, want %v", p.UserID, grant.UserID)
	}

	// An existing key is never overwritten.
	stderr.Reset()
	if code := run([]string{"gen-key", "--out", path}, strings.NewReader(""), &stdout, &stderr); code == 0 {
		t.Error("gen-key overwrote an existing key file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, pemBytes) {
		t.Error("the existing key file changed")
	}
	// Two runs give two different keys.
	other := filepath.Join(t.TempDir(), "other.pem")
	if code := run([]string{"gen-key", "--out", other}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	if b, _ := os.ReadFile(other); bytes.Equal(b, pemBytes) {
		t.Error("gen-key wrote the same key twice")
	}
}
