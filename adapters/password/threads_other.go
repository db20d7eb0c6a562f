//go:build !linux

package password

// lowerThreadPriority does nothing where niceness is not per thread.
func lowerThreadPriority(int) {}
