package application

import (
	"errors"
	"net/url"
	"strings"
)

// Links builds the one-time links that mails carry. A link leads to
// authd's own hosted page, PUBLIC/account/PAGE?token=TOKEN, or, when the
// application serves those pages itself, APP/account/PAGE#token=TOKEN: in
// the fragment, the token never reaches the application's server logs or
// a Referer header.
type Links struct {
	public *url.URL
	app    *url.URL // nil: the hosted pages
}

// The pages links lead to, on authd (hosted, see adapters/httpapi) or on
// the application.
const (
	ResetPasswordPage      = "/account/reset-password"
	VerifyEmailPage        = "/account/verify-email"
	ConfirmEmailChangePage = "/account/confirm-email-change"
)

// NewLinks returns the links of authd served at publicURL and, when appURL
// is not empty, of the application at appURL. Both must be absolute http(s)
// URLs without query or fragment; a path is kept as a prefix.
func NewLinks(publicURL, appURL string) (Links, error) {
	pub, err := baseURL(publicURL)
	if err != nil {
		return Links{}, err
	}
	l := Links{public: pub}
	if appURL != "" {
		if l.app, err = baseURL(appURL); err != nil {
			return Links{}, err
		}
	}
	return l, nil
}

func baseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(s, "#") {
		return nil, errors.New("must be an http(s) URL without credentials, query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ResetPassword is the link of a password reset mail.
func (l Links) ResetPassword(token string) string { return l.link(ResetPasswordPage, token) }

// VerifyEmail is the link of an email verification mail.
func (l Links) VerifyEmail(token string) string { return l.link(VerifyEmailPage, token) }

// ConfirmEmailChange is the link of an email change confirmation mail.
func (l Links) ConfirmEmailChange(token string) string { return l.link(ConfirmEmailChangePage, token) }

func (l Links) link(page, token string) string {
	q := url.Values{"token": {token}}.Encode()
	if l.app != nil {
		u := *l.app
		u.Path += page
		u.Fragment = q
		return u.String()
	}
	var u url.URL
	if l.public != nil {
		u = *l.public
	}
	// The zero Links (no public URL configured) gives the path alone.
	u.Path += page
	u.RawQuery = q
	return u.String()
}
