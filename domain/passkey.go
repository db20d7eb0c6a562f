package domain

import (
	"bytes"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// PasskeyCredential is what an authenticator established when a passkey
// was registered, as the WebAuthn relying party verified it: the facts
// later assertions are checked against.
type PasskeyCredential struct {
	ID        []byte // the credential id
	PublicKey []byte // COSE_Key
	// SignCount is the signature counter at registration.
	SignCount         uint32
	AAGUID            []byte
	Transports        []string
	AttestationType   string
	AttestationFormat string
	// BackupEligible: the key may be synced to other devices (a "multi
	// device" passkey); it never changes for a credential.
	BackupEligible bool
	// BackupState: the key is synced now.
	BackupState bool
	// UserVerified: the authenticator verified the user (PIN, biometrics)
	// at registration.
	UserVerified bool
	Attachment   string
}

func (c PasskeyCredential) clone() PasskeyCredential {
	c.ID, c.PublicKey, c.AAGUID = bytes.Clone(c.ID), bytes.Clone(c.PublicKey), bytes.Clone(c.AAGUID)
	c.Transports = slices.Clone(c.Transports)
	return c
}

// Method is how a sign-in with this credential is referenced (RFC 8176):
// a key that may be synced off its authenticator is a software-secured
// key, one that stays in it a hardware-secured key.
func (c PasskeyCredential) Method() AuthMethod {
	if c.BackupEligible {
		return AMRSoftwareKey
	}
	return AMRHardwareKey
}

// PasskeyAssertion is a verified WebAuthn assertion: which credential
// signed, and what its authenticator reported.
type PasskeyAssertion struct {
	CredentialID []byte
	SignCount    uint32
	UserVerified bool
	BackupState  bool
}

// Passkey is a registered WebAuthn credential of a user.
type Passkey struct {
	id         uuid.UUID
	cred       PasskeyCredential
	signCount  uint32
	name       string
	createdAt  time.Time
	lastUsedAt time.Time
}

// PasskeyRecord is the stored state of a passkey, for RehydratePasskey.
type PasskeyRecord struct {
	ID         uuid.UUID
	Credential PasskeyCredential
	// SignCount is the last signature counter accepted.
	SignCount  uint32
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero before the first sign-in
}

// RehydratePasskey rebuilds a stored passkey; it is meant for adapters.
func RehydratePasskey(r PasskeyRecord) Passkey {
	return Passkey{id: r.ID, cred: r.Credential.clone(), signCount: r.SignCount, name: r.Name, createdAt: r.CreatedAt, lastUsedAt: r.LastUsedAt}
}

// Record returns the stored state of p.
func (p Passkey) Record() PasskeyRecord {
	return PasskeyRecord{ID: p.id, Credential: p.cred.clone(), SignCount: p.signCount, Name: p.name, CreatedAt: p.createdAt, LastUsedAt: p.lastUsedAt}
}

// ID returns the passkey's id in the API.
func (p Passkey) ID() uuid.UUID { return p.id }

// Credential returns the registered credential, with the current counter.
func (p Passkey) Credential() PasskeyCredential {
	c := p.cred.clone()
	c.SignCount = p.signCount
	return c
}

// SignCount returns the last signature counter accepted.
func (p Passkey) SignCount() uint32 { return p.signCount }

// Name returns the name the user gave the passkey.
func (p Passkey) Name() string { return p.name }

// CreatedAt returns when the passkey was registered.
func (p Passkey) CreatedAt() time.Time { return p.createdAt }

// LastUsedAt returns when the passkey last signed in; zero if never.
func (p Passkey) LastUsedAt() time.Time { return p.lastUsedAt }

// MaxPasskeyNameRunes bounds a passkey's name.
const MaxPasskeyNameRunes = 64

// ParsePasskeyName returns name trimmed, or a *ValidationError on "name"
// when it is empty, longer than MaxPasskeyNameRunes characters, not UTF-8
// or holds control or format characters.
func ParsePasskeyName(name string) (string, error) {
	if len(name) > 4*MaxPasskeyNameRunes || !utf8.ValidString(name) {
		return "", NewValidationError("name", "must be at most 64 characters of valid UTF-8")
	}
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", NewValidationError("name", "must not be empty")
	case n > MaxPasskeyNameRunes:
		return "", NewValidationError("name", "must be at most 64 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", NewValidationError("name", "must not contain control or invisible characters")
		}
	}
	return name, nil
}
