package passkey_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/adapters/passkey"
	"authd/adapters/passkey/passkeytest"
	"authd/domain"
	"authd/ports"
)

const origin = "https://app.example.com"

func newRP(t *testing.T) *passkey.RelyingParty {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "example.com", RPName: "authd", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

var owner = ports.PasskeyOwner{Handle: bytes.Repeat([]byte{7}, 32), Name: "ada@example.com"}

// register runs a registration ceremony and returns the stored passkey.
func register(t *testing.T, rp *passkey.RelyingParty, a *passkeytest.Authenticator) (domain.Passkey, *passkeytest.Credential) {
	t.Helper()
	c, err := rp.BeginRegistration(owner, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, cred, err := a.Register(c.Options, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rp.RegistrationChallenge(resp); err != nil || got != c.Challenge {
		t.Fatalf("RegistrationChallenge = %q, %v; want %q", got, err, c.Challenge)
	}
	pc, err := rp.FinishRegistration(c.State, owner, resp)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	m := domain.NewMFA(domain.Owner{ID: 1})
	p, err := m.AddPasskey(uuid.New(), pc, "key", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p, cred
}

func TestRegisterAndAssert(t *testing.T) {
	t.Parallel()
	rp := newRP(t)
	a := passkeytest.New(origin)
	a.BackupEligible, a.BackedUp = true, true
	p, cred := register(t, rp, a)
	c := p.Credential()
	if !bytes.Equal(c.ID, cred.ID) || !c.BackupEligible || !c.BackupState || !c.UserVerified || c.AttestationFormat != "none" {
		t.Errorf("registered credential %+v", c)
	}
	var opts map[string]map[string]any
	begin, _ := rp.BeginRegistration(owner, nil)
	if err := json.Unmarshal(begin.Options, &opts); err != nil {
		t.Fatal(err)
	}
	sel, _ := opts["publicKey"]["authenticatorSelection"].(map[string]any)
	if sel["residentKey"] != "required" || opts["publicKey"]["attestation"] != "none" {
		t.Errorf("registration options %v", opts["publicKey"])
	}

	for _, passwordless := range []bool{false, true} {
		var begin ports.WebAuthnCeremony
		var err error
		if passwordless {
			begin, err = rp.BeginLogin(nil, nil)
		} else {
			begin, err = rp.BeginLogin(&owner, []domain.Passkey{p})
		}
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Assert(begin.Options, nil)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := rp.ParseAssertion(resp)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Challenge != begin.Challenge || !bytes.Equal(parsed.UserHandle, owner.Handle) || !bytes.Equal(parsed.CredentialID, cred.ID) {
			t.Errorf("parsed %+v", parsed)
		}
		got, err := rp.VerifyAssertion(parsed, begin.State, owner, []domain.Passkey{p})
		if err != nil {
			t.Fatalf("passwordless=%v: VerifyAssertion: %v", passwordless, err)
		}
		if got.SignCount != cred.Counter || !got.UserVerified {
			t.Errorf("assertion %+v", got)
		}
	}
}

func TestResponsesThatMustNotVerify(t *testing.T) {
	t.Parallel()
	rp := newRP(t)
	good := passkeytest.New(origin)
	p, _ := register(t, rp, good)

	t.Run("registration from another origin", func(t *testing.T) {
		t.Parallel()
		c, _ := rp.BeginRegistration(owner, nil)
		resp, _, _ := passkeytest.New("https://evil.example.net").Register(c.Options, "")
		if _, err := rp.FinishRegistration(c.State, owner, resp); !errors.Is(err, domain.ErrInvalidWebAuthnResponse) {
			t.Errorf("FinishRegistration = %v", err)
		}
	})
	t.Run("registration for another relying party", func(t *testing.T) {
		t.Parallel()
		c, _ := rp.BeginRegistration(owner, nil)
		resp, _, _ := passkeytest.New(origin).Register(c.Options, "evil.example.net")
		if _, err := rp.FinishRegistration(c.State, owner, resp); !errors.Is(err, domain.ErrInvalidWebAuthnResponse) {
			t.Errorf("FinishRegistration = %v", err)
		}
	})
	t.Run("answer to another ceremony", func(t *testing.T) {
		t.Parallel()
		c1, _ := rp.BeginRegistration(owner, nil)
		c2, _ := rp.BeginRegistration(owner, nil)
		resp, _, _ := passkeytest.New(origin).Register(c1.Options, "")
		if _, err := rp.FinishRegistration(c2.State, owner, resp); !errors.Is(err, domain.ErrInvalidWebAuthnResponse) {
			t.Errorf("FinishRegistration = %v", err)
		}
	})
	t.Run("assertion from another origin", func(t *testing.T) {
		t.Parallel()
		c, _ := rp.BeginLogin(&owner, []domain.Passkey{p})
		good.Origin = origin
		evil := *good.Credentials()[0]
		resp, _ := (&passkeytest.Authenticator{Origin: "https://evil.example.net"}).AssertWithCounter(c.Options, &evil, 100)
		parsed, err := rp.ParseAssertion(resp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.VerifyAssertion(parsed, c.State, owner, []domain.Passkey{p}); !errors.Is(err, domain.ErrInvalidWebAuthnResponse) {
			t.Errorf("VerifyAssertion = %v", err)
		}
	})
	t.Run("malformed and oversized", func(t *testing.T) {
		t.Parallel()
		for _, resp := range [][]byte{nil, []byte("{}"), []byte(`{"id":"AAAA","type":"public-key"}`), []byte("[1,2]"),
			[]byte(`{"id":"` + strings.Repeat("A", passkey.MaxResponseBytes) + `"}`),
			[]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`)} {
			if _, err := rp.RegistrationChallenge(resp); !errors.Is(err, domain.ErrInvalidWebAuthnResponse) {
				t.Errorf("RegistrationChallenge(%.40s) = %v", resp, err)
			}
			if _, err := rp.ParseAssertion(resp); !errors.Is(err, domain.ErrInvalidWebAuthnResponse) {
				t.Errorf("ParseAssertion(%.40s) = %v", resp, err)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []passkey.Config{
		{RPID: "127.0.0.1", Origins: []string{"http://127.0.0.1"}},
		{RPID: "example.com"},
		{RPID: "example.com", Origins: []string{"https://example.org"}},
		{RPID: "example.com", Origins: []string{"https://notexample.com"}},
		{RPID: "example.com", Origins: []string{"https://example.com/path"}},
		{RPID: "example.com", Origins: []string{"ftp://example.com"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (passkey.Config{RPID: "example.com", Origins: []string{"https://example.com", "https://app.example.com:8443"}}).Validate(); err != nil {
		t.Error(err)
	}
}
