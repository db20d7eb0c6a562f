// Package domain holds authd's entities, value objects and rules: users with
// a normalised email, a role and an active flag, and the refresh-token family
// aggregate that implements rotation with theft detection.
//
// It imports only the standard library, google/uuid, and the two packages
// of golang.org/x that normalise input (unicode/norm, idna). Time is always an
// argument so that one timestamp serves a whole use case.
package domain
