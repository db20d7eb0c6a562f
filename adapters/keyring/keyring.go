// Package keyring holds authd's encryption keys (AUTHD_ENCRYPTION_KEY_FILE)
// and what they are used for: sealing secrets at rest with AES-256-GCM
// (ports.SecretBox) and the keyed digests of recovery codes, HMAC-SHA-256
// (ports.CodeDigester). Each stored value names the id of the key that made
// it, so keys can rotate: the newest key seals and digests, every key of
// the ring opens and checks what it made.
package keyring

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"authd/domain"
	"authd/ports"
)

// KeyBytes is the size of a key: 32 random bytes.
const KeyBytes = 32

var (
	_ ports.SecretBox    = (*Ring)(nil)
	_ ports.CodeDigester = (*Ring)(nil)
)

// Ring is a set of keys, the newest of which seals. It is safe for
// concurrent use.
type Ring struct {
	keys   map[string]*key
	newest *key
}

// key is one key of the ring, with the subkeys derived from it for each
// use, so that no key material serves two purposes.
type key struct {
	id   string
	aead cipher.AEAD
	mac  []byte
}

// The HKDF labels of the subkeys and of the key id.
const (
	sealLabel   = "authd secret box v1"
	digestLabel = "authd recovery code digest v1"
	idLabel     = "authd key id v1"
)

func newKey(raw []byte) (*key, error) {
	if len(raw) != KeyBytes {
		return nil, fmt.Errorf("a key must be %d bytes, this one is %d", KeyBytes, len(raw))
	}
	sealKey, err := hkdf.Key(sha256.New, raw, nil, sealLabel, 32)
	if err != nil {
		return nil, err
	}
	mac, err := hkdf.Key(sha256.New, raw, nil, digestLabel, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte(idLabel), raw...))
	return &key{id: base64.RawURLEncoding.EncodeToString(sum[:9]), aead: aead, mac: mac}, nil
}

// Parse reads a key file: one key per line, each 32 bytes in standard
// base64; blank lines and lines starting with # are skipped. The last key
// is the newest: rotating means appending a key. Errors never quote a key.
func Parse(data []byte) (*Ring, error) {
	r := &Ring{keys: map[string]*key{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("line %d is not standard base64", line)
		}
		k, err := newKey(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		r.keys[k.id] = k
		r.newest = k
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if r.newest == nil {
		return nil, fmt.Errorf("no key: the file must hold %d random bytes in standard base64", KeyBytes)
	}
	return r, nil
}

// Load reads the key file at path (see Parse).
func Load(path string) (*Ring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Generate returns a new key as a line of a key file.
func Generate(random io.Reader) (string, error) {
	raw := make([]byte, KeyBytes)
	if _, err := io.ReadFull(random, raw); err != nil {
		return "", fmt.Errorf("keyring: read random: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw) + "\n", nil
}

// KeyID returns the id of the newest key, the one that seals.
func (r *Ring) KeyID() string { return r.newest.id }

// Seal encrypts plain for context under the newest key: a random 96-bit
// nonce followed by the GCM ciphertext, whose additional data binds the
// key id and the context.
func (r *Ring) Seal(plain, context []byte) (domain.SealedSecret, error) {
	k := r.newest
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return domain.SealedSecret{}, fmt.Errorf("keyring: read random: %w", err)
	}
	return domain.SealedSecret{KeyID: k.id, Ciphertext: k.aead.Seal(nonce, nonce, plain, additional(k.id, context))}, nil
}

// Open decrypts s for context.
func (r *Ring) Open(s domain.SealedSecret, context []byte) ([]byte, error) {
	k, ok := r.keys[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("keyring: key %q: %w", s.KeyID, ports.ErrUnknownKey)
	}
	n := k.aead.NonceSize()
	if len(s.Ciphertext) < n+k.aead.Overhead() {
		return nil, errors.New("keyring: sealed secret too short")
	}
	plain, err := k.aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], additional(k.id, context))
	if err != nil {
		return nil, errors.New("keyring: the sealed secret does not open (altered, or sealed for another context)")
	}
	return plain, nil
}

func additional(id string, context []byte) []byte {
	return append([]byte(id+"\x00"), context...)
}

// Digest returns the HMAC-SHA-256 of code under the newest key.
func (r *Ring) Digest(code string) domain.CodeDigest {
	return r.newest.digest(code)
}

// Matches reports whether d is the digest of code, comparing in constant
// time.
func (r *Ring) Matches(code string, d domain.CodeDigest) bool {
	k, ok := r.keys[d.KeyID]
	if !ok {
		return false
	}
	got := k.digest(code)
	return subtle.ConstantTimeCompare(got.Sum[:], d.Sum[:]) == 1
}

func (k *key) digest(code string) domain.CodeDigest {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(code))
	d := domain.CodeDigest{KeyID: k.id}
	copy(d.Sum[:], m.Sum(nil))
	return d
}
