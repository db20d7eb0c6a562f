package smtp_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a small SMTP server on 127.0.0.1 for the failure modes a
// real one is hard to put in: it can refuse with 5xx, hang, offer STARTTLS
// or speak TLS from the start with a given certificate, and fail only its
// first few sessions.
type fakeServer struct {
	t  *testing.T
	ln net.Listener

	// Set before the first connection.
	cert     *tls.Certificate // offered for STARTTLS (or implicit TLS)
	implicit bool             // TLS from the first byte
	failing  int              // sessions that fail as mode says; later ones succeed
	// mode is how the failing sessions fail: "reject-mail", "reject-data",
	// "hang-greeting", "hang-data", "reject-auth", or "bad-cert" (only
	// they offer cert for STARTTLS).
	mode string

	mu       sync.Mutex
	sessions int
	received []received
}

// received is one message the server accepted.
type received struct {
	data   string
	tls    bool
	authed bool
}

func newFakeServer(t *testing.T, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln}
	if configure != nil {
		configure(s)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					select {
					case <-done:
						_ = c.Close()
					case <-stop:
					}
				}()
				s.serve(c)
			})
		}
	})
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) port() string {
	_, p, _ := net.SplitHostPort(s.addr())
	return p
}

func (s *fakeServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

func (s *fakeServer) serve(c net.Conn) {
	s.mu.Lock()
	s.sessions++
	failing := s.sessions <= s.failing
	s.mu.Unlock()
	mode := ""
	if failing {
		mode = s.mode
	}
	cert := s.cert
	if s.mode == "bad-cert" && !failing {
		cert = nil
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	isTLS := false
	if s.implicit {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
		if tc.Handshake() != nil {
			return
		}
		c, isTLS = tc, true
	}
	if mode == "hang-greeting" {
		_, _ = c.Read(make([]byte, 1)) // until the client gives up
		return
	}
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(lines ...string) bool {
		for _, l := range lines {
			_, _ = w.WriteString(l + "\r\n")
		}
		return w.Flush() == nil
	}
	say("220 fake.test ESMTP")
	authed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			ext := []string{"250-fake.test", "250-8BITMIME", "250-AUTH PLAIN LOGIN"}
			if cert != nil && !isTLS {
				ext = append(ext, "250-STARTTLS")
			}
			say(append(ext, "250 SMTPUTF8")...)
		case cmd == "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
			if tc.Handshake() != nil {
				return
			}
			c, isTLS = tc, true
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
		case strings.HasPrefix(cmd, "AUTH"):
			if mode == "reject-auth" {
				say("535 5.7.8 authentication credentials invalid")
				continue
			}
			authed = true
			say("235 2.7.0 accepted")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			if mode == "reject-mail" {
				say("554 5.7.1 sender rejected")
				continue
			}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			say("250 ok")
		case cmd == "DATA":
			if mode == "hang-data" {
				_, _ = r.ReadString(0) // swallow everything, answer nothing
				return
			}
			say("354 go on")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			if mode == "reject-data" {
				say("550 5.6.0 message refused")
				continue
			}
			s.mu.Lock()
			s.received = append(s.received, received{data: data.String(), tls: isTLS, authed: authed})
			s.mu.Unlock()
			say("250 queued")
		case cmd == "RSET", cmd == "NOOP":
			say("250 ok")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown command")
		}
	}
}

// newCert returns a certificate for names (host names or IPs), signed by
// itself, and a pool that trusts it.
func newCert(t *testing.T, names ...string) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
