// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options authd's relying party sends with real ES256 keys,
// "none" attestation and CBOR as the library decodes it, as a browser and
// an authenticator would, and can be told to misbehave (another origin or
// relying party, a counter that goes back, no user verification).
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

var b64 = base64.RawURLEncoding

// Authenticator holds the discoverable credentials it created, one per
// registration, like a platform authenticator with passkeys.
type Authenticator struct {
	// Origin is the origin the "browser" reports in clientDataJSON.
	Origin string
	// BackupEligible and BackedUp set the BE and BS flags (a synced
	// passkey); NoUserVerification clears the UV flag.
	BackupEligible, BackedUp, NoUserVerification bool

	mu    sync.Mutex
	creds []*Credential
}

// Credential is one key pair of the authenticator.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	key        *ecdsa.PrivateKey
	// Counter is the signature counter; each assertion increases it first.
	Counter uint32
}

// New returns an authenticator whose browser reports origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// Credentials returns the credentials created so far.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		Allow     []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (a *Authenticator) flags(attested bool) byte {
	f := byte(0x01) // UP
	if !a.NoUserVerification {
		f |= 0x04
	}
	if a.BackupEligible {
		f |= 0x08
	}
	if a.BackedUp {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// Register answers creation options (the JSON authd's begin route sends)
// with a new credential for rpID (empty: the options' relying party), as
// the JSON of a PublicKeyCredential.
func (a *Authenticator) Register(options []byte, rpID string) ([]byte, *Credential, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, fmt.Errorf("passkeytest: creation options: %w", err)
	}
	if rpID == "" {
		rpID = o.PublicKey.RP.ID
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeytest: user id: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.PublicKey.Exclude {
		for _, c := range a.creds {
			if ex.ID == b64.EncodeToString(c.ID) {
				return nil, nil, errors.New("passkeytest: InvalidStateError: the credential is excluded")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	c := &Credential{ID: make([]byte, 16), RPID: rpID, UserHandle: handle, key: key}
	if _, err := rand.Read(c.ID); err != nil {
		return nil, nil, err
	}
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return nil, nil, err
	}
	rpHash := sha256.Sum256([]byte(rpID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags(true))
	auth = binary.BigEndian.AppendUint32(auth, c.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(c.ID)))
	auth = append(auth, c.ID...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData("webauthn.create", o.PublicKey.Challenge, a.Origin)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	a.creds = append(a.creds, c)
	return resp, c, nil
}

// Assert answers request options with an assertion by c, or, when c is
// nil, by the first credential allowed (any of this relying party's for a
// passwordless sign-in), as the JSON of a PublicKeyCredential.
func (a *Authenticator) Assert(options []byte, c *Credential) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: request options: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c == nil {
		for _, cand := range a.creds {
			if cand.RPID != o.PublicKey.RPID {
				continue
			}
			allowed := len(o.PublicKey.Allow) == 0
			for _, al := range o.PublicKey.Allow {
				allowed = allowed || al.ID == b64.EncodeToString(cand.ID)
			}
			if allowed {
				c = cand
				break
			}
		}
		if c == nil {
			return nil, errors.New("passkeytest: NotAllowedError: no credential for these options")
		}
	}
	c.Counter++
	return a.sign(o.PublicKey.Challenge, c, c.RPID, c.Counter)
}

// AssertWithCounter is Assert by c reporting counter, whatever c's own.
func (a *Authenticator) AssertWithCounter(options []byte, c *Credential, counter uint32) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	return a.sign(o.PublicKey.Challenge, c, c.RPID, counter)
}

func (a *Authenticator) sign(challenge string, c *Credential, rpID string, counter uint32) ([]byte, error) {
	rpHash := sha256.Sum256([]byte(rpID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags(false))
	auth = binary.BigEndian.AppendUint32(auth, counter)
	cd := clientData("webauthn.get", challenge, a.Origin)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(auth),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(c.UserHandle),
		},
	})
}
