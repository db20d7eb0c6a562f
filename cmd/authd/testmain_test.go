package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the authd binary that the process tests run; TestMain
// creates it and removes it when every test has finished.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create the binary directory:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// authdBinary builds the real authd binary once per test run, on first
// use, so tests that need no process do not pay for the build.
func authdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(binDir, "authd")
		cmd := exec.Command("go", "build", "-o", path, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build authd: %v\n%s", err, out)
			return
		}
		buildPath = path
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}
