package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/uptrace/bun"
	"go.uber.org/fx"

	"authd/adapters/keyring"
	"authd/adapters/passkey"
	"authd/adapters/postgres"
	"authd/adapters/totp"
	"authd/application"
)

// MFAConfig configures multi-factor authentication.
type MFAConfig struct {
	// EncryptionKeyFile is AUTHD_ENCRYPTION_KEY_FILE: the keys that seal
	// TOTP secrets and key the recovery code digests (see keyring.Parse).
	EncryptionKeyFile string
	// DisplayName is AUTHD_MFA_DISPLAY_NAME: the name authenticator apps and
	// passkey prompts show.
	DisplayName string
	// RPID is AUTHD_WEBAUTHN_RP_ID; empty: the issuer's host (localhost for
	// a loopback address, which cannot be a relying party id).
	RPID string
	// Origins is AUTHD_WEBAUTHN_ORIGINS; empty: the issuer's origin.
	Origins []string
}

// loadMFAConfig reads the variables of multi-factor authentication.
func loadMFAConfig(r *envReader, env string) MFAConfig {
	m := MFAConfig{
		EncryptionKeyFile: r.str("AUTHD_ENCRYPTION_KEY_FILE", ""),
		DisplayName:       r.str("AUTHD_MFA_DISPLAY_NAME", "authd"),
		RPID:              strings.ToLower(r.str("AUTHD_WEBAUTHN_RP_ID", "")),
	}
	if len(m.DisplayName) > 64 || strings.ContainsAny(m.DisplayName, ":\x00") {
		r.fail("AUTHD_MFA_DISPLAY_NAME", m.DisplayName, "must be at most 64 characters without a colon")
	}
	if raw := r.str("AUTHD_WEBAUTHN_ORIGINS", ""); raw != "" {
		for _, o := range strings.Split(raw, ",") {
			if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
				m.Origins = append(m.Origins, o)
			}
		}
		for _, o := range m.Origins {
			u, err := url.Parse(o)
			if err == nil && env == "prod" && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
				r.fail("AUTHD_WEBAUTHN_ORIGINS", raw, "must be https origins in prod (AUTHD_ENV=prod); plain http only on a loopback host")
				break
			}
		}
	}
	if m.RPID != "" && len(m.Origins) > 0 {
		if err := m.webAuthn("").Validate(); err != nil {
			r.fail("AUTHD_WEBAUTHN_RP_ID", m.RPID, "with AUTHD_WEBAUTHN_ORIGINS: "+err.Error())
		}
	}
	return m
}

// webAuthn returns the relying party's configuration for the issuer
// issuer: the variables, and defaults derived from the issuer.
func (m MFAConfig) webAuthn(issuer string) passkey.Config {
	c := passkey.Config{RPID: m.RPID, RPName: m.DisplayName, Origins: m.Origins}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return c
	}
	host, origin := u.Hostname(), u.Scheme+"://"+u.Host
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
		// An IP address cannot be a relying party id; browsers treat
		// localhost as a secure context.
		host = "localhost"
		if port := u.Port(); port != "" {
			origin = u.Scheme + "://" + net.JoinHostPort("localhost", port)
		} else {
			origin = u.Scheme + "://localhost"
		}
	}
	if c.RPID == "" {
		c.RPID = host
	}
	if len(c.Origins) == 0 {
		c.Origins = []string{origin}
	}
	return c
}

// mfaModule provides the parts of multi-factor authentication and prunes
// expired pending logins and WebAuthn ceremonies.
var mfaModule = fx.Options(
	fx.Provide(newMFAParts),
)

// mfaParts are the adapters of multi-factor authentication.
type mfaParts struct {
	ring *keyring.Ring
	rp   *passkey.RelyingParty
	totp totp.Codes
}

// newMFAParts loads the encryption keys and builds the relying party; a
// missing or bad key file, or a relying party that cannot be, stops
// start-up naming the variable.
func newMFAParts(cfg Config, iss issuerURL, log *slog.Logger) (mfaParts, error) {
	ring, err := loadKeyring(cfg.MFA.EncryptionKeyFile)
	if err != nil {
		return mfaParts{}, err
	}
	wc := cfg.MFA.webAuthn(string(iss))
	rp, err := passkey.New(wc)
	if err != nil {
		return mfaParts{}, fmt.Errorf("AUTHD_WEBAUTHN_RP_ID=%q, AUTHD_WEBAUTHN_ORIGINS=%q: %w", wc.RPID, strings.Join(wc.Origins, ","), err)
	}
	log.Info("multi-factor authentication", "encryption_key_id", ring.KeyID(), "webauthn_rp_id", wc.RPID, "webauthn_origins", wc.Origins)
	return mfaParts{ring: ring, rp: rp, totp: totp.Codes{Issuer: cfg.MFA.DisplayName}}, nil
}

// loadKeyring reads AUTHD_ENCRYPTION_KEY_FILE.
func loadKeyring(path string) (*keyring.Ring, error) {
	if path == "" {
		return nil, errors.New("AUTHD_ENCRYPTION_KEY_FILE is required (make run creates a development key; authd gen-encryption-key --out PATH writes one)")
	}
	ring, err := keyring.Load(path)
	if err != nil {
		return nil, fmt.Errorf("AUTHD_ENCRYPTION_KEY_FILE: %w", err)
	}
	return ring, nil
}

// withMFA adds the multi-factor parts to the use cases' dependencies.
func withMFA(d application.Deps, db *bun.DB, p mfaParts) application.Deps {
	d.MFA = postgres.NewMFARepository(db)
	d.Challenges = postgres.NewWebAuthnChallenges(db)
	if p.ring != nil {
		d.Secrets, d.Codes = p.ring, p.ring
	}
	d.TOTP = p.totp
	if p.rp != nil {
		d.WebAuthn = p.rp
	}
	return d
}

// genEncryptionKey writes a new encryption key: to standard output, or
// appended to the file at out (created, mode 0600, if missing), where it
// becomes the newest key, the one that seals.
func genEncryptionKey(out string, stdout io.Writer) error {
	line, err := keyring.Generate(rand.Reader)
	if err != nil {
		return err
	}
	if out == "" {
		_, err := fmt.Fprint(stdout, line)
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("gen-encryption-key: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		_ = f.Close()
		return fmt.Errorf("gen-encryption-key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("gen-encryption-key: %w", err)
	}
	if _, err := keyring.Load(out); err != nil {
		return fmt.Errorf("gen-encryption-key: %s: %w", out, err)
	}
	return nil
}
