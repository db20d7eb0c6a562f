package domain_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/domain"
)

// mfaNow is the fixed clock of these tests, in the middle of a TOTP step.
var mfaNow = time.Date(2026, 4, 1, 12, 0, 15, 0, time.UTC)

var sealed = domain.SealedSecret{KeyID: "k1", Ciphertext: []byte("ciphertext")}

func digests(n int) []domain.CodeDigest {
	out := make([]domain.CodeDigest, n)
	for i := range out {
		out[i] = domain.CodeDigest{KeyID: "k1", Sum: sha256.Sum256([]byte{byte(i)})}
	}
	return out
}

func newMFA(t *testing.T) *domain.MFA {
	t.Helper()
	return domain.NewMFA(domain.Owner{ID: 7, Role: domain.RoleUser, Active: true})
}

// enrolled returns an MFA whose TOTP was confirmed with a code of step.
func enrolled(t *testing.T, step int64) *domain.MFA {
	t.Helper()
	m := newMFA(t)
	if err := m.StartTOTP(sealed, mfaNow); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(step*30+10, 0)
	if err := m.ConfirmTOTP(step, digests(domain.RecoveryCodeCount), at); err != nil {
		t.Fatal(err)
	}
	return domain.RehydrateMFA(m.Record())
}

func TestTOTPWindowAcceptsOneStepEitherSideOnce(t *testing.T) {
	t.Parallel()
	cur := domain.TOTPStep(mfaNow)
	tests := []struct {
		name     string
		lastStep int64
		step     int64
		ok       bool
	}{
		{"current step", cur - 10, cur, true},
		{"one step back", cur - 10, cur - 1, true},
		{"one step ahead", cur - 10, cur + 1, true},
		{"two steps back", cur - 10, cur - 2, false},
		{"two steps ahead", cur - 10, cur + 2, false},
		{"the step already accepted (replay)", cur, cur, false},
		{"a step before the one accepted", cur, cur - 1, false},
		{"the step after the one accepted", cur, cur + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := enrolled(t, tt.lastStep)
			err := m.AcceptTOTP(tt.step, mfaNow)
			if (err == nil) != tt.ok {
				t.Fatalf("AcceptTOTP(%+d) = %v, want ok=%v", tt.step-cur, err, tt.ok)
			}
			if err != nil && !errors.Is(err, domain.ErrInvalidSecondFactor) {
				t.Fatalf("AcceptTOTP error = %v, want ErrInvalidSecondFactor", err)
			}
			if err == nil {
				if !m.TOTPChanged() {
					t.Error("an accepted step is not recorded as a change")
				}
				if again := m.AcceptTOTP(tt.step, mfaNow); !errors.Is(again, domain.ErrInvalidSecondFactor) {
					t.Errorf("the same step accepted twice: %v", again)
				}
			}
		})
	}
}

func TestTOTPCandidatesSkipStepsAlreadyAccepted(t *testing.T) {
	t.Parallel()
	cur := domain.TOTPStep(mfaNow)
	if got := newMFA(t).TOTPCandidates(mfaNow); got != nil {
		t.Errorf("candidates without TOTP = %v", got)
	}
	if diff := cmp.Diff([]int64{cur - 1, cur, cur + 1}, enrolled(t, cur-5).TOTPCandidates(mfaNow)); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{cur + 1}, enrolled(t, cur).TOTPCandidates(mfaNow)); diff != "" {
		t.Errorf("candidates after the current step was used (-want +got):\n%s", diff)
	}
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	cur := domain.TOTPStep(mfaNow)
	m := newMFA(t)
	if m.Enabled() || len(m.SecondFactors()) != 0 {
		t.Fatal("a new MFA asks for a second factor")
	}
	if err := m.ConfirmTOTP(cur, digests(10), mfaNow); !errors.Is(err, domain.ErrMFANotEnrolled) {
		t.Fatalf("confirm without enrolment = %v", err)
	}
	if err := m.StartTOTP(sealed, mfaNow); err != nil {
		t.Fatal(err)
	}
	if m.Enabled() {
		t.Fatal("a pending TOTP secret turns MFA on")
	}
	if _, ok := m.PendingTOTPSecret(); !ok {
		t.Fatal("no pending secret")
	}
	// Starting again replaces the pending secret.
	other := domain.SealedSecret{KeyID: "k1", Ciphertext: []byte("other")}
	if err := m.StartTOTP(other, mfaNow); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.PendingTOTPSecret(); !bytes.Equal(s.Ciphertext, other.Ciphertext) {
		t.Fatal("a second enrolment did not replace the pending secret")
	}
	if err := m.ConfirmTOTP(cur+2, digests(10), mfaNow); !errors.Is(err, domain.ErrInvalidSecondFactor) {
		t.Fatalf("confirm with a step outside the window = %v", err)
	}
	if err := m.ConfirmTOTP(cur, digests(10), mfaNow); err != nil {
		t.Fatal(err)
	}
	if !m.Enabled() || !m.TOTPConfirmed() || m.RecoveryCodesLeft() != 10 || !m.RecoveryCodesReplaced() {
		t.Fatalf("after confirm: enabled=%v codes=%d", m.Enabled(), m.RecoveryCodesLeft())
	}
	want := []domain.SecondFactor{domain.FactorTOTP, domain.FactorRecoveryCode}
	if diff := cmp.Diff(want, m.SecondFactors()); diff != "" {
		t.Errorf("second factors (-want +got):\n%s", diff)
	}
	if err := m.StartTOTP(sealed, mfaNow); !errors.Is(err, domain.ErrMFAAlreadyEnrolled) {
		t.Errorf("enrolling twice = %v, want ErrMFAAlreadyEnrolled", err)
	}
	if err := m.AcceptTOTP(cur, mfaNow); !errors.Is(err, domain.ErrInvalidSecondFactor) {
		t.Errorf("the confirming code used again at login = %v", err)
	}
	if _, ends := m.EndsSessions(); ends {
		t.Error("enrolling ends sessions")
	}
	caller := uuid.New()
	if err := m.RemoveTOTP(mfaNow, caller); err != nil {
		t.Fatal(err)
	}
	if m.Enabled() || m.RecoveryCodesLeft() != 0 {
		t.Errorf("after removing the last factor: enabled=%v codes=%d", m.Enabled(), m.RecoveryCodesLeft())
	}
	if end, ends := m.EndsSessions(); !ends || end != (domain.SessionEnding{At: mfaNow, Except: caller}) {
		t.Errorf("removing TOTP ends %+v (%v), want every session but the caller's", end, ends)
	}
	if err := m.RemoveTOTP(mfaNow, caller); !errors.Is(err, domain.ErrMFANotEnrolled) {
		t.Errorf("removing twice = %v", err)
	}
}

func TestRecoveryCodesWorkOnceEach(t *testing.T) {
	t.Parallel()
	m := enrolled(t, domain.TOTPStep(mfaNow)-3)
	ds := digests(10)
	for i, d := range ds {
		tried := 0
		err := m.UseRecoveryCode(func(c domain.CodeDigest) bool { tried++; return c == d }, mfaNow)
		if err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
		if tried != 10-i {
			t.Errorf("code %d: %d unused codes were compared, want every one (%d)", i, tried, 10-i)
		}
		if used, ok := m.RecoveryCodeUsed(); !ok || used.Digest != d || !used.UsedAt.Equal(mfaNow) {
			t.Errorf("code %d: RecoveryCodeUsed = %+v, %v", i, used, ok)
		}
		if err := m.UseRecoveryCode(func(c domain.CodeDigest) bool { return c == d }, mfaNow); !errors.Is(err, domain.ErrInvalidSecondFactor) {
			t.Errorf("code %d used twice: %v", i, err)
		}
	}
	if m.RecoveryCodesLeft() != 0 {
		t.Errorf("%d codes left", m.RecoveryCodesLeft())
	}
	if diff := cmp.Diff([]domain.SecondFactor{domain.FactorTOTP}, m.SecondFactors()); diff != "" {
		t.Errorf("without codes left (-want +got):\n%s", diff)
	}
	if err := newMFA(t).ReplaceRecoveryCodes(digests(10), mfaNow); !errors.Is(err, domain.ErrMFANotEnrolled) {
		t.Errorf("codes for an account without MFA: %v", err)
	}
}

func TestNewRecoveryCodesParse(t *testing.T) {
	t.Parallel()
	var random bytes.Buffer
	for i := range 1000 {
		random.WriteByte(byte(i * 7))
	}
	codes, err := domain.NewRecoveryCodes(&random)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != domain.RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' {
			t.Errorf("code %q is not xxxxx-xxxxx", c)
		}
		canon, err := domain.ParseRecoveryCode("recovery_code", c)
		if err != nil {
			t.Fatalf("ParseRecoveryCode(%q): %v", c, err)
		}
		for _, spelling := range []string{strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), "  " + c + "\n"} {
			if got, err := domain.ParseRecoveryCode("recovery_code", spelling); err != nil || got != canon {
				t.Errorf("ParseRecoveryCode(%q) = %q, %v; want %q", spelling, got, err, canon)
			}
		}
		seen[canon] = true
	}
	if len(seen) != len(codes) {
		t.Error("duplicate codes")
	}
	if got, _ := domain.ParseRecoveryCode("f", "IL0O1-abcde"); got != "11001abcde" {
		t.Errorf("confusable letters read as %q", got)
	}
	for _, bad := range []string{"", "abcde-fghj", "abcde-fghjkm", "abcde fghjk", "abcdeufghj", "abcde--ghj", "ábcde-fghjk"} {
		_, err := domain.ParseRecoveryCode("recovery_code", bad)
		var verr *domain.ValidationError
		if !errors.As(err, &verr) || verr.Fields[0].Field != "recovery_code" {
			t.Errorf("ParseRecoveryCode(%q) = %v, want a validation error", bad, err)
		}
	}
}

func TestParseTOTPCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"123456": "123456", " 012345\t": "012345"} {
		if got, err := domain.ParseTOTPCode("code", in); err != nil || got != want {
			t.Errorf("ParseTOTPCode(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "123 456", "12345a", "１２３４５６", "123-456"} {
		if _, err := domain.ParseTOTPCode("code", bad); err == nil {
			t.Errorf("ParseTOTPCode(%q) accepted", bad)
		}
	}
}

func cred(id string, backup bool) domain.PasskeyCredential {
	return domain.PasskeyCredential{ID: []byte(id), PublicKey: []byte("cose"), SignCount: 5, BackupEligible: backup}
}

func TestPasskeysAndTheLastFactor(t *testing.T) {
	t.Parallel()
	m := newMFA(t)
	a, err := m.AddPasskey(uuid.New(), cred("a", false), "", mfaNow)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "Passkey 1" {
		t.Errorf("default name %q", a.Name())
	}
	if _, err := m.AddPasskey(uuid.New(), cred("a", false), "again", mfaNow); !errors.Is(err, domain.ErrPasskeyExists) {
		t.Errorf("the same credential twice: %v", err)
	}
	if !m.Enabled() || !m.IsLastFactor(a.ID()) {
		t.Fatal("one passkey is the last factor")
	}
	if diff := cmp.Diff([]domain.SecondFactor{domain.FactorWebAuthn}, m.SecondFactors()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := m.RenamePasskey(a.ID(), "  Laptop  "); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Passkey(a.ID()); p.Name() != "Laptop" {
		t.Errorf("renamed to %q", p.Name())
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", 65), "a\u200bb", "a\nb"} {
		if _, err := m.RenamePasskey(a.ID(), bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if _, err := m.RenamePasskey(uuid.New(), "x"); !errors.Is(err, domain.ErrPasskeyNotFound) {
		t.Errorf("rename of an unknown passkey: %v", err)
	}
	b, err := m.AddPasskey(uuid.New(), cred("b", true), "Phone", mfaNow)
	if err != nil {
		t.Fatal(err)
	}
	if m.IsLastFactor(a.ID()) {
		t.Error("one of two passkeys is the last factor")
	}
	if _, err := m.RemovePasskey(b.ID(), mfaNow, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	if got := m.PasskeysAdded(); len(got) != 1 || got[0].ID() != a.ID() || len(m.PasskeysRemoved()) != 0 {
		t.Errorf("a passkey added and removed in one change is stored: added %d removed %d", len(got), len(m.PasskeysRemoved()))
	}
	stored := domain.RehydrateMFA(m.Record())
	keep := uuid.New()
	if _, err := stored.RemovePasskey(a.ID(), mfaNow, keep); err != nil {
		t.Fatal(err)
	}
	if end, ends := stored.EndsSessions(); !ends || end.Except != keep {
		t.Errorf("removing a passkey ends %+v (%v), want every session but %s", end, ends, keep)
	}
	if stored.Enabled() || len(stored.PasskeysRemoved()) != 1 {
		t.Errorf("after removing the only passkey: enabled=%v removed=%v", stored.Enabled(), stored.PasskeysRemoved())
	}
	if cred("x", true).Method() != domain.AMRSoftwareKey || cred("x", false).Method() != domain.AMRHardwareKey {
		t.Error("a synced passkey is swk, a device-bound one hwk")
	}
}

func TestPasskeySignCounter(t *testing.T) {
	t.Parallel()
	later := mfaNow.Add(time.Minute)
	tests := []struct {
		name         string
		stored, sent uint32
		err          error
	}{
		{"counter goes up", 5, 6, nil},
		{"counter stays (cloned)", 5, 5, domain.ErrPasskeyCounterRegressed},
		{"counter goes back (cloned)", 5, 2, domain.ErrPasskeyCounterRegressed},
		{"counter reset to zero (cloned)", 5, 0, domain.ErrPasskeyCounterRegressed},
		{"no counter on either side", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMFA(t)
			c := cred("k", false)
			c.SignCount = tt.stored
			p, err := m.AddPasskey(uuid.New(), c, "k", mfaNow)
			if err != nil {
				t.Fatal(err)
			}
			m = domain.RehydrateMFA(m.Record())
			got, err := m.UsePasskey(domain.PasskeyAssertion{CredentialID: []byte("k"), SignCount: tt.sent}, later)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("UsePasskey = %v, want %v", err, tt.err)
			}
			stored, _ := m.Passkey(p.ID())
			if tt.err != nil {
				if stored.SignCount() != tt.stored || m.Changed() {
					t.Errorf("a refused assertion changed the passkey: count %d, changed %v", stored.SignCount(), m.Changed())
				}
				return
			}
			if got.SignCount() != tt.sent || !got.LastUsedAt().Equal(later) || len(m.PasskeysUpdated()) != 1 {
				t.Errorf("after use: count %d, last used %s, updated %d", got.SignCount(), got.LastUsedAt(), len(m.PasskeysUpdated()))
			}
		})
	}
	if _, err := newMFA(t).UsePasskey(domain.PasskeyAssertion{CredentialID: []byte("x")}, mfaNow); !errors.Is(err, domain.ErrPasskeyNotFound) {
		t.Errorf("unknown credential: %v", err)
	}
}

func TestMFAResetRemovesEverything(t *testing.T) {
	t.Parallel()
	m := enrolled(t, domain.TOTPStep(mfaNow)-1)
	if _, err := m.AddPasskey(uuid.New(), cred("a", false), "a", mfaNow); err != nil {
		t.Fatal(err)
	}
	m = domain.RehydrateMFA(m.Record())
	if !m.Reset(mfaNow) {
		t.Fatal("Reset found nothing")
	}
	if end, ends := m.EndsSessions(); !ends || end != (domain.SessionEnding{At: mfaNow}) {
		t.Errorf("a reset ends %+v (%v), want every session", end, ends)
	}
	if m.Enabled() || m.RecoveryCodesLeft() != 0 || len(m.Passkeys()) != 0 || !m.TOTPChanged() || !m.RecoveryCodesReplaced() {
		t.Errorf("after reset: %+v", m.Summary())
	}
	again := domain.RehydrateMFA(m.Record())
	if again.Reset(mfaNow) || again.Changed() {
		t.Error("a second reset found or changed something")
	}
}

func TestPendingLoginEndsAfterFiveFailures(t *testing.T) {
	t.Parallel()
	u := domain.RehydrateUser(domain.UserRecord{ID: 3, Email: domain.MustParseEmail("a@example.com"), PasswordHash: "x", Role: domain.RoleUser, Active: true, SessionEpoch: 4})
	_, hash, err := domain.NewMFAToken(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	l := domain.NewPendingLogin(hash, u, u.Email(), domain.ClientInfo{}, mfaNow)
	if l.SessionEpoch() != 4 || l.UserID() != 3 || !l.ExpiresAt().Equal(mfaNow.Add(5*time.Minute)) {
		t.Fatalf("pending login %+v", l.Record())
	}
	for i := 1; i <= domain.MaxMFAFailures; i++ {
		if err := l.Usable(mfaNow); err != nil {
			t.Fatalf("before failure %d: %v", i, err)
		}
		if err := l.Fail(mfaNow); !errors.Is(err, domain.ErrInvalidSecondFactor) {
			t.Fatalf("Fail = %v", err)
		}
	}
	if err := l.Usable(mfaNow); !errors.Is(err, domain.ErrInvalidMFAToken) {
		t.Fatalf("after 5 failures: %v", err)
	}
	if err := l.Complete(mfaNow); !errors.Is(err, domain.ErrInvalidMFAToken) {
		t.Fatalf("completing a dead login: %v", err)
	}

	fresh := domain.NewPendingLogin(hash, u, u.Email(), domain.ClientInfo{}, mfaNow)
	if err := fresh.Complete(mfaNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Complete(mfaNow.Add(time.Minute)); !errors.Is(err, domain.ErrInvalidMFAToken) {
		t.Fatalf("used twice: %v", err)
	}
	late := domain.NewPendingLogin(hash, u, u.Email(), domain.ClientInfo{}, mfaNow)
	if err := late.Complete(mfaNow.Add(5 * time.Minute)); !errors.Is(err, domain.ErrInvalidMFAToken) {
		t.Fatalf("expired: %v", err)
	}
}

func TestWebAuthnChallengeAnswers(t *testing.T) {
	t.Parallel()
	var login domain.TokenHash
	login[0] = 1
	c := domain.NewWebAuthnChallenge("chal", domain.CeremonySecondFactor, 3, login, []byte("state"), mfaNow)
	if err := c.Answers(domain.CeremonySecondFactor, 3, login, mfaNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other ceremony": c.Answers(domain.CeremonyRegistration, 3, login, mfaNow),
		"other user":     c.Answers(domain.CeremonySecondFactor, 4, login, mfaNow),
		"other login":    c.Answers(domain.CeremonySecondFactor, 3, domain.TokenHash{}, mfaNow),
		"expired":        c.Answers(domain.CeremonySecondFactor, 3, login, mfaNow.Add(domain.WebAuthnChallengeTTL)),
	} {
		if !errors.Is(err, domain.ErrWebAuthnChallengeInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFamilyKeepsItsAuthMethodsAcrossRotation(t *testing.T) {
	t.Parallel()
	amr := domain.PasswordAnd(domain.AMROTP)
	if diff := cmp.Diff([]string{"pwd", "otp", "mfa"}, amr.Strings()); diff != "" {
		t.Fatal(diff)
	}
	f := domain.NewFamilyAuthenticated(uuid.New(), domain.Owner{ID: 1, Active: true}, domain.TokenHash{1}, domain.ClientInfo{}, amr, mfaNow, domain.DefaultSessionPolicy)
	tok, _ := f.Issued()
	rec := domain.FamilyRecord{ID: f.ID(), Owner: f.Owner(), CreatedAt: mfaNow, LastUsedAt: mfaNow, ExpiresAt: f.ExpiresAt(), AMR: f.AuthMethods()}
	loaded := domain.RehydrateFamily(rec, &tok)
	if err := loaded.Rotate(domain.TokenHash{2}, mfaNow.Add(time.Minute), domain.DefaultSessionPolicy); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(amr, loaded.AuthMethods()); diff != "" {
		t.Errorf("amr after rotation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(domain.PasswordOnly(), domain.NewFamily(uuid.New(), domain.Owner{ID: 1}, domain.TokenHash{3}, domain.ClientInfo{}, mfaNow, domain.DefaultSessionPolicy).AuthMethods()); diff != "" {
		t.Errorf("a password login (-want +got):\n%s", diff)
	}
}
