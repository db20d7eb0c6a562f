package porttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

func mfaCodes(t *testing.T) []domain.CodeDigest {
	t.Helper()
	out := make([]domain.CodeDigest, domain.RecoveryCodeCount)
	for i := range out {
		out[i] = domain.CodeDigest{KeyID: "kid-" + uniq(t), Sum: sha256.Sum256([]byte(uniq(t)))}
	}
	return out
}

func testCredential(t *testing.T, backup bool) domain.PasskeyCredential {
	t.Helper()
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return domain.PasskeyCredential{
		ID: id, PublicKey: []byte("cose-key-" + uniq(t)), SignCount: 3, AAGUID: make([]byte, 16),
		Transports: []string{"internal", "hybrid"}, AttestationType: "none", AttestationFormat: "none",
		BackupEligible: backup, BackupState: backup, UserVerified: true, Attachment: "platform",
	}
}

// enrolTOTP stores a confirmed TOTP secret (confirmed at base, with a code
// of its step) and ten recovery codes for u, and returns the codes.
func enrolTOTP(t *testing.T, repo ports.MFARepository, u domain.UserID) []domain.CodeDigest {
	t.Helper()
	codes := mfaCodes(t)
	err := repo.Update(context.Background(), u, func(m *domain.MFA) error {
		if err := m.StartTOTP(domain.SealedSecret{KeyID: "k1", Ciphertext: []byte("sealed-" + uniq(t))}, base); err != nil {
			return err
		}
		return m.ConfirmTOTP(domain.TOTPStep(base), codes, base)
	})
	if err != nil {
		t.Fatalf("enrol TOTP: %v", err)
	}
	return codes
}

// MFARepository runs the contract of ports.MFARepository and of
// ports.WebAuthnChallenges.
func MFARepository(t *testing.T, newRepos func(t *testing.T) Repos) {
	t.Helper()
	ctx := context.Background()

	t.Run("a user without factors", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-none")
		m, err := r.MFA.ByUser(ctx, u.ID())
		if err != nil {
			t.Fatal(err)
		}
		if m.Enabled() || m.UserHandle() != nil || m.UserID() != u.ID() || !m.Owner().Active {
			t.Errorf("empty MFA: enabled=%v handle=%x user=%d owner=%+v", m.Enabled(), m.UserHandle(), m.UserID(), m.Owner())
		}
		if s, err := r.MFA.Summary(ctx, u.ID()); err != nil || s != (domain.MFASummary{}) {
			t.Errorf("Summary = %+v, %v", s, err)
		}
		if _, err := r.MFA.ByUser(ctx, u.ID()+1000); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("ByUser(unknown) = %v", err)
		}
		if err := r.MFA.Update(ctx, u.ID()+1000, func(*domain.MFA) error { return nil }); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("Update(unknown) = %v", err)
		}
	})

	t.Run("TOTP and recovery codes round trip", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-totp")
		secret := domain.SealedSecret{KeyID: "k1", Ciphertext: []byte{0, 1, 2, 255}}
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.StartTOTP(secret, base) }); err != nil {
			t.Fatal(err)
		}
		m, _ := r.MFA.ByUser(ctx, u.ID())
		if got, ok := m.PendingTOTPSecret(); !ok || !cmp.Equal(got, secret) {
			t.Fatalf("pending secret = %+v, %v", got, ok)
		}
		codes := mfaCodes(t)
		step := domain.TOTPStep(base)
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.ConfirmTOTP(step, codes, base) }); err != nil {
			t.Fatal(err)
		}
		if s, _ := r.MFA.Summary(ctx, u.ID()); s != (domain.MFASummary{TOTP: true, RecoveryCodesLeft: 10}) {
			t.Errorf("Summary = %+v", s)
		}
		m, _ = r.MFA.ByUser(ctx, u.ID())
		rec := m.Record()
		if rec.TOTP == nil || rec.TOTP.LastStep != step || !cmp.Equal(rec.TOTP.Secret, secret) {
			t.Fatalf("TOTP = %+v", rec.TOTP)
		}
		sameTime(t, "confirmed at", rec.TOTP.ConfirmedAt, base)
		// A later step is stored; the same one is refused after the reload.
		later := base.Add(30 * time.Second)
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.AcceptTOTP(step+1, later) }); err != nil {
			t.Fatal(err)
		}
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.AcceptTOTP(step+1, later) }); !errors.Is(err, domain.ErrInvalidSecondFactor) {
			t.Errorf("a step accepted twice: %v", err)
		}
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			return m.UseRecoveryCode(func(d domain.CodeDigest) bool { return d == codes[3] }, later)
		}); err != nil {
			t.Fatal(err)
		}
		m, _ = r.MFA.ByUser(ctx, u.ID())
		if m.RecoveryCodesLeft() != 9 {
			t.Errorf("%d codes left after one was used", m.RecoveryCodesLeft())
		}
		if err := m.UseRecoveryCode(func(d domain.CodeDigest) bool { return d == codes[3] }, later); !errors.Is(err, domain.ErrInvalidSecondFactor) {
			t.Errorf("a used code loaded as unused: %v", err)
		}
		fresh := mfaCodes(t)
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.ReplaceRecoveryCodes(fresh, later) }); err != nil {
			t.Fatal(err)
		}
		m, _ = r.MFA.ByUser(ctx, u.ID())
		var got []domain.CodeDigest
		for _, c := range m.Record().RecoveryCodes {
			got = append(got, c.Digest)
		}
		if len(got) != 10 || m.RecoveryCodesLeft() != 10 {
			t.Fatalf("after regeneration: %d codes, %d unused", len(got), m.RecoveryCodesLeft())
		}
		for _, c := range got {
			if c == codes[0] {
				t.Error("an old code survived the regeneration")
			}
		}
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.RemoveTOTP(base, uuid.Nil) }); err != nil {
			t.Fatal(err)
		}
		if s, _ := r.MFA.Summary(ctx, u.ID()); s != (domain.MFASummary{}) {
			t.Errorf("after removal: %+v", s)
		}
	})

	t.Run("a recovery code and a TOTP step are accepted once under concurrency", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-race")
		codes := enrolTOTP(t, r.MFA, u.ID())
		later := base.Add(30 * time.Second)
		for name, use := range map[string]func(m *domain.MFA) error{
			"recovery code": func(m *domain.MFA) error {
				return m.UseRecoveryCode(func(d domain.CodeDigest) bool { return d == codes[0] }, later)
			},
			"TOTP step": func(m *domain.MFA) error { return m.AcceptTOTP(domain.TOTPStep(later), later) },
		} {
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					err := r.MFA.Update(ctx, u.ID(), use)
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, domain.ErrInvalidSecondFactor):
						t.Errorf("%s: %v", name, err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Errorf("%s accepted %d times, want once", name, wins.Load())
			}
		}
	})

	t.Run("passkeys round trip", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-pk")
		other := mustCreate(t, r.Users, "mfa-pk-other")
		cred := testCredential(t, true)
		id := uuid.New()
		var handle []byte
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			if err := m.EnsureUserHandle(rand.Reader); err != nil {
				return err
			}
			handle = m.UserHandle()
			_, err := m.AddPasskey(id, cred, "Laptop", base)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		m, _ := r.MFA.ByUser(ctx, u.ID())
		if !bytes.Equal(m.UserHandle(), handle) || len(handle) == 0 {
			t.Fatalf("user handle %x, want %x", m.UserHandle(), handle)
		}
		p, err := m.Passkey(id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cred, p.Credential()); diff != "" {
			t.Errorf("stored credential (-want +got):\n%s", diff)
		}
		sameTime(t, "created at", p.CreatedAt(), base)
		if p.Name() != "Laptop" || !p.LastUsedAt().IsZero() {
			t.Errorf("name %q, last used %s", p.Name(), p.LastUsedAt())
		}
		// The same credential for another user is refused.
		if err := r.MFA.Update(ctx, other.ID(), func(m *domain.MFA) error {
			_, err := m.AddPasskey(uuid.New(), cred, "stolen", base)
			return err
		}); !errors.Is(err, domain.ErrPasskeyExists) {
			t.Errorf("a credential registered twice: %v", err)
		}
		if s, _ := r.MFA.Summary(ctx, other.ID()); s.Passkeys != 0 {
			t.Error("the refused registration was stored")
		}
		used := base.Add(time.Hour)
		if err := r.MFA.UpdateByUserHandle(ctx, handle, func(m *domain.MFA) error {
			if _, err := m.RenamePasskey(id, "Work laptop"); err != nil {
				return err
			}
			_, err := m.UsePasskey(domain.PasskeyAssertion{CredentialID: cred.ID, SignCount: 9, BackupState: false}, used)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		m, _ = r.MFA.ByUser(ctx, u.ID())
		p, _ = m.Passkey(id)
		if p.Name() != "Work laptop" || p.SignCount() != 9 || p.Credential().BackupState {
			t.Errorf("after use: name %q count %d backup %v", p.Name(), p.SignCount(), p.Credential().BackupState)
		}
		sameTime(t, "last used", p.LastUsedAt(), used)
		if err := r.MFA.UpdateByUserHandle(ctx, []byte("no such handle"), func(*domain.MFA) error { return nil }); !errors.Is(err, domain.ErrPasskeyNotFound) {
			t.Errorf("unknown handle: %v", err)
		}
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { _, err := m.RemovePasskey(id, base, uuid.Nil); return err }); err != nil {
			t.Fatal(err)
		}
		if s, _ := r.MFA.Summary(ctx, u.ID()); s.Passkeys != 0 {
			t.Errorf("after removal: %+v", s)
		}
		// Once removed, the credential may be registered again.
		if err := r.MFA.Update(ctx, other.ID(), func(m *domain.MFA) error {
			_, err := m.AddPasskey(uuid.New(), cred, "moved", base)
			return err
		}); err != nil {
			t.Errorf("a removed credential registered again: %v", err)
		}
	})

	t.Run("refusals are stored with their events and mails", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-refusal")
		cred := testCredential(t, false)
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			_, err := m.AddPasskey(uuid.New(), cred, "key", base)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("refused")
		err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			_, err := m.UsePasskey(domain.PasskeyAssertion{CredentialID: cred.ID, SignCount: 1}, base)
			if !errors.Is(err, domain.ErrPasskeyCounterRegressed) {
				t.Errorf("UsePasskey = %v", err)
			}
			m.Audit(domain.AuthEvent{Type: domain.EventPasskeyCounterRegressed, UserID: u.ID(), At: base})
			m.Send(domain.OutgoingMail{To: domain.MailToUser(0), Template: domain.MailMFARemoved, Content: content("clone"), At: base})
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("Update = %v, want fn's error", err)
		}
		evs, _ := r.Audit.List(ctx, ports.AuditQuery{UserID: u.ID()})
		if len(evs) != 1 || evs[0].Type != domain.EventPasskeyCounterRegressed {
			t.Errorf("events after a refusal: %+v", evs)
		}
		if r.Outbox != nil {
			claimed := mustClaim(t, r.Outbox, base.Add(time.Minute), time.Minute, 10)
			if len(claimed) != 1 || claimed[0].To != u.Email().String() || claimed[0].Template != domain.MailMFARemoved {
				t.Errorf("mail after a refusal: %+v", claimed)
			}
		}
		m, _ := r.MFA.ByUser(ctx, u.ID())
		if p, _ := m.PasskeyByCredential(cred.ID); p.SignCount() != 3 {
			t.Errorf("the refused counter was stored: %d", p.SignCount())
		}
	})

	t.Run("pending logins", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-login")
		enrolTOTP(t, r.MFA, u.ID())
		_, hash, _ := domain.NewMFAToken(rand.Reader)
		client := domain.NewClientInfo("agent", "192.0.2.7")
		l := domain.NewPendingLogin(hash, u, u.Email(), client, base)
		if err := r.MFA.CreateLogin(ctx, l); err != nil {
			t.Fatal(err)
		}
		ghost := domain.RehydrateUser(domain.UserRecord{ID: u.ID() + 1000, Email: u.Email()})
		_, h2, _ := domain.NewMFAToken(rand.Reader)
		if err := r.MFA.CreateLogin(ctx, domain.NewPendingLogin(h2, ghost, u.Email(), client, base)); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("a pending login of an unknown user: %v", err)
		}
		got, err := r.MFA.Login(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l.Record(), got.Record(), cmp.Comparer(func(a, b domain.ClientInfo) bool { return a.Equal(b) }), cmp.Comparer(func(a, b domain.Email) bool { return a == b }),
			cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("stored pending login (-want +got):\n%s", diff)
		}
		if _, err := r.MFA.Login(ctx, h2); !errors.Is(err, domain.ErrInvalidMFAToken) {
			t.Errorf("unknown digest: %v", err)
		}
		// Failures are stored although the attempt fails.
		for range 2 {
			err := r.MFA.UpdateLogin(ctx, hash, func(l *domain.PendingLogin, m *domain.MFA) error {
				if !m.TOTPConfirmed() || m.UserID() != u.ID() {
					t.Error("UpdateLogin loaded another user's factors")
				}
				return l.Fail(base)
			})
			if !errors.Is(err, domain.ErrInvalidSecondFactor) {
				t.Fatalf("UpdateLogin = %v", err)
			}
		}
		got, _ = r.MFA.Login(ctx, hash)
		if got.Failures() != 2 {
			t.Errorf("failures stored: %d, want 2", got.Failures())
		}
		// Concurrent completions: one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				err := r.MFA.UpdateLogin(ctx, hash, func(l *domain.PendingLogin, m *domain.MFA) error {
					if err := l.Complete(base.Add(time.Second)); err != nil {
						return err
					}
					return m.AcceptTOTP(domain.TOTPStep(base)+1, base.Add(30*time.Second))
				})
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, domain.ErrInvalidMFAToken):
					t.Errorf("UpdateLogin: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("a pending login completed %d times", wins.Load())
		}
		if err := r.MFA.UpdateLogin(ctx, h2, func(*domain.PendingLogin, *domain.MFA) error { return nil }); !errors.Is(err, domain.ErrInvalidMFAToken) {
			t.Errorf("UpdateLogin(unknown) = %v", err)
		}
		n, err := r.MFA.PruneLogins(ctx, base.Add(domain.MFATokenTTL+time.Second))
		if err != nil || n != 1 {
			t.Errorf("PruneLogins = %d, %v; want 1", n, err)
		}
		if _, err := r.MFA.Login(ctx, hash); !errors.Is(err, domain.ErrInvalidMFAToken) {
			t.Errorf("a pruned login: %v", err)
		}
	})

	t.Run("WebAuthn challenges are answered once", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-challenge")
		chal := "c-" + uniq(t) + uniq(t)
		c := domain.NewWebAuthnChallenge(chal, domain.CeremonyRegistration, u.ID(), domain.TokenHash{}, []byte(`{"state":1}`), base)
		if err := r.Challenges.Save(ctx, c); err != nil {
			t.Fatal(err)
		}
		var login domain.TokenHash
		login[5] = 9
		pl := domain.NewWebAuthnChallenge("p-"+uniq(t), domain.CeremonySecondFactor, u.ID(), login, []byte("s"), base)
		anon := domain.NewWebAuthnChallenge("a-"+uniq(t), domain.CeremonyPasswordless, 0, domain.TokenHash{}, []byte("s"), base)
		for _, x := range []domain.WebAuthnChallenge{pl, anon} {
			if err := r.Challenges.Save(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				got, err := r.Challenges.Take(ctx, chal)
				switch {
				case err == nil:
					wins.Add(1)
					if diff := cmp.Diff(c.Record(), got.Record(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
						t.Errorf("taken challenge (-want +got):\n%s", diff)
					}
				case !errors.Is(err, domain.ErrWebAuthnChallengeInvalid):
					t.Errorf("Take: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("a challenge was taken %d times", wins.Load())
		}
		got, err := r.Challenges.Take(ctx, pl.Challenge())
		if err != nil || got.Answers(domain.CeremonySecondFactor, u.ID(), login, base) != nil {
			t.Errorf("second-factor challenge: %v / %+v", err, got.Record())
		}
		n, err := r.Challenges.Prune(ctx, base.Add(domain.WebAuthnChallengeTTL+time.Second))
		if err != nil || n != 1 {
			t.Errorf("Prune = %d, %v; want 1 (the passwordless one)", n, err)
		}
		if _, err := r.Challenges.Take(ctx, anon.Challenge()); !errors.Is(err, domain.ErrWebAuthnChallengeInvalid) {
			t.Errorf("a pruned challenge: %v", err)
		}
	})

	t.Run("an admin reset removes every factor", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-reset")
		enrolTOTP(t, r.MFA, u.ID())
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			_, err := m.AddPasskey(uuid.New(), testCredential(t, false), "k", base)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			if !m.Reset(base) {
				t.Error("Reset found nothing")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if s, _ := r.MFA.Summary(ctx, u.ID()); s != (domain.MFASummary{}) {
			t.Errorf("after reset: %+v", s)
		}
	})

	t.Run("removing a factor ends the other sessions and a reset every one, in the same transaction", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-ends")
		enrolTOTP(t, r.MFA, u.ID())
		pk := uuid.New()
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			_, err := m.AddPasskey(pk, testCredential(t, false), "k", base)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		keep, _ := mustFamily(t, r.Families, u, base)
		mustFamily(t, r.Families, u, base)
		now := base.Add(time.Minute)
		epoch := func() int64 {
			t.Helper()
			stored, err := r.Users.ByID(ctx, u.ID())
			if err != nil {
				t.Fatal(err)
			}
			return stored.SessionEpoch()
		}
		before := epoch()
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { return m.RemoveTOTP(now, keep) }); err != nil {
			t.Fatal(err)
		}
		checkFamilies(t, mustListLive(t, r.Families, u.ID(), now), keep)
		if after := epoch(); after != before+1 {
			t.Errorf("session epoch after removing TOTP = %d, want %d", after, before+1)
		}
		// A login that read the user before the removal cannot open a session.
		if _, err := createFamily(ctx, r.Families, u, now); !errors.Is(err, ports.ErrOwnerChanged) {
			t.Errorf("opening a session with the user as read before the removal: %v, want ErrOwnerChanged", err)
		}
		fresh, err := r.Users.ByID(ctx, u.ID())
		if err != nil {
			t.Fatal(err)
		}
		other, _ := mustFamily(t, r.Families, fresh, now)
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error {
			_, err := m.RemovePasskey(pk, now, other)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		checkFamilies(t, mustListLive(t, r.Families, u.ID(), now), other)

		// A reset ends every session; when that fails, nothing is removed.
		v := mustCreate(t, r.Users, "mfa-reset-ends")
		enrolTOTP(t, r.MFA, v.ID())
		fv, _ := mustFamily(t, r.Families, v, base)
		r.BreakSessionEnds(t)
		if err := r.MFA.Update(ctx, v.ID(), func(m *domain.MFA) error { m.Reset(now); return nil }); err == nil {
			t.Fatal("a reset succeeded although the sessions could not be ended")
		}
		if s, _ := r.MFA.Summary(ctx, v.ID()); !s.TOTP {
			t.Errorf("after the failed reset: %+v, want TOTP kept", s)
		}
		checkFamilies(t, mustListLive(t, r.Families, v.ID(), now), fv)
	})

	t.Run("an admin reset ends every session", func(t *testing.T) {
		t.Parallel()
		r := newRepos(t)
		u := mustCreate(t, r.Users, "mfa-reset-all")
		enrolTOTP(t, r.MFA, u.ID())
		mustFamily(t, r.Families, u, base)
		mustFamily(t, r.Families, u, base)
		now := base.Add(time.Minute)
		if err := r.MFA.Update(ctx, u.ID(), func(m *domain.MFA) error { m.Reset(now); return nil }); err != nil {
			t.Fatal(err)
		}
		if live := mustListLive(t, r.Families, u.ID(), now); len(live) != 0 {
			t.Errorf("live sessions after an MFA reset = %d, want 0", len(live))
		}
	})
}
