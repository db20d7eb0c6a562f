package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"

	"authd/adapters/keyring"
)

// testEncryptionKey is the AUTHD_ENCRYPTION_KEY_FILE every server of the
// test binary uses unless a test sets another: a key made once, in binDir.
var testEncryptionKey = sync.OnceValue(func() string {
	line, err := keyring.Generate(rand.Reader)
	if err != nil {
		panic(err)
	}
	path := filepath.Join(binDir, "encryption.key")
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		panic(err)
	}
	return path
})
