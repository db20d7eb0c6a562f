package domain

import (
	"strings"
	"unicode/utf8"
)

// Longest stored client details, in characters (Unicode code points), as
// the varchar columns that hold them count.
const (
	MaxUserAgentChars = 512
	MaxIPChars        = 64
)

// ClientInfo describes the client behind a request, for session lists and
// the audit trail. Build it with NewClientInfo; every ClientInfo is
// storable as it is.
type ClientInfo struct {
	userAgent string
	ip        string
}

// NewClientInfo returns the client details of a request, made storable:
// valid UTF-8 without NUL characters, the user agent clipped to
// MaxUserAgentChars and the IP to MaxIPChars characters. It copies its
// arguments, which may alias buffers that a server reuses.
func NewClientInfo(userAgent, ip string) ClientInfo {
	return ClientInfo{userAgent: storable(userAgent, MaxUserAgentChars), ip: storable(ip, MaxIPChars)}
}

// UserAgent returns the client's User-Agent.
func (c ClientInfo) UserAgent() string { return c.userAgent }

// IP returns the client's address.
func (c ClientInfo) IP() string { return c.ip }

// storable returns a copy of s as valid UTF-8 without NUL, clipped to at
// most n characters.
func storable(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return strings.Clone(s)
}

// Equal reports whether c and o describe the same client.
func (c ClientInfo) Equal(o ClientInfo) bool { return c == o }
