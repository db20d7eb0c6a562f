package jwt_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"authd/adapters/jwt"
)

// TestKeyIDRFC8037 reproduces the thumbprint of RFC 8037 Appendix A.3.
func TestKeyIDRFC8037(t *testing.T) {
	t.Parallel()
	d, _ := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	pub := ed25519.NewKeyFromSeed(d).Public().(ed25519.PublicKey)
	if !pub.Equal(ed25519.PublicKey(x)) {
		t.Fatal("seed d does not give the public key x of the RFC")
	}
	if got, want := jwt.KeyID(pub), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
}

func TestGenerateAndLoadKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "jwt.pem")
	if err := jwt.GenerateKeyFile(path); err != nil {
		t.Fatalf("GenerateKeyFile: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	if err := jwt.GenerateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateKeyFile = %v, want fs.ErrExist", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwt.LoadPrivateKey(b)
	if err != nil {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwt.LoadPublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("loaded public key differs from the private key's")
	}
}

func TestLoadKeyRejects(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPKCS8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	ecPubDER, _ := x509.MarshalPKIXPublicKey(ecKey.Public())
	ecPKIX := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}))
	tests := []struct {
		name string
		pem  string
		load func([]byte) error
	}{
		{"private: empty", "", loadPriv},
		{"private: not PEM", "hello", loadPriv},
		{"private: wrong block type", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", loadPriv},
		{"private: bad DER", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", loadPriv},
		{"private: ECDSA", ecPKCS8, loadPriv},
		{"public: empty", "", loadPub},
		{"public: private block", ecPKCS8, loadPub},
		{"public: ECDSA", ecPKIX, loadPub},
		{"public: bad DER", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", loadPub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.load([]byte(tt.pem)); err == nil {
				t.Fatal("load succeeded, want an error")
			}
		})
	}
}

func loadPriv(b []byte) error { _, err := jwt.LoadPrivateKey(b); return err }
func loadPub(b []byte) error  { _, err := jwt.LoadPublicKey(b); return err }
