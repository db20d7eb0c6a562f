package httpapi_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authd/adapters/httpapi"
)

// proxies parses a trusted-proxy list or fails the test.
func proxies(t testing.TB, list string) httpapi.TrustedProxies {
	t.Helper()
	p, err := httpapi.ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	good := []struct {
		list string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{"127.0.0.1/32", []string{"127.0.0.1/32"}},
		{"10.0.0.0/8, 192.168.1.7", []string{"10.0.0.0/8", "192.168.1.7/32"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"2001:db8::/32,::1", []string{"2001:db8::/32", "::1/128"}},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
	}
	for _, c := range good {
		p, err := httpapi.ParseTrustedProxies(c.list)
		if err != nil {
			t.Errorf("ParseTrustedProxies(%q): %v", c.list, err)
			continue
		}
		var got []string
		for _, pr := range p.Prefixes() {
			got = append(got, pr.String())
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseTrustedProxies(%q) (-want +got):\n%s", c.list, diff)
		}
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "10.0.0.0/", "1.2.3.4.5", "fe80::1%eth0", "0.0.0.0/0", "::/0", "10.0.0.0/8,,garbage", "10.0.0.0-10.0.0.9"} {
		if _, err := httpapi.ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted it", bad)
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := proxies(t, "10.0.0.0/8, 2001:db8:ffff::/48, 127.0.0.1")
	proxy := netip.MustParseAddr("10.0.0.2")
	cases := []struct {
		name     string
		nobody   bool // trust no proxy
		peer     string
		xff, fwd []string
		want     string
	}{
		// Nobody trusted: the peer, whatever the headers say.
		{name: "no trusted proxies", nobody: true, xff: []string{"203.0.113.7"}, fwd: []string{"for=203.0.113.8"}, want: "10.0.0.2"},
		{name: "untrusted peer with forged headers", peer: "198.51.100.1", xff: []string{"203.0.113.7"}, fwd: []string{"for=203.0.113.8"}, want: "198.51.100.1"},
		{name: "untrusted IPv4-mapped peer", peer: "::ffff:198.51.100.1", xff: []string{"203.0.113.7"}, want: "198.51.100.1"},
		{name: "trusted IPv4-mapped peer", peer: "::ffff:10.0.0.2", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},

		// X-Forwarded-For.
		{name: "trusted peer, no headers", want: "10.0.0.2"},
		{name: "one hop", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "rightmost untrusted, never the leftmost", xff: []string{"198.51.100.99, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "trusted hops skipped", xff: []string{"198.51.100.99, 203.0.113.7, 10.1.1.1, 10.2.2.2"}, want: "203.0.113.7"},
		{name: "several header lines", xff: []string{"198.51.100.99", "203.0.113.7, 10.1.1.1"}, want: "203.0.113.7"},
		{name: "several header lines, client in the last", xff: []string{"10.1.1.1", "203.0.113.7"}, want: "203.0.113.7"},
		{name: "every hop trusted: the farthest", xff: []string{"10.9.9.9, 10.1.1.1"}, want: "10.9.9.9"},
		{name: "empty entries", xff: []string{" , 203.0.113.7 ,, "}, want: "203.0.113.7"},
		{name: "empty header", xff: []string{""}, want: "10.0.0.2"},
		{name: "spaces and tabs", xff: []string{"\t203.0.113.7\t,  10.1.1.1 "}, want: "203.0.113.7"},
		{name: "with a port", xff: []string{"203.0.113.7:5555"}, want: "203.0.113.7"},
		{name: "IPv6", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "IPv6 in brackets", xff: []string{"[2001:db8::7]"}, want: "2001:db8::7"},
		{name: "IPv6 with a port", xff: []string{"[2001:db8::7]:443"}, want: "2001:db8::7"},
		{name: "IPv6 full address kept", xff: []string{"2001:db8:1:2:3:4:5:6"}, want: "2001:db8:1:2:3:4:5:6"},
		{name: "trusted IPv6 hop", xff: []string{"2001:db8::7, 2001:db8:ffff::1"}, want: "2001:db8::7"},
		{name: "IPv4-mapped entry", xff: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "garbage left of the client is never read", xff: []string{"<script>, ,;, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "garbage where the client should be", xff: []string{"not-an-ip"}, want: "10.0.0.2"},
		{name: "garbage behind a trusted hop", xff: []string{"junk, 10.1.1.1"}, want: "10.0.0.2"},
		{name: "unknown", xff: []string{"unknown"}, want: "10.0.0.2"},
		{name: "zone", xff: []string{"fe80::1%eth0"}, want: "10.0.0.2"},
		{name: "a hostname", xff: []string{"client.example.com"}, want: "10.0.0.2"},

		// Forwarded (RFC 7239).
		{name: "forwarded one hop", fwd: []string{"for=203.0.113.7"}, want: "203.0.113.7"},
		{name: "forwarded case-insensitive name", fwd: []string{"For=203.0.113.7"}, want: "203.0.113.7"},
		{name: "forwarded quoted", fwd: []string{`for="203.0.113.7"`}, want: "203.0.113.7"},
		{name: "forwarded quoted with a port", fwd: []string{`for="203.0.113.7:4711"`}, want: "203.0.113.7"},
		{name: "forwarded IPv6 with a port", fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "forwarded IPv6", fwd: []string{`for="[2001:db8:cafe::17]"`}, want: "2001:db8:cafe::17"},
		{name: "forwarded escaped", fwd: []string{`for="\[2001:db8:cafe::17\]"`}, want: "2001:db8:cafe::17"},
		{name: "forwarded obfuscated port", fwd: []string{`for="203.0.113.7:_abc"`}, want: "203.0.113.7"},
		{name: "forwarded other parameters", fwd: []string{`by=10.0.0.2;for=203.0.113.7;proto=https;host="auth.example.com"`}, want: "203.0.113.7"},
		{name: "forwarded rightmost untrusted", fwd: []string{"for=198.51.100.99, for=203.0.113.7;proto=https, for=10.1.1.1"}, want: "203.0.113.7"},
		{name: "forwarded several lines", fwd: []string{"for=198.51.100.99", "for=203.0.113.7", "for=10.1.1.1"}, want: "203.0.113.7"},
		{name: "forwarded empty elements", fwd: []string{", ,for=203.0.113.7,"}, want: "203.0.113.7"},
		{name: "forwarded unknown", fwd: []string{"for=unknown"}, want: "10.0.0.2"},
		{name: "forwarded unknown behind the client", fwd: []string{"for=unknown, for=203.0.113.7"}, want: "203.0.113.7"},
		{name: "forwarded obfuscated", fwd: []string{"for=_hidden, for=10.1.1.1"}, want: "10.0.0.2"},
		{name: "forwarded without for", fwd: []string{"for=203.0.113.7, proto=https"}, want: "10.0.0.2"},
		{name: "forwarded unbracketed IPv6", fwd: []string{`for="2001:db8::7"`}, want: "10.0.0.2"},
		{name: "forwarded bad port", fwd: []string{`for="203.0.113.7:123456"`}, want: "10.0.0.2"},
		{name: "forwarded empty port", fwd: []string{`for="203.0.113.7:"`}, want: "10.0.0.2"},
		{name: "forwarded two fors in one element", fwd: []string{"for=203.0.113.7;for=203.0.113.8"}, want: "10.0.0.2"},
		{name: "forwarded open quote swallowing the proxy's element", fwd: []string{`for="198.51.100.99, for=203.0.113.7`}, want: "10.0.0.2"},
		{name: "forwarded garbage anywhere", fwd: []string{"for=198.51.100.99 junk, for=203.0.113.7"}, want: "10.0.0.2"},
		{name: "forwarded no value", fwd: []string{"for=, for=203.0.113.7"}, want: "10.0.0.2"},
		{name: "forwarded bare token", fwd: []string{"203.0.113.7"}, want: "10.0.0.2"},
		{name: "forwarded control character in quotes", fwd: []string{"for=\"203.0.113.7\x01\""}, want: "10.0.0.2"},
		{name: "forwarded empty", fwd: []string{""}, want: "10.0.0.2"},

		// Both headers: believed only when they agree.
		{name: "both agree", xff: []string{"203.0.113.7"}, fwd: []string{"for=203.0.113.7"}, want: "203.0.113.7"},
		{name: "client adds Forwarded behind an XFF proxy", xff: []string{"203.0.113.7"}, fwd: []string{"for=198.51.100.99"}, want: "10.0.0.2"},
		{name: "client adds XFF behind a Forwarded proxy", xff: []string{"198.51.100.99"}, fwd: []string{"for=203.0.113.7"}, want: "10.0.0.2"},
		{name: "malformed Forwarded beside XFF", xff: []string{"203.0.113.7"}, fwd: []string{`for="`}, want: "10.0.0.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tp := trusted
			if c.nobody {
				tp = httpapi.TrustedProxies{}
			}
			peer := proxy
			if c.peer != "" {
				peer = netip.MustParseAddr(c.peer)
			}
			if got := tp.ClientIP(peer, c.xff, c.fwd); got != netip.MustParseAddr(c.want) {
				t.Errorf("ClientIP(%s, xff %q, forwarded %q) = %s, want %s", peer, c.xff, c.fwd, got, c.want)
			}
		})
	}
}

// TestClientIPHugeHeaders feeds ClientIP headers far beyond what a server
// accepts: 10,000 hops, megabytes of garbage, an unclosed quote. Each must
// answer quickly and fall back to the peer where nothing can be believed.
func TestClientIPHugeHeaders(t *testing.T) {
	t.Parallel()
	trusted := proxies(t, "10.0.0.0/8")
	peer := netip.MustParseAddr("10.0.0.2")
	hops := func(entry string, n int) string { return strings.TrimSuffix(strings.Repeat(entry+", ", n), ", ") }
	cases := []struct {
		name     string
		xff, fwd []string
		want     string
	}{
		{"10,000 untrusted hops", []string{hops("203.0.113.7", 10_000)}, nil, "203.0.113.7"},
		{"10,000 trusted hops", []string{hops("10.1.1.1", 10_000)}, nil, "10.0.0.2"},
		{"10,000 header lines", strings.Split(hops("10.1.1.1", 10_000), ", "), nil, "10.0.0.2"},
		{"10,000 forwarded hops", nil, []string{hops("for=10.1.1.1", 10_000)}, "10.0.0.2"},
		{"10,000 forwarded hops to a client", nil, []string{hops("for=10.1.1.1", 10_000) + ", for=203.0.113.7"}, "203.0.113.7"},
		{"a megabyte of commas", []string{strings.Repeat(",", 1<<20)}, nil, "10.0.0.2"},
		{"a megabyte of garbage before the client", []string{strings.Repeat("x", 1<<20) + ", 203.0.113.7"}, nil, "203.0.113.7"},
		{"a megabyte in one quoted string", nil, []string{`for="` + strings.Repeat("a", 1<<20)}, "10.0.0.2"},
		{"32 trusted hops are believed", []string{"203.0.113.7, " + hops("10.1.1.1", 31)}, nil, "203.0.113.7"},
		{"33 trusted hops are too many", []string{"203.0.113.7, " + hops("10.1.1.1", 32)}, nil, "10.0.0.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got := trusted.ClientIP(peer, c.xff, c.fwd)
			if d := time.Since(start); d > time.Second {
				t.Errorf("ClientIP took %s", d)
			}
			if got != netip.MustParseAddr(c.want) {
				t.Errorf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
}

// FuzzClientIP checks ClientIP's promises on arbitrary headers: it never
// panics; an untrusted peer is always the answer; otherwise the answer is
// the peer or an address the headers name, and when the rightmost
// X-Forwarded-For entry is an untrusted address (and there is no Forwarded
// header), it is that address, whatever the client wrote to its left.
func FuzzClientIP(f *testing.F) {
	for _, seed := range [][2]string{
		{"203.0.113.7", ""},
		{"198.51.100.99, 203.0.113.7, 10.1.1.1", ""},
		{"[2001:db8::7]:443, 10.1.1.1", ""},
		{"", `for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.1.1`},
		{"", `for=unknown, for=_hidden, for="203.0.113.7:_p"`},
		{"", `for="\"\\, for=203.0.113.7`},
		{"203.0.113.7", "for=203.0.113.7"},
		{",,, ,", ";;,;"},
		{"\xff\xfe", "for=\"\xff\""},
	} {
		f.Add(seed[0], seed[1], true)
		f.Add(seed[0], seed[1], false)
	}
	trusted := proxies(f, "10.0.0.0/8, 2001:db8:ffff::/48")
	f.Fuzz(func(t *testing.T, xff, fwd string, trustedPeer bool) {
		peer := netip.MustParseAddr("198.51.100.1")
		if trustedPeer {
			peer = netip.MustParseAddr("10.0.0.2")
		}
		var xs, fs []string
		if xff != "" {
			xs = strings.Split(xff, "\n")
		}
		if fwd != "" {
			fs = strings.Split(fwd, "\n")
		}
		got := trusted.ClientIP(peer, xs, fs)
		if !trustedPeer {
			if got != peer {
				t.Fatalf("untrusted peer %s answered %s", peer, got)
			}
			return
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientIP = %v, want a plain address", got)
		}
		if fs == nil && len(xs) > 0 {
			entries := strings.Split(xs[len(xs)-1], ",")
			last, err := netip.ParseAddr(strings.Trim(entries[len(entries)-1], " \t"))
			if last = last.Unmap(); err == nil && last.Zone() == "" && !trusted.Prefixes()[0].Contains(last) && !trusted.Prefixes()[1].Contains(last) && got != last {
				t.Fatalf("ClientIP = %s, want the rightmost entry %s of %q", got, last, xff)
			}
		}
		if got == peer {
			return
		}
		if !strings.Contains(xff+fwd, got.String()) && !mentions(xff+fwd, got) {
			t.Fatalf("ClientIP = %s, which neither the peer nor the headers %q %q name", got, xff, fwd)
		}
	})
}

// mentions reports whether s names a in some spelling netip accepts
// (a mapped or zero-padded form, say).
func mentions(s string, a netip.Addr) bool {
	for _, field := range strings.FieldsFunc(s, func(r rune) bool {
		return strings.ContainsRune(" \t,;=\"[]\n\\", r)
	}) {
		for _, cand := range []string{field, strings.SplitN(field, ":", 2)[0]} {
			if b, err := netip.ParseAddr(cand); err == nil && b.Unmap() == a {
				return true
			}
		}
		if ap, err := netip.ParseAddrPort(field); err == nil && ap.Addr().Unmap() == a {
			return true
		}
	}
	return false
}
