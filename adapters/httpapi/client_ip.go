package httpapi

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// maxHops bounds how many forwarding entries ClientIP examines, counted from
// the right; a request claiming more hops through trusted proxies than this
// is treated like one with a malformed header.
const maxHops = 32

// TrustedProxies are the reverse proxies whose forwarding headers authd
// believes. The zero value trusts nobody: every client is its socket peer.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, 2001:db8::/32"); a bare address is a prefix of one address,
// and an empty list trusts nobody. A prefix that spans a whole address
// family (0.0.0.0/0, ::/0) is refused: it would let every client choose its
// own address.
func ParseTrustedProxies(list string) (TrustedProxies, error) {
	var t TrustedProxies
	for _, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return TrustedProxies{}, err
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("%q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	// Peers and forwarded addresses are compared unmapped, so an IPv4-mapped
	// prefix (::ffff:10.0.0.0/104) is its IPv4 prefix.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return p, fmt.Errorf("%q trusts every address, so any client could name its own address", s)
	}
	return p.Masked(), nil
}

// Prefixes returns the trusted prefixes, masked and unmapped.
func (t TrustedProxies) Prefixes() []netip.Prefix {
	return append([]netip.Prefix(nil), t.prefixes...)
}

// Equal reports whether t and o trust the same prefixes, in the same order.
func (t TrustedProxies) Equal(o TrustedProxies) bool {
	if len(t.prefixes) != len(o.prefixes) {
		return false
	}
	for i := range t.prefixes {
		if t.prefixes[i] != o.prefixes[i] {
			return false
		}
	}
	return true
}

// trusts reports whether a is one of the trusted proxies.
func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client behind a request whose TCP
// peer is peer and whose X-Forwarded-For and Forwarded (RFC 7239) header
// lines, in the order received, are xForwardedFor and forwarded.
//
// An untrusted peer is the client, whatever its headers say. A trusted
// peer's headers are read from the right, the entry its own proxy added
// first, skipping trusted proxies: the first address that is not trusted is
// the client. Entries to its left were written by the client and are never
// read; so the leftmost entry counts only when every hop is a trusted proxy.
// The peer is the answer when the entries read are malformed, unknown or
// obfuscated (for=unknown, for=_hidden), more than maxHops, or when both
// headers are present and name different clients: a client can add either
// header, but cannot change the one its proxy appends to.
func (t TrustedProxies) ClientIP(peer netip.Addr, xForwardedFor, forwarded []string) netip.Addr {
	peer = peer.Unmap()
	if !t.trusts(peer) {
		return peer
	}
	x, xPresent := t.walk(xffNodes(xForwardedFor))
	f, fPresent := t.walk(forwardedNodes(forwarded))
	switch {
	case xPresent && fPresent:
		if x.IsValid() && x == f {
			return x
		}
	case xPresent && x.IsValid():
		return x
	case fPresent && f.IsValid():
		return f
	}
	return peer
}

// walk returns the client named by nodes, the entries of one header from
// right to left: the first untrusted address, or the last address when all
// are trusted. present is false when the header has no entries; a present
// header that names no client, or that did not parse (ok false), gives an
// invalid address.
func (t TrustedProxies) walk(nodes []netip.Addr, ok bool) (client netip.Addr, present bool) {
	if !ok {
		return netip.Addr{}, true
	}
	if len(nodes) == 0 {
		return netip.Addr{}, false
	}
	for i, a := range nodes {
		if !a.IsValid() || i == maxHops {
			return netip.Addr{}, true
		}
		if !t.trusts(a) {
			return a, true
		}
	}
	return nodes[len(nodes)-1], true
}

// xffNodes returns the rightmost maxHops+1 entries of X-Forwarded-For, right
// to left; an entry that is not an address (unknown, garbage) is an invalid
// address. ok is always true: the header has no syntax beyond its commas,
// so an entry left of those read cannot spoil them.
func xffNodes(lines []string) (nodes []netip.Addr, ok bool) {
	for i := len(lines) - 1; i >= 0 && len(nodes) <= maxHops; i-- {
		rest := lines[i]
		for len(nodes) <= maxHops {
			j := strings.LastIndexByte(rest, ',')
			entry := strings.Trim(rest[j+1:], " \t")
			if entry != "" {
				nodes = append(nodes, parseXFFEntry(entry))
			}
			if j < 0 {
				break
			}
			rest = rest[:j]
		}
	}
	return nodes, true
}

// parseXFFEntry reads one X-Forwarded-For entry: an address, optionally with
// a port ("192.0.2.1:443", "[2001:db8::1]:443") or in brackets.
func parseXFFEntry(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return plain(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return plain(ap.Addr())
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Is6() {
				return plain(a)
			}
		}
	}
	return netip.Addr{}
}

// plain returns a unmapped, or an invalid address when a has a zone (a
// zone names an interface of the proxy, not a client).
func plain(a netip.Addr) netip.Addr {
	if a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwardedNodes returns the for= node of every element of the Forwarded
// header (RFC 7239 §4), right to left; an element without for=, or whose
// node is unknown or obfuscated, is an invalid address. A header that does
// not parse gives ok false: a quote the client left open can swallow what
// its proxy appended, so no part of such a header is believed.
func forwardedNodes(lines []string) (nodes []netip.Addr, ok bool) {
	for _, line := range lines {
		p := forwardedParser{s: line}
		for {
			node, more, err := p.element()
			if err != nil {
				return nil, false
			}
			if node != nil {
				nodes = append(nodes, *node)
			}
			if !more {
				break
			}
		}
	}
	// Right to left, like xffNodes.
	for i, j := 0, len(nodes)-1; i < j; i, j = i+1, j-1 {
		nodes[i], nodes[j] = nodes[j], nodes[i]
	}
	return nodes, true
}

// forwardedParser reads a Forwarded header line left to right.
type forwardedParser struct {
	s   string
	pos int
}

var errForwarded = errors.New("malformed Forwarded header")

// element reads one forwarded-element and the comma after it. node is nil
// for an empty element (RFC 9110 §5.6.1 lists allow them), and otherwise
// the element's for= address (invalid when it names no address). more
// reports whether another element follows.
func (p *forwardedParser) element() (node *netip.Addr, more bool, err error) {
	p.skipOWS()
	var forValue string
	hasFor, nonEmpty := false, false
	for {
		p.skipOWS()
		if p.pos < len(p.s) && p.s[p.pos] != ',' && p.s[p.pos] != ';' {
			name := p.token()
			if name == "" || !p.consume('=') {
				return nil, false, errForwarded
			}
			value, err := p.value()
			if err != nil {
				return nil, false, err
			}
			nonEmpty = true
			if strings.EqualFold(name, "for") {
				if hasFor {
					return nil, false, errForwarded
				}
				hasFor, forValue = true, value
			}
		}
		p.skipOWS()
		if !p.consume(';') {
			break
		}
	}
	switch {
	case p.pos == len(p.s):
	case p.consume(','):
		more = true
	default:
		return nil, false, errForwarded
	}
	if !nonEmpty {
		return nil, more, nil
	}
	a := netip.Addr{}
	if hasFor {
		a = parseForwardedNode(forValue)
	}
	return &a, more, nil
}

func (p *forwardedParser) skipOWS() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *forwardedParser) consume(b byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == b {
		p.pos++
		return true
	}
	return false
}

// token reads an RFC 9110 token, possibly empty.
func (p *forwardedParser) token() string {
	start := p.pos
	for p.pos < len(p.s) && isTChar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// value reads a token or a quoted-string, unescaping the latter.
func (p *forwardedParser) value() (string, error) {
	if !p.consume('"') {
		if t := p.token(); t != "" {
			return t, nil
		}
		return "", errForwarded
	}
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if p.pos == len(p.s) || !isQuotedText(p.s[p.pos]) && p.s[p.pos] != '"' && p.s[p.pos] != '\\' {
				return "", errForwarded
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		case isQuotedText(c):
			b.WriteByte(c)
		default:
			return "", errForwarded
		}
	}
	return "", errForwarded // the quote was never closed
}

// isIDChar reports whether c is a letter, a digit, '.', '_' or '-': the
// characters of obfuscated identifiers (RFC 7239 §6.3) and of the request
// ids the edge keeps.
func isIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// isTChar reports whether c may appear in an RFC 9110 token.
func isTChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isQuotedText reports whether c may appear unescaped in a quoted-string
// (qdtext: HTAB, SP, visible characters but '"' and '\', obs-text).
func isQuotedText(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5B) || (0x5D <= c && c <= 0x7E) || c >= 0x80
}

// parseForwardedNode reads an RFC 7239 §6 node: an IPv4 address or a
// bracketed IPv6 address, each with an optional port, or "unknown" or an
// obfuscated identifier ("_hidden"), which name no address.
func parseForwardedNode(s string) netip.Addr {
	var host, port string
	if inner, ok := strings.CutPrefix(s, "["); ok {
		end := strings.IndexByte(inner, ']')
		if end < 0 {
			return netip.Addr{}
		}
		host, port = inner[:end], inner[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || !validNodePort(port) {
			return netip.Addr{}
		}
		return plain(a)
	}
	host, port, _ = strings.Cut(s, ":")
	if port != "" || strings.HasSuffix(s, ":") {
		port = ":" + port
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() || !validNodePort(port) {
		return netip.Addr{} // unknown, obfuscated or malformed alike
	}
	return a
}

// validNodePort reports whether s is empty or ":" and a port: 1 to 5 digits,
// or an obfuscated port ("_" and letters, digits, ".", "_", "-").
func validNodePort(s string) bool {
	if s == "" {
		return true
	}
	p, ok := strings.CutPrefix(s, ":")
	if !ok || p == "" {
		return false
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			if !isIDChar(p[i]) {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}
