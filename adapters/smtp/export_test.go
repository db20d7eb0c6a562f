package smtp

import (
	"crypto/x509"

	gomail "github.com/wneessen/go-mail"
)

// WithTestNetwork makes s trust roots and connect through dial, so that a
// test can stand a fake server on 127.0.0.1 behind any host name.
func WithTestNetwork(s *Sender, roots *x509.CertPool, dial gomail.DialContextFunc) {
	s.rootCAs, s.dial = roots, dial
}
