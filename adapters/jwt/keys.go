package jwt

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadPrivateKey parses an Ed25519 private key from the first PEM block of
// pemBytes, which must be a PKCS#8 "PRIVATE KEY".
func LoadPrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("jwt: expected a PEM \"PRIVATE KEY\" (PKCS#8) block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwt: parse PKCS#8 private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jwt: private key is %T, want Ed25519", k)
	}
	return priv, nil
}

// LoadPublicKey parses an Ed25519 public key from the first PEM block of
// pemBytes, which must be a PKIX "PUBLIC KEY".
func LoadPublicKey(pemBytes []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("jwt: expected a PEM \"PUBLIC KEY\" (PKIX) block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwt: parse PKIX public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("jwt: public key is %T, want Ed25519", k)
	}
	return pub, nil
}

// GenerateKeyFile writes a new Ed25519 private key as PKCS#8 PEM to path
// with mode 0600, creating missing parent directories with mode 0700. It
// never overwrites: when path exists it returns an error satisfying
// errors.Is(err, fs.ErrExist).
func GenerateKeyFile(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("jwt: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("jwt: marshal key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("jwt: create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("jwt: create key file: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("jwt: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("jwt: write key file: %w", err)
	}
	return nil
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: the base64url (no
// padding) SHA-256 of its canonical JWK {"crv":"Ed25519","kty":"OKP","x":...}.
func KeyID(pub ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + b64url.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64url.EncodeToString(sum[:])
}

var b64url = base64.RawURLEncoding
