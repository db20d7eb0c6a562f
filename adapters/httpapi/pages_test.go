package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"authd/domain"
)

// pageCSP is the policy every hosted page must have (its style hash aside).
var pageCSP = regexp.MustCompile(`^default-src 'none'; style-src '(sha256-[A-Za-z0-9+/=]+)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$`)

// page checks r as a hosted page with status and returns its document.
func page(t *testing.T, r response, status int) *html.Node {
	t.Helper()
	r.wantStatus(t, status)
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	m := pageCSP.FindStringSubmatch(r.header.Get("Content-Security-Policy"))
	if m == nil {
		t.Fatalf("Content-Security-Policy = %q", r.header.Get("Content-Security-Policy"))
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	doc, err := html.Parse(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	// Accessible and inert: a language, one h1, a label for every field,
	// no script, and only the stylesheet the CSP allows.
	var h1s, scripts int
	labels, fields := map[string]bool{}, []string{}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "html":
			if attr(n, "lang") != "en" {
				t.Errorf("<html lang=%q>", attr(n, "lang"))
			}
		case "h1":
			h1s++
		case "script":
			scripts++
		case "label":
			labels[attr(n, "for")] = true
		case "input":
			if attr(n, "type") != "hidden" {
				fields = append(fields, attr(n, "id"))
			}
		case "style":
			sum := sha256.Sum256([]byte(n.FirstChild.Data))
			if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != m[1] {
				t.Errorf("the CSP allows style %s, the page's is %s", m[1], got)
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(strings.TrimSpace(a.Val), "javascript:") {
				t.Errorf("<%s %s=%q>: script in markup", n.Data, a.Key, a.Val)
			}
		}
	}
	if h1s != 1 || scripts != 0 {
		t.Errorf("%d h1 and %d script elements, want 1 and 0", h1s, scripts)
	}
	for _, id := range fields {
		if id == "" || !labels[id] {
			t.Errorf("field %q has no label", id)
		}
	}
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// pageText is the text of a document, for matching.
func pageText(doc *html.Node) string {
	var b strings.Builder
	for n := range doc.Descendants() {
		if n.Type == html.TextNode && (n.Parent == nil || n.Parent.Data != "style") {
			b.WriteString(n.Data)
		}
	}
	return b.String()
}

// formOf returns the action and the hidden token of the page's form.
func formOf(t *testing.T, doc *html.Node) (action, token string) {
	t.Helper()
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "form" {
			if attr(n, "method") != "post" {
				t.Errorf("form method %q", attr(n, "method"))
			}
			action = attr(n, "action")
		}
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") == "token" {
			token = attr(n, "value")
		}
	}
	if action == "" {
		t.Fatal("the page has no form")
	}
	return action, token
}

// postForm posts v to path as a browser on the page's own origin would.
func (f *fixture) postForm(t *testing.T, path string, v url.Values, header map[string]string) response {
	t.Helper()
	h := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"}
	for k, val := range header {
		h[k] = val
	}
	return f.send(t, request{method: http.MethodPost, path: path, body: v.Encode(), contentType: "application/x-www-form-urlencoded", header: h})
}

func TestResetPasswordPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "page@example.com")
	f.do(t, "POST", resetPath, resetJSON("page@example.com"), "").wantStatus(t, http.StatusAccepted)
	token := f.mailed(t, "page@example.com", domain.MailResetPassword)
	link := "/account/reset-password?token=" + token

	// Loading the page (twice, as a scanner and then the user would) uses nothing.
	for range 2 {
		doc := page(t, f.do(t, "GET", link, "", ""), http.StatusOK)
		action, hidden := formOf(t, doc)
		if action != "reset-password" || hidden != token {
			t.Fatalf("form posts to %q with token %q", action, hidden)
		}
	}
	f.do(t, "HEAD", link, "", "").wantStatus(t, http.StatusOK)
	if rec, ok := f.store.OneTimeTokenState(domain.HashOneTimeToken(token)); !ok || !rec.UsedAt.IsZero() {
		t.Fatal("loading the page used the token")
	}
	form := func(pw, again string) url.Values {
		return url.Values{"token": {token}, "new_password": {pw}, "new_password_again": {again}}
	}
	doc := page(t, f.postForm(t, "/account/reset-password", form(otherPassword, otherPassword+"x"), nil), http.StatusUnprocessableEntity)
	if !strings.Contains(pageText(doc), "differ") {
		t.Errorf("mismatched passwords: %s", pageText(doc))
	}
	doc = page(t, f.postForm(t, "/account/reset-password", form("short", "short"), nil), http.StatusUnprocessableEntity)
	if _, hidden := formOf(t, doc); hidden != token || !strings.Contains(pageText(doc), "at least 12 characters") {
		t.Errorf("weak password: the form again with the token and the reason, got %s", pageText(doc))
	}
	// Cross-site posts are refused, before the token is looked at.
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example"}} {
		page(t, f.postForm(t, "/account/reset-password", form(otherPassword, otherPassword), h), http.StatusForbidden)
	}
	page(t, f.send(t, request{method: "POST", path: "/account/reset-password", body: jsonOf(map[string]string{"token": token}),
		contentType: "application/json"}), http.StatusUnsupportedMediaType)

	doc = page(t, f.postForm(t, "/account/reset-password", form(otherPassword, otherPassword), map[string]string{"Origin": testIssuer}), http.StatusOK)
	if !strings.Contains(pageText(doc), "password was changed") {
		t.Errorf("success page: %s", pageText(doc))
	}
	f.refresh(t, a.tokens.RefreshToken).problem(t, http.StatusUnauthorized, "invalid_refresh_token")
	f.login(t, "page@example.com", otherPassword)
	// The link works once; its page then says so.
	doc = page(t, f.postForm(t, "/account/reset-password", form(strongPassword, strongPassword), nil), http.StatusBadRequest)
	if !strings.Contains(pageText(doc), "does not work") {
		t.Errorf("used link: %s", pageText(doc))
	}
}

func TestPagesWithBadLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{"/account/reset-password", "/account/verify-email", "/account/confirm-email-change"} {
		for _, q := range []string{"", "?token=", "?token=%00", "?token=" + strings.Repeat("A", 10<<10), "?token=<script>alert(1)</script>"} {
			page(t, f.do(t, "GET", path+q, "", ""), http.StatusBadRequest)
		}
		page(t, f.postForm(t, path, url.Values{"token": {strings.Repeat("A", 43)}, "new_password": {otherPassword}, "new_password_again": {otherPassword}}, nil), http.StatusBadRequest)
		page(t, f.postForm(t, path, url.Values{}, nil), http.StatusBadRequest)
	}
}

func TestVerifyAndChangeEmailPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.newAccount(t, "pv@example.com")
	token := f.mailed(t, "pv@example.com", domain.MailVerifyEmail)
	doc := page(t, f.do(t, "GET", "/account/verify-email?token="+token, "", ""), http.StatusOK)
	action, hidden := formOf(t, doc)
	if action != "verify-email" || hidden != token {
		t.Fatalf("verify form: %q %q", action, hidden)
	}
	page(t, f.postForm(t, "/account/verify-email", url.Values{"token": {token}}, nil), http.StatusOK)
	if me := decode[userBody](t, f.do(t, "GET", "/v1/users/me", "", a.tokens.AccessToken), http.StatusOK); !me.EmailVerified {
		t.Error("the page did not verify the address")
	}

	f.do(t, "POST", changePath, jsonOf(map[string]string{"new_email": "pv2@example.com", "current_password": strongPassword}), a.tokens.AccessToken).
		wantStatus(t, http.StatusAccepted)
	change := f.mailed(t, "pv2@example.com", domain.MailEmailChangeConfirm)
	doc = page(t, f.do(t, "GET", "/account/confirm-email-change?token="+change, "", ""), http.StatusOK)
	if action, _ := formOf(t, doc); action != "confirm-email-change" {
		t.Fatalf("change form posts to %q", action)
	}
	f.register(t, "pv2@example.com", strongPassword)
	page(t, f.postForm(t, "/account/confirm-email-change", url.Values{"token": {change}}, nil), http.StatusConflict)
}
