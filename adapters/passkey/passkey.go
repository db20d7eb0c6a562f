// Package passkey is authd's WebAuthn relying party (ports.WebAuthn), on
// github.com/go-webauthn/webauthn: passkey registration, assertions as a
// second factor, and passwordless sign-in with discoverable credentials.
//
// Registrations ask for a discoverable credential ("resident key"
// required) and no attestation; passwordless assertions require user
// verification, second-factor ones prefer it. Ceremony expiry is not the
// library's: the challenge store decides it with authd's clock.
package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"authd/domain"
	"authd/ports"
)

var _ ports.WebAuthn = (*RelyingParty)(nil)

// MaxResponseBytes bounds a client's WebAuthn response before it is parsed.
const MaxResponseBytes = 16 << 10

// Config configures the relying party.
type Config struct {
	// RPID is the relying party id: the registrable domain credentials are
	// scoped to (AUTHD_WEBAUTHN_RP_ID).
	RPID string
	// RPName is the name authenticators show (AUTHD_MFA_DISPLAY_NAME).
	RPName string
	// Origins are the exact origins ceremonies may come from
	// (AUTHD_WEBAUTHN_ORIGINS); each must be the RP ID or a subdomain of it.
	Origins []string
}

// Validate reports what is wrong with c, naming nothing secret.
func (c Config) Validate() error {
	if err := protocol.ValidateRPID(c.RPID); err != nil {
		return fmt.Errorf("the relying party id %q is not a domain: %v", c.RPID, err)
	}
	if len(c.Origins) == 0 {
		return errors.New("at least one origin is required")
	}
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("origin %q is not scheme://host[:port]", o)
		}
		host := strings.ToLower(u.Hostname())
		if host != c.RPID && !strings.HasSuffix(host, "."+c.RPID) {
			return fmt.Errorf("origin %q is not the relying party id %q or one of its subdomains", o, c.RPID)
		}
	}
	return nil
}

// RelyingParty implements ports.WebAuthn. It is safe for concurrent use.
type RelyingParty struct {
	wa *webauthn.WebAuthn
}

// New returns the relying party of cfg.
func New(cfg Config) (*RelyingParty, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	required := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &required,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RelyingParty{wa: wa}, nil
}

// user is a passkey owner as the library sees them.
type user struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newUser(o ports.PasskeyOwner, passkeys []domain.Passkey) *user {
	u := &user{handle: o.Handle, name: o.Name}
	for _, p := range passkeys {
		u.creds = append(u.creds, toCredential(p))
	}
	return u
}

// toCredential rebuilds the library's record of a stored passkey.
func toCredential(p domain.Passkey) webauthn.Credential {
	c := p.Credential()
	flags := protocol.FlagUserPresent
	if c.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:                c.ID,
		PublicKey:         c.PublicKey,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{
			AAGUID:     c.AAGUID,
			SignCount:  c.SignCount,
			Attachment: protocol.AuthenticatorAttachment(c.Attachment),
		},
	}
}

// invalid wraps a failure of the library: the response is malformed or
// does not verify. The library's details say which check failed; they
// quote no secret.
func invalid(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		detail := pe.Details
		if pe.DevInfo != "" {
			detail += ": " + pe.DevInfo
		}
		return fmt.Errorf("%w: %s", domain.ErrInvalidWebAuthnResponse, clip(detail))
	}
	return fmt.Errorf("%w: %s", domain.ErrInvalidWebAuthnResponse, clip(err.Error()))
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func tooLarge(response []byte) error {
	if len(response) > MaxResponseBytes {
		return fmt.Errorf("%w: the response is over %d bytes", domain.ErrInvalidWebAuthnResponse, MaxResponseBytes)
	}
	return nil
}

func ceremony(options any, s *webauthn.SessionData) (ports.WebAuthnCeremony, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return ports.WebAuthnCeremony{}, fmt.Errorf("passkey: encode options: %w", err)
	}
	st, err := json.Marshal(s)
	if err != nil {
		return ports.WebAuthnCeremony{}, fmt.Errorf("passkey: encode session: %w", err)
	}
	return ports.WebAuthnCeremony{Options: o, Challenge: s.Challenge, State: st}, nil
}

func session(state []byte) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	if err := json.Unmarshal(state, &s); err != nil {
		return s, fmt.Errorf("passkey: decode the ceremony's state: %w", err)
	}
	return s, nil
}

// BeginRegistration starts registering a discoverable credential for
// owner, excluding the credentials of exclude.
func (rp *RelyingParty) BeginRegistration(owner ports.PasskeyOwner, exclude []domain.Passkey) (ports.WebAuthnCeremony, error) {
	u := newUser(owner, exclude)
	creation, s, err := rp.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		return ports.WebAuthnCeremony{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return ceremony(creation, s)
}

// RegistrationChallenge returns the challenge a registration response
// answers.
func (rp *RelyingParty) RegistrationChallenge(response []byte) (string, error) {
	if err := tooLarge(response); err != nil {
		return "", err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return "", invalid(err)
	}
	return parsed.Response.CollectedClientData.Challenge, nil
}

// FinishRegistration verifies a registration response against its
// ceremony's state.
func (rp *RelyingParty) FinishRegistration(state []byte, owner ports.PasskeyOwner, response []byte) (domain.PasskeyCredential, error) {
	if err := tooLarge(response); err != nil {
		return domain.PasskeyCredential{}, err
	}
	s, err := session(state)
	if err != nil {
		return domain.PasskeyCredential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return domain.PasskeyCredential{}, invalid(err)
	}
	c, err := rp.wa.CreateCredential(newUser(owner, nil), s, parsed)
	if err != nil {
		return domain.PasskeyCredential{}, invalid(err)
	}
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	return domain.PasskeyCredential{
		ID:                c.ID,
		PublicKey:         c.PublicKey,
		SignCount:         c.Authenticator.SignCount,
		AAGUID:            c.Authenticator.AAGUID,
		Transports:        transports,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		BackupEligible:    c.Flags.BackupEligible,
		BackupState:       c.Flags.BackupState,
		UserVerified:      c.Flags.UserVerified,
		Attachment:        string(c.Authenticator.Attachment),
	}, nil
}

// BeginLogin starts an assertion for owner with one of allow (user
// verification preferred), or, with a nil owner, a passwordless one with
// any discoverable credential (user verification required).
func (rp *RelyingParty) BeginLogin(owner *ports.PasskeyOwner, allow []domain.Passkey) (ports.WebAuthnCeremony, error) {
	if owner == nil {
		assertion, s, err := rp.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return ports.WebAuthnCeremony{}, fmt.Errorf("passkey: begin sign-in: %w", err)
		}
		return ceremony(assertion, s)
	}
	assertion, s, err := rp.wa.BeginLogin(newUser(*owner, allow), webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return ports.WebAuthnCeremony{}, fmt.Errorf("passkey: begin assertion: %w", err)
	}
	return ceremony(assertion, s)
}

// ParseAssertion parses an assertion response.
func (rp *RelyingParty) ParseAssertion(response []byte) (ports.ParsedAssertion, error) {
	if err := tooLarge(response); err != nil {
		return ports.ParsedAssertion{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return ports.ParsedAssertion{}, invalid(err)
	}
	return ports.ParsedAssertion{
		Challenge:    parsed.Response.CollectedClientData.Challenge,
		CredentialID: bytes.Clone(parsed.RawID),
		UserHandle:   bytes.Clone(parsed.Response.UserHandle),
		Parsed:       parsed,
	}, nil
}

// VerifyAssertion verifies a parsed assertion against its ceremony's
// state and owner's passkeys.
func (rp *RelyingParty) VerifyAssertion(a ports.ParsedAssertion, state []byte, owner ports.PasskeyOwner, passkeys []domain.Passkey) (domain.PasskeyAssertion, error) {
	parsed, ok := a.Parsed.(*protocol.ParsedCredentialAssertionData)
	if !ok {
		return domain.PasskeyAssertion{}, errors.New("passkey: the assertion was not parsed by ParseAssertion")
	}
	s, err := session(state)
	if err != nil {
		return domain.PasskeyAssertion{}, err
	}
	u := newUser(owner, passkeys)
	var c *webauthn.Credential
	if len(s.UserID) == 0 {
		c, err = rp.wa.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, u.handle) {
				return nil, errors.New("the user handle is not the account's")
			}
			return u, nil
		}, s, parsed)
	} else {
		c, err = rp.wa.ValidateLogin(u, s, parsed)
	}
	if err != nil {
		return domain.PasskeyAssertion{}, invalid(err)
	}
	flags := parsed.Response.AuthenticatorData.Flags
	return domain.PasskeyAssertion{
		CredentialID: bytes.Clone(c.ID),
		SignCount:    parsed.Response.AuthenticatorData.Counter,
		UserVerified: flags.HasUserVerified(),
		BackupState:  flags.HasBackupState(),
	}, nil
}
