package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"authd/application"
	"authd/domain"
)

// authd's hosted pages: the mailed links of the email flows lead here
// (unless AUTHD_APP_URL sends them to the application's own pages). Each
// page is a GET that shows a form and never uses the link's token, since
// mail scanners follow links, and a POST of that form that uses it. The
// pages are server-rendered HTML without script, work without JavaScript,
// and forbid everything else they could be made to do: a strict CSP (no
// script, nothing loaded, forms only to authd itself, no framing), no
// Referer (the token is in the URL), nothing stored. The token is the
// form's secret, so no CSRF token is needed; a post that the browser says
// another site sent is refused all the same.

// The paths of the hosted pages; the links in mails lead to them.
const (
	resetPasswordPage      = application.ResetPasswordPage
	verifyEmailPage        = application.VerifyEmailPage
	confirmEmailChangePage = application.ConfirmEmailChangePage
)

//go:embed pages/page.html.tmpl
var pageFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/page.html.tmpl"))

// pageStyle is the stylesheet of every page, inlined; the CSP allows
// exactly it, by its digest.
const pageStyle = `body{margin:0;padding:2rem 1rem;background:#f5f5f5;color:#1b1b1b;` +
	`font:1.05rem/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}` +
	`main{max-width:32rem;margin:0 auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.15)}` +
	`h1{font-size:1.5rem;margin-top:0}label{display:block;font-weight:600;margin-bottom:.25rem}` +
	`input[type=password]{box-sizing:border-box;width:100%;padding:.5rem;font:inherit;border:1px solid #767676;border-radius:4px}` +
	`input:focus,button:focus{outline:3px solid #1a5fb4;outline-offset:2px}` +
	`.hint{display:block;font-size:.9rem;color:#555}` +
	`button{padding:.6rem 1.2rem;font:inherit;color:#fff;background:#1a5fb4;border:0;border-radius:4px;cursor:pointer}` +
	`.error{border-left:4px solid #b00020;padding:.25rem 1rem;background:#fdecee;color:#6d0013}`

// pageCSP allows the page its own stylesheet and its form's post to
// authd, and nothing else.
var pageCSP = "default-src 'none'; style-src '" + styleHash(pageStyle) + "'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

func styleHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// pageView is what a page shows.
type pageView struct {
	Title  string
	Text   []string
	Errors []string
	Form   *pageForm
	Style  template.CSS
}

// pageForm is a page's form: it posts the link's token back.
type pageForm struct {
	// Action is the page's own path, relative to /account/ so that a
	// proxy's path prefix is kept.
	Action    string
	Token     string
	Passwords bool
	Button    string
}

// setPageHeaders gives a page answer its type and its security headers.
func setPageHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, pageCSP)
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
}

// renderPage answers v with status.
func renderPage(c *fiber.Ctx, status int, v pageView) error {
	v.Style = template.CSS(pageStyle) //nolint:gosec // G203: a constant of this file, allowed by the CSP by its digest.
	var b bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&b, "page", v); err != nil {
		return err
	}
	setPageHeaders(c)
	return c.Status(status).Send(b.Bytes())
}

// pageErrors words some errors for people; the others show the error
// table's detail.
var pageErrors = map[string]pageView{
	"invalid_or_expired_token": {Title: "This link does not work", Text: []string{
		"It is incomplete, was already used, or has expired.",
		"Ask for a new link where you asked for this one.",
	}},
	"email_taken": {Title: "This address is taken", Text: []string{
		"Another account uses this address now, so your address was not changed.",
	}},
	"cross_site_request": {Title: "Request refused", Text: []string{
		"This form can only be sent from its own page. Open the link from your mail again.",
	}},
}

// writePageError answers f on a hosted page: an HTML page with the row's
// status.
func writePageError(c *fiber.Ctx, f *failure) error {
	a := f.row.problem
	v, ok := pageErrors[a.code]
	if !ok {
		v = pageView{Title: http.StatusText(a.status), Text: []string{a.detail}}
	}
	if f.retryAfter != "" {
		c.Set(fiber.HeaderRetryAfter, f.retryAfter)
	}
	return renderPage(c, a.status, v)
}

// pageOrigin is the origin the hosted pages are served from: that of
// PublicURL, else of the issuer; "" when neither is set.
func pageOrigin(cfg Config) string {
	base := cfg.PublicURL
	if base == "" {
		base = cfg.Issuer
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	origin, err := parseOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return ""
	}
	return origin
}

// checkFormOrigin refuses a form post that the browser says another site
// sent: Sec-Fetch-Site other than same-origin (or none: typed or
// bookmarked), or an Origin other than the pages' own. An Origin of
// "null" is what browsers send for a post from a page with
// Referrer-Policy: no-referrer, as these pages are. Clients that send
// neither header (not browsers) are let through: the token is what
// authorises the post.
func (s *server) checkFormOrigin(c *fiber.Ctx) error {
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCrossSite
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != "null" && s.pageOrigin != "" && o != s.pageOrigin {
		return errCrossSite
	}
	return nil
}

// linkToken returns the token of a page's link (its query) or form (its
// body), or domain.ErrInvalidOneTimeToken when it has none that could be
// one.
func linkToken(token string) (string, error) {
	if !domain.LooksLikeOneTimeToken(token) {
		return "", domain.ErrInvalidOneTimeToken
	}
	return token, nil
}

// The reset page.

func resetForm(token string) *pageForm {
	return &pageForm{Action: "reset-password", Token: token, Passwords: true, Button: "Set the new password"}
}

func (s *server) resetPasswordForm(c *fiber.Ctx) error {
	token, err := linkToken(c.Query("token"))
	if err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageView{
		Title: "Choose a new password",
		Text:  []string{"Choose the new password of your account. Every session of the account ends when it is set."},
		Form:  resetForm(token),
	})
}

func (s *server) resetPassword(c *fiber.Ctx) error {
	if err := s.checkFormOrigin(c); err != nil {
		return err
	}
	token, err := linkToken(c.FormValue("token"))
	if err != nil {
		return err
	}
	retry := func(messages ...string) error {
		return renderPage(c, fiber.StatusUnprocessableEntity, pageView{
			Title: "Choose a new password", Errors: messages, Form: resetForm(token),
		})
	}
	pw := c.FormValue("new_password")
	if pw != c.FormValue("new_password_again") {
		return retry("The two passwords differ. Type the same new password twice.")
	}
	err = s.uc.ConfirmPasswordReset.Do(c.UserContext(), application.ConfirmPasswordResetInput{Token: token, NewPassword: pw, Client: clientInfo(c)})
	if verr, ok := errors.AsType[*domain.ValidationError](err); ok {
		messages := make([]string, len(verr.Fields))
		for i, f := range verr.Fields {
			messages[i] = "The new password " + f.Message + "."
		}
		return retry(messages...)
	}
	if err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageView{Title: "Your password was changed", Text: []string{
		"Every session of your account was ended. Sign in with your new password.",
	}})
}

// The verification page.

func (s *server) verifyEmailForm(c *fiber.Ctx) error {
	token, err := linkToken(c.Query("token"))
	if err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageView{
		Title: "Confirm your email address",
		Text:  []string{"Confirm that this address is yours and receives the mail of your account."},
		Form:  &pageForm{Action: "verify-email", Token: token, Button: "Confirm my address"},
	})
}

func (s *server) verifyEmailPost(c *fiber.Ctx) error {
	if err := s.checkFormOrigin(c); err != nil {
		return err
	}
	token, err := linkToken(c.FormValue("token"))
	if err != nil {
		return err
	}
	if err := s.uc.VerifyEmail.Do(c.UserContext(), token, clientInfo(c)); err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageView{Title: "Your email address is confirmed", Text: []string{
		"Thank you. You can close this page.",
	}})
}

// The email change page.

func (s *server) confirmEmailChangeForm(c *fiber.Ctx) error {
	token, err := linkToken(c.Query("token"))
	if err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageView{
		Title: "Confirm your new email address",
		Text: []string{"Confirm that your account should use this address from now on. " +
			"Every other session of the account ends when it does."},
		Form: &pageForm{Action: "confirm-email-change", Token: token, Button: "Use this address"},
	})
}

func (s *server) confirmEmailChangePost(c *fiber.Ctx) error {
	if err := s.checkFormOrigin(c); err != nil {
		return err
	}
	token, err := linkToken(c.FormValue("token"))
	if err != nil {
		return err
	}
	if err := s.uc.ConfirmEmailChange.Do(c.UserContext(), token, clientInfo(c)); err != nil {
		return err
	}
	return renderPage(c, fiber.StatusOK, pageView{Title: "Your email address was changed", Text: []string{
		"Sign in with your new address from now on. Your other sessions were ended.",
	}})
}
