package jwt_test

import (
	"testing"

	"authd/adapters/jwt"
)

// BenchmarkIssue signs one access token: an Ed25519 signature and the
// encoding around it, which every login and rotation pays.
func BenchmarkIssue(b *testing.B) {
	i := newIssuer(b, jwt.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := i.Issue(grant, base); err != nil {
			b.Fatal(err)
		}
	}
}
