// Package smtp delivers mail to an SMTP server with
// github.com/wneessen/go-mail: one connection per mail, TLS required
// except towards a loopback server, multipart text and HTML bodies.
package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"authd/ports"
)

// Server is where and how mail is delivered, parsed from a URL by
// ParseURL.
type Server struct {
	host     string
	port     int
	implicit bool // smtps://: TLS from the first byte
	user     string
	password string
}

// ParseURL parses smtp://[user:password@]host[:port] (STARTTLS, required
// unless host is a loopback address or "localhost"; port 587 by default)
// or smtps://[user:password@]host[:port] (implicit TLS; port 465). Its
// errors never quote the URL, which may hold a password.
func ParseURL(raw string) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Server{}, errors.New("not a URL (want smtp://user:password@host:587 or smtps://user:password@host:465)")
	}
	var s Server
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return Server{}, errors.New("the scheme must be smtp or smtps")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Server{}, errors.New("must be scheme://[user:password@]host[:port] with nothing after the port")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return Server{}, errors.New("the URL names no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, errors.New("the port must be from 1 to 65535")
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	return s, nil
}

// Loopback reports whether the server is on this machine, where plain SMTP
// is allowed.
func (s Server) Loopback() bool {
	if strings.EqualFold(s.host, "localhost") {
		return true
	}
	ip := net.ParseIP(s.host)
	return ip != nil && ip.IsLoopback()
}

// Address returns host:port, for logs.
func (s Server) Address() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Config configures a Sender.
type Config struct {
	Server Server
	// From is the sender, an address optionally with a display name
	// ("authd <no-reply@example.com>"); its domain also ends every
	// Message-ID.
	From string
	// Timeout bounds each step of a delivery (connecting, the greeting and
	// TLS, then the transfer); the context given to Send bounds it all.
	Timeout time.Duration
}

// Sender implements ports.MailSender.
type Sender struct {
	server    Server
	from      string
	msgDomain string
	timeout   time.Duration
	rootCAs   *x509.CertPool         // nil: the system's
	dial      gomail.DialContextFunc // nil: net.Dialer; tests redirect it
}

var _ ports.MailSender = (*Sender)(nil)

// New returns a Sender for c. It returns an error when c.From is not an
// address.
func New(c Config) (*Sender, error) {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("the sender must be an address, optionally with a name (authd <no-reply@example.com>): %w", err)
	}
	at := strings.LastIndexByte(from.Address, '@')
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return &Sender{server: c.Server, from: from.String(), msgDomain: from.Address[at+1:], timeout: c.Timeout}, nil
}

// Send delivers m in one connection, giving up when ctx ends: the
// connection is then closed, whatever step it was at.
func (s *Sender) Send(ctx context.Context, m ports.ClaimedMail) error {
	msg, err := s.message(m)
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(s.server.host, s.options(ctx)...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if unreachable(err) {
			return fmt.Errorf("smtp %s: %w: %w", s.server.Address(), ports.ErrMailServerUnreachable, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("smtp %s: %w (%v)", s.server.Address(), ctx.Err(), err)
		}
		return fmt.Errorf("smtp %s: %w", s.server.Address(), err)
	}
	return nil
}

// unreachable reports whether err says that no connection to the server
// could be made (refused, no route, no address, timed out): an outage. A
// server that answered — with an error, a bad certificate, or silence — is
// not unreachable.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (s *Sender) message(m ports.ClaimedMail) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("smtp: sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("smtp: recipient: %w", err)
	}
	msg.Subject(m.Content.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Content.Text)
	if m.Content.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.Content.HTML)
	}
	// The same Message-ID on every attempt lets a receiver drop a copy
	// delivered twice because the server's answer was lost.
	msg.SetMessageIDWithValue(m.MessageID.String() + "@" + s.msgDomain)
	msg.SetDate()
	// RFC 3834: a machine wrote it; autoresponders should not answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-Auto-Response-Suppress", "All")
	return msg, nil
}

// options are the client's settings for one delivery under ctx.
func (s *Sender) options(ctx context.Context) []gomail.Option {
	tlsConfig := &tls.Config{ServerName: s.server.host, MinVersion: tls.VersionTLS12, RootCAs: s.rootCAs}
	policy := gomail.TLSMandatory
	if s.server.Loopback() || s.server.implicit {
		// Towards loopback, STARTTLS is used when offered (and its
		// certificate checked) but not required. With implicit TLS the
		// connection is TLS already; go-mail then sees it as such.
		policy = gomail.TLSOpportunistic
	}
	opts := []gomail.Option{
		gomail.WithPort(s.server.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(s.dialer(ctx, tlsConfig)),
	}
	if s.server.user != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if s.server.Loopback() {
			// A loopback server without TLS (a development catcher) may
			// take PLAIN credentials in the clear.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(s.server.user), gomail.WithPassword(s.server.password))
	}
	return opts
}

// dialer connects (with TLS from the start for smtps) and closes the
// connection when ctx ends, so that no step of a delivery outlives ctx.
func (s *Sender) dialer(ctx context.Context, tlsConfig *tls.Config) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		dial := s.dial
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		conn, err := dial(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.server.implicit {
			tc := tls.Client(conn, tlsConfig)
			if err := tc.HandshakeContext(dialCtx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			conn = tc
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
}
