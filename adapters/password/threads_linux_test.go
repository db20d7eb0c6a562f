package password

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// threadNice reads the niceness of the calling thread from /proc.
func threadNice(t *testing.T) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", syscall.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces; the fields after
	// it start with the state, field 3, and niceness is field 19.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	nice, err := strconv.Atoi(fields[19-3])
	if err != nil {
		t.Fatal(err)
	}
	return nice
}

// TestHashesRunAtLowerPriority holds the hashes to threads of niceness
// hashNice and the rest of the process to its own priority.
func TestHashesRunAtLowerPriority(t *testing.T) {
	h, err := NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own := threadNice(t)
	var hashing int
	h.threads.run(func() { hashing = threadNice(t) })
	if hashing != hashNice {
		t.Errorf("a hash ran at niceness %d, want %d", hashing, hashNice)
	}
	if got := threadNice(t); got != own {
		t.Errorf("the caller's thread went from niceness %d to %d", own, got)
	}
	// Hash and Verify go through the hashing threads.
	enc, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(t.Context(), "correct horse battery staple", enc); err != nil || !ok {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}
