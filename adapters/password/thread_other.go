//go:build !linux

package password

// onBackgroundThread runs fn; only Linux lets a thread's priority be
// lowered on its own.
func onBackgroundThread(fn func()) { fn() }
