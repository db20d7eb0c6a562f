package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"authd/adapters/passkey/passkeytest"
)

// webAuthnSeeds are PublicKeyCredential shapes, broken in the ways a
// client or an attacker might break them.
func webAuthnSeeds(valid []byte) []string {
	s := string(valid)
	return []string{
		s,
		strings.Replace(s, `"type":"public-key"`, `"type":"password"`, 1),
		strings.Replace(s, `"clientDataJSON":"`, `"clientDataJSON":"AAAA`, 1),
		strings.Replace(s, `"signature":"`, `"signature":"AA`, 1),
		strings.Replace(s, `"authenticatorData":"`, `"authenticatorData":"_-_-`, 1),
		strings.Replace(s, `"attestationObject":"`, `"attestationObject":"oWNmbXRkbm9uZQ`, 1),
		`{"id":"","rawId":"","type":"public-key","response":{}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`,
		`{"id":"` + strings.Repeat("A", 20000) + `","type":"public-key","response":{}}`,
		`{"id":"AAAA","type":"public-key","response":{"clientDataJSON":"` + strings.Repeat("e", 30000) + `"}}`,
		`{"id":"\r\n","rawId":"\r\n","type":"public-key","response":{"clientDataJSON":"\r\n"}}`,
		`{"response":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	}
}

func FuzzMFADecode(f *testing.F) {
	fx := newFuzzFixture(f)
	acc := fx.newAccount(f, "fuzz-mfa@example.com")
	a := passkeytest.New(testOrigin)
	_, cred := fx.registerPasskey(f, acc, a, "fuzz")
	p := fx.passwordStep(f, acc.email)
	opts := fx.do(f, "POST", "/v1/auth/mfa/webauthn/begin", jsonBody(map[string]string{"mfa_token": p.MFAToken}), "")
	assertion, err := a.Assert(opts.body, cred)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range []string{
		jsonBody(map[string]any{"mfa_token": p.MFAToken, "totp_code": "123456"}),
		jsonBody(map[string]any{"mfa_token": p.MFAToken, "totp_code": "12 3456"}),
		jsonBody(map[string]any{"mfa_token": p.MFAToken, "recovery_code": "abcde-fghjk"}),
		jsonBody(map[string]any{"mfa_token": p.MFAToken, "recovery_code": "ABCDE-FGHJK", "totp_code": "1"}),
		jsonBody(map[string]any{"mfa_token": p.MFAToken, "webauthn": nil}),
		jsonBody(map[string]any{"mfa_token": strings.Repeat("A", 10000), "totp_code": "000000"}),
	} {
		f.Add([]byte(b))
	}
	for _, w := range webAuthnSeeds(assertion) {
		f.Add([]byte(`{"mfa_token":"` + p.MFAToken + `","webauthn":` + w + `}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/mfa", body, http.StatusOK)
	})
}

func FuzzPasskeyLoginDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	acc := fx.newAccount(f, "fuzz-passkey@example.com")
	a := passkeytest.New(testOrigin)
	fx.registerPasskey(f, acc, a, "fuzz")
	opts := fx.do(f, "POST", "/v1/auth/passkey/begin", "", "")
	assertion, err := a.Assert(opts.body, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, w := range webAuthnSeeds(assertion) {
		f.Add([]byte(`{"credential":` + w + `}`))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, fx, "/v1/auth/passkey/finish", body, http.StatusOK)
	})
}

func FuzzPasskeyRegistrationDecode(f *testing.F) {
	fx := newFuzzFixture(f)
	acc := fx.newAccount(f, "fuzz-register@example.com")
	opts := fx.do(f, "POST", "/v1/users/me/passkeys/begin", jsonBody(map[string]string{"current_password": strongPassword}), acc.tokens.AccessToken)
	reg, _, err := passkeytest.New(testOrigin).Register(opts.body, "")
	if err != nil {
		f.Fatal(err)
	}
	for _, w := range webAuthnSeeds(reg) {
		f.Add([]byte(`{"name":"fuzz","credential":` + w + `}`))
	}
	f.Add([]byte(`{"name":"","credential":{}}`))
	f.Add([]byte(`{"name":"` + strings.Repeat("é", 100) + `","credential":{"id":"AAAA"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBodyAs(t, fx, "/v1/users/me/passkeys/finish", acc.tokens.AccessToken, body, http.StatusCreated)
	})
}
