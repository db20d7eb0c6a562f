// Package application holds authd's use cases, one type per use case. Each
// depends only on domain types and ports; it reads the clock once and passes
// that instant to the domain.
package application
