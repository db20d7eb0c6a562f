package password

import "syscall"

// lowerThreadPriority sets the niceness of the calling thread (on Linux
// niceness belongs to a thread, not to the process). A failure leaves the
// thread at the process's priority: hashing still works, only without
// yielding.
func lowerThreadPriority(nice int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
