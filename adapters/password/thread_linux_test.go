package password

import (
	"runtime"
	"syscall"
	"testing"
)

// TestHashesRunOnNicedThreads: the hash runs on a thread at backgroundNice,
// and no thread of the process other than that one is niced.
func TestHashesRunOnNicedThreads(t *testing.T) {
	t.Parallel()
	// The raw getpriority system call answers 20 - nice.
	nice := func() int {
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - p
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := nice()
	var inside int
	var tid int
	onBackgroundThread(func() { inside, tid = nice(), syscall.Gettid() })
	if inside != backgroundNice {
		t.Errorf("nice while hashing = %d, want %d", inside, backgroundNice)
	}
	if tid == syscall.Gettid() || nice() != before {
		t.Errorf("the caller's thread was used or niced (nice %d, was %d)", nice(), before)
	}
}
