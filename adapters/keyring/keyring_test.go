package keyring_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"authd/adapters/keyring"
	"authd/ports"
)

func newKey(t *testing.T) string {
	t.Helper()
	k, err := keyring.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpensOnlyForItsContextAndKey(t *testing.T) {
	t.Parallel()
	old, cur := newKey(t), newKey(t)
	ring, err := keyring.Parse([]byte("# authd keys\n" + old + "\n" + cur))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ring.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.Ciphertext), "JBSWY3DP") {
		t.Fatal("the ciphertext shows the secret")
	}
	newest, _ := keyring.Parse([]byte(cur))
	if s.KeyID != newest.KeyID() {
		t.Errorf("sealed under %q, want the last key of the file %q", s.KeyID, newest.KeyID())
	}
	plain, err := ring.Open(s, []byte("totp:1"))
	if err != nil || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	if _, err := ring.Open(s, []byte("totp:2")); err == nil {
		t.Error("a secret opened for another user")
	}
	tampered := s
	tampered.Ciphertext = append([]byte(nil), s.Ciphertext...)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	if _, err := ring.Open(tampered, []byte("totp:1")); err == nil {
		t.Error("an altered ciphertext opened")
	}
	if _, err := ring.Open(domainSecret(s.KeyID, s.Ciphertext[:3]), []byte("totp:1")); err == nil {
		t.Error("a truncated ciphertext opened")
	}
	// Rotation: a ring whose newest key is another still opens old secrets.
	oldOnly, _ := keyring.Parse([]byte(old))
	sOld, _ := oldOnly.Seal([]byte("x"), nil)
	if _, err := ring.Open(sOld, nil); err != nil {
		t.Errorf("a secret of an older key of the ring: %v", err)
	}
	if _, err := oldOnly.Open(s, []byte("totp:1")); !errors.Is(err, ports.ErrUnknownKey) {
		t.Errorf("a secret of a key not in the ring: %v, want ErrUnknownKey", err)
	}
}

func TestDigestsMatchUnderTheirKey(t *testing.T) {
	t.Parallel()
	old, cur := newKey(t), newKey(t)
	oldRing, _ := keyring.Parse([]byte(old))
	ring, _ := keyring.Parse([]byte(old + cur))
	d := oldRing.Digest("abcde12345")
	if !ring.Matches("abcde12345", d) {
		t.Error("a digest of an older key does not match")
	}
	if ring.Matches("abcde12346", d) {
		t.Error("another code matches")
	}
	if d2 := ring.Digest("abcde12345"); d2 == d || d2.KeyID == d.KeyID {
		t.Error("the newest key makes the same digest as the old one")
	}
	other, _ := keyring.Parse([]byte(newKey(t)))
	if other.Matches("abcde12345", d) {
		t.Error("a ring without the key matches")
	}
}

func TestParseRefusesBadKeys(t *testing.T) {
	t.Parallel()
	short := "AAAA" // 3 bytes
	for name, data := range map[string]string{
		"empty":         "",
		"only comments": "# nothing\n\n",
		"not base64":    "not base64!!\n",
		"16 bytes":      "AAAAAAAAAAAAAAAAAAAAAA==\n",
		"3 bytes":       short,
		"64 bytes":      strings.Repeat("A", 88),
		"base64url":     strings.Repeat("_", 43) + "=",
	} {
		if _, err := keyring.Parse([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "AAAA") {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}
