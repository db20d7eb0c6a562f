package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// passkeyPage is the test's relying-party page: it calls authd's API from
// the browser (cross-origin, as an application on its own origin would)
// and answers the WebAuthn options with navigator.credentials.
const passkeyPage = `<!doctype html>
<meta charset="utf-8">
<title>passkeys</title>
<script>
async function api(path, body, bearer) {
  const headers = {"Content-Type": "application/json"};
  if (bearer) headers["Authorization"] = "Bearer " + bearer;
  const r = await fetch(AUTHD + path, {method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  if (!r.ok) throw new Error(path + ": " + r.status + " " + text);
  return JSON.parse(text);
}
async function registerPasskey(access, password) {
  const options = await api("/v1/users/me/passkeys/begin", {current_password: password}, access);
  const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)});
  const out = await api("/v1/users/me/passkeys/finish", {name: "Chromium", credential: cred.toJSON()}, access);
  return out.passkey.name;
}
async function signIn() {
  const options = await api("/v1/auth/passkey/begin");
  const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)});
  return await api("/v1/auth/passkey/finish", {credential: cred.toJSON()});
}
</script>`

// TestPasskeyInChromium registers a passkey and signs in with it in
// headless Chromium, whose DevTools virtual authenticator plays the
// platform authenticator, from a page on http://localhost calling authd.
func TestPasskeyInChromium(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageOrigin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	s := startServer(t, serverOptions{DSN: migratedDatabase(t), Env: []string{
		"AUTHD_CORS_ORIGINS=" + pageOrigin,
		"AUTHD_WEBAUTHN_RP_ID=localhost",
		"AUTHD_WEBAUTHN_ORIGINS=" + pageOrigin,
	}})
	page := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, strings.Replace(passkeyPage, "<script>", "<script>const AUTHD = "+fmt.Sprintf("%q", s.URL)+";", 1))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = page.Serve(ln) }()
	t.Cleanup(func() { _ = page.Close() })

	email, password := newEmail(t, "chromium"), newPassword(t)
	s.forbid(password)
	s.API.register(email, password)
	session := s.API.login(email, password)

	bctx := newBrowser(t)
	if err := chromedp.Do(step(bctx, t), chromedp.Navigate(pageOrigin+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Call(step(bctx, t), cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(step(bctx, t), cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: "ctap2_1", Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	args, _ := json.Marshal([]string{session.AccessToken, password})
	name, err := chromedp.Run(step(bctx, t), chromedp.Evaluate[string]("registerPasskey(..."+string(args)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("register in the browser: %v", err)
	}
	if name != "Chromium" {
		t.Errorf("registered passkey named %q", name)
	}
	tokens, err := chromedp.Run(step(bctx, t), chromedp.Evaluate[tokenResponse]("signIn()", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("sign in in the browser: %v", err)
	}
	s.forbid(tokens.AccessToken, tokens.RefreshToken)
	if got := amrClaim(t, tokens.AccessToken); got != "hwk mfa" && got != "swk mfa" {
		t.Errorf("amr of the passwordless session = %q", got)
	}
	var me userJSON
	s.API.do("GET", "/v1/users/me", tokens.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if me.Email != email {
		t.Errorf("signed in as %q, want %q", me.Email, email)
	}
}
