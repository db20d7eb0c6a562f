package domain

import "slices"

// AuthMethod is an authentication method reference (RFC 8176): how the
// user proved who they are.
type AuthMethod string

// The methods authd's sessions are authenticated by.
const (
	// AMRPassword: the account's password.
	AMRPassword AuthMethod = "pwd"
	// AMROTP: a one-time password, a TOTP code or a recovery code.
	AMROTP AuthMethod = "otp"
	// AMRHardwareKey: proof of possession of a key that stays in one
	// authenticator (a passkey that is not backup eligible).
	AMRHardwareKey AuthMethod = "hwk"
	// AMRSoftwareKey: proof of possession of a key that may leave its
	// authenticator (a synced, backup-eligible passkey).
	AMRSoftwareKey AuthMethod = "swk"
	// AMRMultiFactor: more than one factor was proven.
	AMRMultiFactor AuthMethod = "mfa"
)

// AuthMethods is how a session was authenticated: the methods in the
// order they were proven, and AMRMultiFactor last when they add up to more
// than one factor. Sessions keep it across rotations.
type AuthMethods []AuthMethod

// PasswordOnly is a session opened with the password alone.
func PasswordOnly() AuthMethods { return AuthMethods{AMRPassword} }

// PasswordAnd is a session opened with the password and a second factor.
func PasswordAnd(second AuthMethod) AuthMethods {
	return AuthMethods{AMRPassword, second, AMRMultiFactor}
}

// RehydrateAuthMethods rebuilds stored methods, as they were stored.
func RehydrateAuthMethods(stored []string) AuthMethods {
	if len(stored) == 0 {
		return nil
	}
	out := make(AuthMethods, len(stored))
	for i, s := range stored {
		out[i] = AuthMethod(s)
	}
	return out
}

// Strings returns the methods as the "amr" claim spells them.
func (m AuthMethods) Strings() []string {
	out := make([]string, len(m))
	for i, a := range m {
		out[i] = string(a)
	}
	return out
}

// Has reports whether a is one of the methods.
func (m AuthMethods) Has(a AuthMethod) bool { return slices.Contains(m, a) }
