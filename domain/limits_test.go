package domain_test

import (
	"errors"
	"testing"
	"time"

	"authd/domain"
)

func TestClientInfoLimitKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ip, want string
	}{
		{"IPv4 by address", "203.0.113.7", "203.0.113.7"},
		{"IPv6 by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"another address of the same /64", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"the next /64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"IPv6 spelled in capitals", "2001:DB8:1:2::1", "2001:db8:1:2::/64"},
		{"zoned IPv6", "fe80::1%eth0", "fe80::/64"},
		{"IPv4-mapped IPv6 counts as IPv4", "::ffff:198.51.100.4", "198.51.100.4"},
		{"not an IP", "unix-socket", "unix-socket"},
		{"no IP", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := domain.NewClientInfo("ua", tt.ip)
			if got := c.LimitKey(); got != tt.want {
				t.Errorf("LimitKey of %q = %q, want %q", tt.ip, got, tt.want)
			}
			if c.IP() != tt.ip {
				t.Errorf("IP() = %q, want the full address %q", c.IP(), tt.ip)
			}
		})
	}
}

func TestNewPasswordAttempt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	a := domain.NewPasswordAttempt(domain.MustParseEmail("Ann@Example.com"), domain.NewClientInfo("", "2001:db8::9"), at)
	if a.Account().String() != "ann@example.com" || a.IP() != "2001:db8::/64" || !a.At().Equal(at.Truncate(time.Microsecond)) {
		t.Errorf("attempt = %s from %s at %s", a.Account(), a.IP(), a.At())
	}
}

func TestLimitPolicyValidate(t *testing.T) {
	t.Parallel()
	if err := domain.DefaultLimitPolicy.Validate(); err != nil {
		t.Fatalf("the default policy: %v", err)
	}
	tests := []struct {
		name   string
		change func(p *domain.LimitPolicy)
	}{
		{"no attempts", func(p *domain.LimitPolicy) { p.PerAccountIP.Max = 0 }},
		{"too many attempts", func(p *domain.LimitPolicy) { p.PerIP.Max = domain.MaxLimitAttempts + 1 }},
		{"no window", func(p *domain.LimitPolicy) { p.PerAccount.Window = 0 }},
		{"negative registration window", func(p *domain.LimitPolicy) { p.Registrations.Window = -time.Second }},
		{"known IPs forgotten at once", func(p *domain.LimitPolicy) { p.KnownIPTTL = 0 }},
		{"no known IPs", func(p *domain.LimitPolicy) { p.KnownIPsPerAccount = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := domain.DefaultLimitPolicy
			tt.change(&p)
			if err := p.Validate(); err == nil {
				t.Errorf("Validate accepted %+v", p)
			}
		})
	}
}

func TestRateLimitErrorMatchesErrRateLimited(t *testing.T) {
	t.Parallel()
	var err error = &domain.RateLimitError{RetryAfter: time.Second}
	if !errors.Is(err, domain.ErrRateLimited) {
		t.Error("a *RateLimitError does not match ErrRateLimited")
	}
}
