package domain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The TOTP policy (RFC 6238, as authenticator apps implement it): 6 digits,
// 30-second steps, SHA-1, codes of the step before and after the current
// one accepted, and each step accepted at most once per user.
const (
	TOTPDigits      = 6
	TOTPPeriod      = 30 * time.Second
	TOTPSkew        = 1
	TOTPSecretBytes = 20
)

// TOTPStep returns the RFC 6238 time step t falls in.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// SealedSecret is a secret encrypted at rest: the ciphertext and the id of
// the key that sealed it, so that keys can rotate. Only a SecretBox opens it.
type SealedSecret struct {
	KeyID      string
	Ciphertext []byte
}

// IsZero reports whether s holds nothing.
func (s SealedSecret) IsZero() bool { return s.KeyID == "" && len(s.Ciphertext) == 0 }

// SecondFactor names a way to pass the second step of a login, as the
// mfa_required problem lists them.
type SecondFactor string

// The second factors.
const (
	FactorTOTP         SecondFactor = "totp"
	FactorRecoveryCode SecondFactor = "recovery_code"
	FactorWebAuthn     SecondFactor = "webauthn"
)

// MFA is the multi-factor aggregate of one user: a TOTP secret (pending
// until confirmed with a first code), recovery codes and passkeys. It
// decides enrolment, removal, and whether a code or an assertion proves
// the second factor; repositories store what it decided (see Changed) in
// the transaction that loaded it, together with the audit events and mails
// attached to it.
type MFA struct {
	user     UserID
	owner    Owner
	handle   []byte
	totp     *totpFactor
	codes    []recoveryCode
	passkeys []Passkey

	handleCreated bool
	totpChanged   bool
	codesReplaced bool
	usedCode      int // index into codes of the code this change spent; -1: none
	added         []uuid.UUID
	removed       []uuid.UUID
	updated       []uuid.UUID
	ending        *SessionEnding
	events
	outbox
}

type totpFactor struct {
	secret      SealedSecret
	createdAt   time.Time
	confirmedAt time.Time // zero while pending
	lastStep    int64     // the last step accepted; 0 before the first
}

type recoveryCode struct {
	digest    CodeDigest
	createdAt time.Time
	usedAt    time.Time
}

// MFARecord is the stored state of a user's MFA, for RehydrateMFA. A user
// with no second factor has a record with only User and Owner set.
type MFARecord struct {
	User UserID
	// Owner is the state of the user as loaded with the MFA, for the
	// session a passkey sign-in opens.
	Owner Owner
	// UserHandle is the WebAuthn user handle; nil until the first passkey
	// registration begins.
	UserHandle    []byte
	TOTP          *TOTPRecord
	RecoveryCodes []RecoveryCodeRecord
	Passkeys      []PasskeyRecord
}

// TOTPRecord is the stored state of a TOTP secret.
type TOTPRecord struct {
	Secret      SealedSecret
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while pending
	LastStep    int64
}

// RecoveryCodeRecord is the stored state of one recovery code.
type RecoveryCodeRecord struct {
	Digest    CodeDigest
	CreatedAt time.Time
	UsedAt    time.Time // zero while unused
}

// NewMFA returns the MFA of a user with no second factor.
func NewMFA(owner Owner) *MFA { return RehydrateMFA(MFARecord{User: owner.ID, Owner: owner}) }

// RehydrateMFA rebuilds a stored MFA; it is meant for repository adapters.
func RehydrateMFA(r MFARecord) *MFA {
	m := &MFA{user: r.User, owner: r.Owner, handle: bytes.Clone(r.UserHandle), usedCode: -1}
	if r.TOTP != nil {
		t := totpFactor{secret: cloneSealed(r.TOTP.Secret), createdAt: r.TOTP.CreatedAt, confirmedAt: r.TOTP.ConfirmedAt, lastStep: r.TOTP.LastStep}
		m.totp = &t
	}
	for _, c := range r.RecoveryCodes {
		m.codes = append(m.codes, recoveryCode{digest: c.Digest, createdAt: c.CreatedAt, usedAt: c.UsedAt})
	}
	for _, p := range r.Passkeys {
		m.passkeys = append(m.passkeys, RehydratePasskey(p))
	}
	return m
}

// Record returns the state of m, for repository adapters.
func (m *MFA) Record() MFARecord {
	r := MFARecord{User: m.user, Owner: m.owner, UserHandle: bytes.Clone(m.handle)}
	if m.totp != nil {
		r.TOTP = &TOTPRecord{Secret: cloneSealed(m.totp.secret), CreatedAt: m.totp.createdAt, ConfirmedAt: m.totp.confirmedAt, LastStep: m.totp.lastStep}
	}
	for _, c := range m.codes {
		r.RecoveryCodes = append(r.RecoveryCodes, RecoveryCodeRecord{Digest: c.digest, CreatedAt: c.createdAt, UsedAt: c.usedAt})
	}
	for _, p := range m.passkeys {
		r.Passkeys = append(r.Passkeys, p.Record())
	}
	return r
}

func cloneSealed(s SealedSecret) SealedSecret {
	return SealedSecret{KeyID: s.KeyID, Ciphertext: bytes.Clone(s.Ciphertext)}
}

// UserID returns the id of the MFA's user.
func (m *MFA) UserID() UserID { return m.user }

// Owner returns the user as loaded with the MFA.
func (m *MFA) Owner() Owner { return m.owner }

// UserHandle returns the WebAuthn user handle; nil before EnsureUserHandle.
func (m *MFA) UserHandle() []byte { return bytes.Clone(m.handle) }

// userHandleBytes is the length of a WebAuthn user handle (the
// specification allows up to 64 random bytes).
const userHandleBytes = 32

// EnsureUserHandle draws the user's WebAuthn user handle from r unless it
// has one: an opaque random id, so that authenticators learn nothing about
// the account from it.
func (m *MFA) EnsureUserHandle(r io.Reader) error {
	if m.handle != nil {
		return nil
	}
	h := make([]byte, userHandleBytes)
	if _, err := io.ReadFull(r, h); err != nil {
		return fmt.Errorf("domain: read random: %w", err)
	}
	m.handle, m.handleCreated = h, true
	return nil
}

// Enabled reports whether a login with the password needs a second factor:
// a confirmed TOTP secret or at least one passkey.
func (m *MFA) Enabled() bool { return m.TOTPConfirmed() || len(m.passkeys) > 0 }

// SecondFactors is the login decision after a correct password: the ways
// the user may prove a second factor, none when the password is enough.
func (m *MFA) SecondFactors() []SecondFactor { return m.Summary().SecondFactors() }

// TOTPConfirmed reports whether the user has a confirmed TOTP secret.
func (m *MFA) TOTPConfirmed() bool { return m.totp != nil && !m.totp.confirmedAt.IsZero() }

// TOTPSecret returns the confirmed TOTP secret.
func (m *MFA) TOTPSecret() (SealedSecret, bool) {
	if !m.TOTPConfirmed() {
		return SealedSecret{}, false
	}
	return cloneSealed(m.totp.secret), true
}

// PendingTOTPSecret returns the TOTP secret waiting for confirmation.
func (m *MFA) PendingTOTPSecret() (SealedSecret, bool) {
	if m.totp == nil || m.TOTPConfirmed() {
		return SealedSecret{}, false
	}
	return cloneSealed(m.totp.secret), true
}

// StartTOTP begins a TOTP enrolment with secret, replacing one that was
// not confirmed. It returns ErrMFAAlreadyEnrolled when TOTP is confirmed.
func (m *MFA) StartTOTP(secret SealedSecret, now time.Time) error {
	if m.TOTPConfirmed() {
		return ErrMFAAlreadyEnrolled
	}
	if secret.IsZero() {
		return errors.New("domain: a TOTP enrolment needs a secret")
	}
	m.totp = &totpFactor{secret: cloneSealed(secret), createdAt: now}
	m.totpChanged = true
	return nil
}

// TOTPCandidates returns the time steps a TOTP code may be checked against
// at now, oldest first: the current step and TOTPSkew steps on either side,
// without those at or before the last step accepted (each step is accepted
// once). It is empty without a TOTP secret.
func (m *MFA) TOTPCandidates(now time.Time) []int64 {
	if m.totp == nil {
		return nil
	}
	cur := TOTPStep(now)
	var out []int64
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		if s > m.totp.lastStep {
			out = append(out, s)
		}
	}
	return out
}

// ConfirmTOTP confirms the pending TOTP secret with the first code, which
// matched step, and replaces the recovery codes with codes. It returns
// ErrMFAAlreadyEnrolled when TOTP is already confirmed, ErrMFANotEnrolled
// when no enrolment is pending, and ErrInvalidSecondFactor when step is not
// one of TOTPCandidates(now).
func (m *MFA) ConfirmTOTP(step int64, codes []CodeDigest, now time.Time) error {
	switch {
	case m.TOTPConfirmed():
		return ErrMFAAlreadyEnrolled
	case m.totp == nil:
		return ErrMFANotEnrolled
	case !slices.Contains(m.TOTPCandidates(now), step):
		return ErrInvalidSecondFactor
	case len(codes) != RecoveryCodeCount:
		return fmt.Errorf("domain: want %d recovery codes, got %d", RecoveryCodeCount, len(codes))
	}
	m.totp.confirmedAt = now
	m.totp.lastStep = step
	m.totpChanged = true
	m.replaceCodes(codes, now)
	return nil
}

// AcceptTOTP records that a code of step proved the second factor at now.
// It returns ErrInvalidSecondFactor when TOTP is not confirmed or step is
// not one of TOTPCandidates(now): outside the window, or already accepted
// (a replayed code).
func (m *MFA) AcceptTOTP(step int64, now time.Time) error {
	if !m.TOTPConfirmed() || !slices.Contains(m.TOTPCandidates(now), step) {
		return ErrInvalidSecondFactor
	}
	m.totp.lastStep = step
	m.totpChanged = true
	return nil
}

// RemoveTOTP removes the TOTP secret, confirmed or pending. When no second
// factor is left, the recovery codes go with it. Removing a confirmed one
// is a credential change: it ends every session of the user but keep (the
// caller's) at now. It returns ErrMFANotEnrolled when there is none.
func (m *MFA) RemoveTOTP(now time.Time, keep uuid.UUID) error {
	if m.totp == nil {
		return ErrMFANotEnrolled
	}
	if m.TOTPConfirmed() {
		m.endSessions(now, keep)
	}
	m.totp = nil
	m.totpChanged = true
	m.dropCodesIfOff()
	return nil
}

// ReplaceRecoveryCodes replaces every recovery code with codes. It returns
// ErrMFANotEnrolled when the account has no second factor.
func (m *MFA) ReplaceRecoveryCodes(codes []CodeDigest, now time.Time) error {
	if !m.Enabled() {
		return ErrMFANotEnrolled
	}
	if len(codes) != RecoveryCodeCount {
		return fmt.Errorf("domain: want %d recovery codes, got %d", RecoveryCodeCount, len(codes))
	}
	m.replaceCodes(codes, now)
	return nil
}

func (m *MFA) replaceCodes(codes []CodeDigest, now time.Time) {
	m.codes = m.codes[:0:0]
	for _, d := range codes {
		m.codes = append(m.codes, recoveryCode{digest: d, createdAt: now})
	}
	m.codesReplaced, m.usedCode = true, -1
}

func (m *MFA) dropCodesIfOff() {
	if !m.Enabled() && len(m.codes) > 0 {
		m.codes = nil
		m.codesReplaced, m.usedCode = true, -1
	}
}

// UseRecoveryCode spends the unused recovery code for which matches reports
// true. Every unused code is tried, whatever the outcome, so that the time
// taken does not tell which one matched. It returns ErrInvalidSecondFactor
// when MFA is off or no unused code matches.
func (m *MFA) UseRecoveryCode(matches func(CodeDigest) bool, now time.Time) error {
	found := -1
	for i, c := range m.codes {
		if c.usedAt.IsZero() && matches(c.digest) && found < 0 {
			found = i
		}
	}
	if found < 0 || !m.Enabled() {
		return ErrInvalidSecondFactor
	}
	m.codes[found].usedAt = now
	m.usedCode = found
	return nil
}

// RecoveryCodesLeft counts the unused recovery codes.
func (m *MFA) RecoveryCodesLeft() int {
	n := 0
	for _, c := range m.codes {
		if c.usedAt.IsZero() {
			n++
		}
	}
	return n
}

// Passkeys returns the user's passkeys, oldest first.
func (m *MFA) Passkeys() []Passkey { return slices.Clone(m.passkeys) }

// Passkey returns the passkey with id, or ErrPasskeyNotFound.
func (m *MFA) Passkey(id uuid.UUID) (Passkey, error) {
	i := m.passkeyIndex(id)
	if i < 0 {
		return Passkey{}, ErrPasskeyNotFound
	}
	return m.passkeys[i], nil
}

// PasskeyByCredential returns the passkey with credential id cred, or
// ErrPasskeyNotFound.
func (m *MFA) PasskeyByCredential(cred []byte) (Passkey, error) {
	for _, p := range m.passkeys {
		if bytes.Equal(p.cred.ID, cred) {
			return p, nil
		}
	}
	return Passkey{}, ErrPasskeyNotFound
}

func (m *MFA) passkeyIndex(id uuid.UUID) int {
	return slices.IndexFunc(m.passkeys, func(p Passkey) bool { return p.id == id })
}

// MaxPasskeys bounds the passkeys of one account.
const MaxPasskeys = 20

// AddPasskey registers a new passkey, its id id, with credential cred and
// name (a default one when empty). It returns ErrPasskeyExists when the
// account already has that credential, ErrTooManyPasskeys when it has
// MaxPasskeys, and a *ValidationError for a name ParsePasskeyName refuses.
func (m *MFA) AddPasskey(id uuid.UUID, cred PasskeyCredential, name string, now time.Time) (Passkey, error) {
	if name == "" {
		name = fmt.Sprintf("Passkey %d", len(m.passkeys)+1)
	}
	name, err := ParsePasskeyName(name)
	switch {
	case err != nil:
		return Passkey{}, err
	case len(cred.ID) == 0 || len(cred.PublicKey) == 0:
		return Passkey{}, errors.New("domain: a passkey needs a credential id and a public key")
	case len(m.passkeys) >= MaxPasskeys:
		return Passkey{}, ErrTooManyPasskeys
	}
	if _, err := m.PasskeyByCredential(cred.ID); err == nil {
		return Passkey{}, ErrPasskeyExists
	}
	p := Passkey{id: id, cred: cred.clone(), signCount: cred.SignCount, name: name, createdAt: now}
	m.passkeys = append(m.passkeys, p)
	m.added = append(m.added, id)
	return p, nil
}

// RenamePasskey renames the passkey with id. It returns ErrPasskeyNotFound,
// or a *ValidationError for a name ParsePasskeyName refuses.
func (m *MFA) RenamePasskey(id uuid.UUID, name string) (Passkey, error) {
	i := m.passkeyIndex(id)
	if i < 0 {
		return Passkey{}, ErrPasskeyNotFound
	}
	name, err := ParsePasskeyName(name)
	if err != nil {
		return Passkey{}, err
	}
	m.passkeys[i].name = name
	m.markUpdated(id)
	return m.passkeys[i], nil
}

// IsLastFactor reports whether removing the passkey with id would leave the
// account without a second factor.
func (m *MFA) IsLastFactor(id uuid.UUID) bool {
	return m.passkeyIndex(id) >= 0 && len(m.passkeys) == 1 && !m.TOTPConfirmed()
}

// RemovePasskey removes the passkey with id; when no second factor is left
// the recovery codes go with it. It is a credential change: it ends every
// session of the user but keep (the caller's) at now. It returns
// ErrPasskeyNotFound.
func (m *MFA) RemovePasskey(id uuid.UUID, now time.Time, keep uuid.UUID) (Passkey, error) {
	p, err := m.removePasskey(id)
	if err == nil {
		m.endSessions(now, keep)
	}
	return p, err
}

func (m *MFA) removePasskey(id uuid.UUID) (Passkey, error) {
	i := m.passkeyIndex(id)
	if i < 0 {
		return Passkey{}, ErrPasskeyNotFound
	}
	p := m.passkeys[i]
	m.passkeys = slices.Delete(m.passkeys, i, i+1)
	if j := slices.Index(m.added, id); j >= 0 {
		m.added = slices.Delete(m.added, j, j+1)
	} else {
		m.removed = append(m.removed, id)
	}
	m.dropCodesIfOff()
	return p, nil
}

// UsePasskey records that the passkey with credential id a.CredentialID
// signed an assertion at now. The signature counter must go up: a counter
// that stays or goes back (unless it is zero on both sides, as for
// authenticators that keep none) means another copy of the key signs too,
// and the assertion is refused with ErrPasskeyCounterRegressed, the stored
// counter unchanged. It returns ErrPasskeyNotFound for an unknown credential.
func (m *MFA) UsePasskey(a PasskeyAssertion, now time.Time) (Passkey, error) {
	i := slices.IndexFunc(m.passkeys, func(p Passkey) bool { return bytes.Equal(p.cred.ID, a.CredentialID) })
	if i < 0 {
		return Passkey{}, ErrPasskeyNotFound
	}
	p := &m.passkeys[i]
	if (a.SignCount != 0 || p.signCount != 0) && a.SignCount <= p.signCount {
		return *p, ErrPasskeyCounterRegressed
	}
	p.signCount = a.SignCount
	p.cred.BackupState = a.BackupState
	p.lastUsedAt = now
	m.markUpdated(p.id)
	return *p, nil
}

func (m *MFA) markUpdated(id uuid.UUID) {
	if !slices.Contains(m.added, id) && !slices.Contains(m.updated, id) {
		m.updated = append(m.updated, id)
	}
}

// Reset removes every second factor (an admin's reset): TOTP, passkeys and
// recovery codes, and ends every session of the user at now, since the
// account may be in other hands. It reports whether there was anything to
// remove; when there was not, it changes nothing.
func (m *MFA) Reset(now time.Time) bool {
	had := m.totp != nil || len(m.passkeys) > 0 || len(m.codes) > 0
	if !had {
		return false
	}
	m.endSessions(now, uuid.Nil)
	if m.totp != nil {
		m.totp, m.totpChanged = nil, true
	}
	for len(m.passkeys) > 0 {
		_, _ = m.removePasskey(m.passkeys[0].id)
	}
	if len(m.codes) > 0 {
		m.codes = nil
		m.codesReplaced, m.usedCode = true, -1
	}
	return had
}

// Summary is what the user object shows about the account's second factors.
func (m *MFA) Summary() MFASummary {
	return MFASummary{TOTP: m.TOTPConfirmed(), Passkeys: len(m.passkeys), RecoveryCodesLeft: m.RecoveryCodesLeft()}
}

// MFASummary is what an account shows of its second factors.
type MFASummary struct {
	TOTP              bool
	Passkeys          int
	RecoveryCodesLeft int
}

// SecondFactors is the login decision after a correct password for an
// account with these factors: the ways the user may prove a second factor,
// none when the password is enough. Recovery codes stand in for a factor
// only while one is enrolled.
func (s MFASummary) SecondFactors() []SecondFactor {
	var out []SecondFactor
	if s.TOTP {
		out = append(out, FactorTOTP)
	}
	if s.Passkeys > 0 {
		out = append(out, FactorWebAuthn)
	}
	if len(out) > 0 && s.RecoveryCodesLeft > 0 {
		out = append(out, FactorRecoveryCode)
	}
	return out
}

// The decisions of the change being made, for repository adapters.

// EndsSessions returns the sessions this change ends, if it ends any: a
// removed factor takes the sessions it may have opened with it. The
// repository ends them, and moves the user's session epoch on, in the
// change's transaction.
func (m *MFA) EndsSessions() (SessionEnding, bool) {
	if m.ending == nil {
		return SessionEnding{}, false
	}
	return *m.ending, true
}

func (m *MFA) endSessions(now time.Time, keep uuid.UUID) { m.ending = m.ending.and(now, keep) }

// HandleCreated reports whether this change drew the WebAuthn user handle.
func (m *MFA) HandleCreated() bool { return m.handleCreated }

// TOTPChanged reports whether this change started, confirmed, used or
// removed the TOTP secret; Record holds its new state.
func (m *MFA) TOTPChanged() bool { return m.totpChanged }

// RecoveryCodesReplaced reports whether this change replaced (or removed)
// every recovery code; Record holds the new ones.
func (m *MFA) RecoveryCodesReplaced() bool { return m.codesReplaced }

// RecoveryCodeUsed returns the code this change spent, if any.
func (m *MFA) RecoveryCodeUsed() (RecoveryCodeRecord, bool) {
	if m.usedCode < 0 {
		return RecoveryCodeRecord{}, false
	}
	c := m.codes[m.usedCode]
	return RecoveryCodeRecord{Digest: c.digest, CreatedAt: c.createdAt, UsedAt: c.usedAt}, true
}

// PasskeysAdded returns the passkeys this change registered.
func (m *MFA) PasskeysAdded() []Passkey { return m.byIDs(m.added) }

// PasskeysUpdated returns the stored passkeys this change renamed or used.
func (m *MFA) PasskeysUpdated() []Passkey { return m.byIDs(m.updated) }

// PasskeysRemoved returns the ids of the stored passkeys this change removed.
func (m *MFA) PasskeysRemoved() []uuid.UUID { return slices.Clone(m.removed) }

func (m *MFA) byIDs(ids []uuid.UUID) []Passkey {
	var out []Passkey
	for _, id := range ids {
		if i := m.passkeyIndex(id); i >= 0 {
			out = append(out, m.passkeys[i])
		}
	}
	return out
}

// Changed reports whether the MFA holds a change to store. Audit events
// and mails attached to an MFA are stored whenever the repository writes,
// even without a change of state.
func (m *MFA) Changed() bool {
	return m.handleCreated || m.totpChanged || m.codesReplaced || m.usedCode >= 0 ||
		len(m.added) > 0 || len(m.updated) > 0 || len(m.removed) > 0 ||
		len(m.events) > 0 || len(m.outbox) > 0 || m.ending != nil
}
