package password

import (
	"runtime"
	"syscall"
)

// backgroundNice is the nice value of the threads that hash: the kernel
// gives a thread at nice 10 about a tenth of the CPU of one at nice 0 when
// both want it, and all of it when nothing else does.
const backgroundNice = 10

// onBackgroundThread runs fn on a new OS thread whose nice value is
// backgroundNice, and waits for it. On Linux the nice value belongs to the
// thread; the goroutine exits without unlocking, so Go discards the thread
// instead of reusing it, niced, for other goroutines. A thread costs tens
// of microseconds, against the tens of milliseconds of a hash.
func onBackgroundThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// Failing to lower the priority only loses the preference.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), backgroundNice)
		fn()
	}()
	<-done
}
