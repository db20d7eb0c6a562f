package ports_test

import (
	"errors"
	"testing"

	"authd/ports"
)

// A family that keeps changing under a write is a "try again later", not a
// bug: the HTTP edge answers it 503 rather than 500.
func TestConflictIsUnavailable(t *testing.T) {
	t.Parallel()
	if !errors.Is(ports.ErrConflict, ports.ErrUnavailable) {
		t.Fatal("ErrConflict does not match ErrUnavailable")
	}
}
