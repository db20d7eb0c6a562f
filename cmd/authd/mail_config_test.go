package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadMailConfig(t *testing.T) {
	t.Parallel()
	got, err := LoadConfig(envMap(map[string]string{
		"AUTHD_EMAIL":              "on",
		"AUTHD_SMTP_URL":           "smtps://mailer:Smtp-Secret-9@smtp.example.com",
		"AUTHD_MAIL_FROM":          "Example <no-reply@example.com>",
		"AUTHD_MAIL_TEMPLATES_DIR": "/etc/authd/mail",
		"AUTHD_PUBLIC_URL":         "https://auth.example.com",
		"AUTHD_APP_URL":            "https://app.example.com",
		"AUTHD_SMTP_TIMEOUT":       "20s",
		"AUTHD_MAIL_POLL_INTERVAL": "250ms",

		"AUTHD_REQUIRE_VERIFIED_EMAIL": "on",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := MailConfig{
		On: true, SMTPURL: "smtps://mailer:Smtp-Secret-9@smtp.example.com", From: "Example <no-reply@example.com>",
		TemplatesDir: "/etc/authd/mail", PublicURL: "https://auth.example.com", AppURL: "https://app.example.com",
		SMTPTimeout: 20 * time.Second, PollInterval: 250 * time.Millisecond, RequireVerified: true,
	}
	if diff := cmp.Diff(want, got.Mail); diff != "" {
		t.Errorf("mail config (-want +got):\n%s", diff)
	}
	if l := got.Mail.links("").ResetPassword("tok"); l != "https://app.example.com/account/reset-password#token=tok" {
		t.Errorf("reset link = %q", l)
	}
}

// TestMailConfigSwitch: prod without an SMTP server does not start unless
// email is off; dev without one runs with email off.
func TestMailConfigSwitch(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://db/authd", "AUTHD_JWT_PRIVATE_KEY_FILE": "/k.pem", "AUTHD_ENCRYPTION_KEY_FILE": "/e.key"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		on      bool
		startup bool
	}{
		{"prod without SMTP", with(), true, false},
		{"prod with email off", with("AUTHD_EMAIL", "off"), false, true},
		{"prod with SMTP", with("AUTHD_SMTP_URL", "smtp://smtp.example.com", "AUTHD_MAIL_FROM", "a@example.com"), true, true},
		{"dev without SMTP", with("AUTHD_ENV", "dev"), false, true},
		{"dev with SMTP", with("AUTHD_ENV", "dev", "AUTHD_SMTP_URL", "smtp://127.0.0.1:1025", "AUTHD_MAIL_FROM", "a@localhost"), true, true},
	}
	for _, tt := range tests {
		c, err := LoadConfig(envMap(tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = c.requireServe()
		if c.Mail.On != tt.on || (err == nil) != tt.startup {
			t.Errorf("%s: email on=%v, start-up error %v; want on=%v, start-up ok=%v", tt.name, c.Mail.On, err, tt.on, tt.startup)
		}
		if err != nil && !strings.Contains(err.Error(), "AUTHD_SMTP_URL") {
			t.Errorf("%s: %v does not name AUTHD_SMTP_URL", tt.name, err)
		}
	}
}

func TestLoadMailConfigInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env   map[string]string
		names string
	}{
		{map[string]string{"AUTHD_EMAIL": "maybe"}, "AUTHD_EMAIL"},
		{map[string]string{"AUTHD_SMTP_URL": "http://u:Smtp-Secret-9@mail.example.com", "AUTHD_MAIL_FROM": "a@example.com"}, "AUTHD_SMTP_URL"},
		{map[string]string{"AUTHD_SMTP_URL": "smtp://u:Smtp-Secret-9@mail.example.com:0", "AUTHD_MAIL_FROM": "a@example.com"}, "AUTHD_SMTP_URL"},
		{map[string]string{"AUTHD_SMTP_URL": "smtp://u:Smtp-Secret-9@mail.example.com"}, "AUTHD_MAIL_FROM"},
		{map[string]string{"AUTHD_MAIL_FROM": "not an address"}, "AUTHD_MAIL_FROM"},
		{map[string]string{"AUTHD_PUBLIC_URL": "auth.example.com"}, "AUTHD_PUBLIC_URL"},
		{map[string]string{"AUTHD_PUBLIC_URL": "https://auth.example.com/?x=1"}, "AUTHD_PUBLIC_URL"},
		{map[string]string{"AUTHD_APP_URL": "https://app.example.com/#x"}, "AUTHD_APP_URL"},
		{map[string]string{"AUTHD_SMTP_TIMEOUT": "0s"}, "AUTHD_SMTP_TIMEOUT"},
		{map[string]string{"AUTHD_MAIL_POLL_INTERVAL": "1h"}, "AUTHD_MAIL_POLL_INTERVAL"},
		{map[string]string{"AUTHD_REQUIRE_VERIFIED_EMAIL": "sometimes"}, "AUTHD_REQUIRE_VERIFIED_EMAIL"},
		{map[string]string{"AUTHD_REQUIRE_VERIFIED_EMAIL": "on", "AUTHD_EMAIL": "off"}, "AUTHD_REQUIRE_VERIFIED_EMAIL"},
		{map[string]string{"AUTHD_REQUIRE_VERIFIED_EMAIL": "on", "AUTHD_ENV": "dev"}, "AUTHD_REQUIRE_VERIFIED_EMAIL"},
		{map[string]string{"AUTHD_EMAILS_PER_ADDRESS": "0/1h"}, "AUTHD_EMAILS_PER_ADDRESS"},
		{map[string]string{"AUTHD_EMAIL_REQUESTS_PER_IP": "ten"}, "AUTHD_EMAIL_REQUESTS_PER_IP"},
	}
	for _, tt := range tests {
		_, err := LoadConfig(envMap(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.names) {
			t.Errorf("%v: error %v, want one naming %s", tt.env, err, tt.names)
		}
		if err != nil && strings.Contains(err.Error(), "Smtp-Secret-9") {
			t.Errorf("%v: the error shows the SMTP password: %v", tt.env, err)
		}
	}
}
