package application_test

import (
	"testing"

	"authd/application"
)

func TestLinks(t *testing.T) {
	t.Parallel()
	const token = "q1W-e2_R3t4Y5u6I7o8P9a0SdFgHjKlZxCvBnM1234A"
	tests := []struct {
		name, public, app string
		reset, verify     string
		confirm           string
	}{
		{
			name: "hosted pages", public: "https://auth.example.com",
			reset:   "https://auth.example.com/account/reset-password?token=" + token,
			verify:  "https://auth.example.com/account/verify-email?token=" + token,
			confirm: "https://auth.example.com/account/confirm-email-change?token=" + token,
		},
		{
			name: "hosted pages under a prefix", public: "https://example.com/auth/",
			reset:   "https://example.com/auth/account/reset-password?token=" + token,
			verify:  "https://example.com/auth/account/verify-email?token=" + token,
			confirm: "https://example.com/auth/account/confirm-email-change?token=" + token,
		},
		{
			name: "the application's pages", public: "https://auth.example.com", app: "https://app.example.com/my",
			reset:   "https://app.example.com/my/account/reset-password#token=" + token,
			verify:  "https://app.example.com/my/account/verify-email#token=" + token,
			confirm: "https://app.example.com/my/account/confirm-email-change#token=" + token,
		},
	}
	for _, tt := range tests {
		l, err := application.NewLinks(tt.public, tt.app)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, c := range []struct{ got, want string }{
			{l.ResetPassword(token), tt.reset}, {l.VerifyEmail(token), tt.verify}, {l.ConfirmEmailChange(token), tt.confirm},
		} {
			if c.got != c.want {
				t.Errorf("%s: link %q, want %q", tt.name, c.got, c.want)
			}
		}
	}
	for _, bad := range []string{"", "auth.example.com", "ftp://x", "https://x/?a=1", "https://x/#f", "https://u:p@x", "https://"} {
		if _, err := application.NewLinks(bad, ""); err == nil {
			t.Errorf("NewLinks(%q) accepted a bad public URL", bad)
		}
		if bad != "" {
			if _, err := application.NewLinks("https://ok.example", bad); err == nil {
				t.Errorf("NewLinks(_, %q) accepted a bad application URL", bad)
			}
		}
	}
}
