package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"authd/domain"
)

var (
	t0     = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	policy = domain.SessionPolicy{TokenTTL: 14 * 24 * time.Hour, MaxLifetime: 90 * 24 * time.Hour}
	owner  = domain.Owner{ID: 7, Role: domain.RoleUser, Active: true}
)

func hash(s string) domain.TokenHash { return domain.HashRefreshToken(s) }

// loaded returns the family as a repository would rebuild it after storing
// f, looked up through the token with hash h.
func loaded(t *testing.T, f *domain.Family, tok domain.RefreshToken) *domain.Family {
	t.Helper()
	return domain.RehydrateFamily(domain.FamilyRecord{
		ID: f.ID(), Owner: f.Owner(), CreatedAt: f.CreatedAt(), LastUsedAt: f.LastUsedAt(),
		ExpiresAt: f.ExpiresAt(), RevokedAt: f.RevokedAt(), Client: f.Client(), Version: f.Version() + 1,
	}, &tok)
}

func TestNewFamilyIssuesFirstToken(t *testing.T) {
	t.Parallel()
	f := domain.NewFamily(uuid.New(), owner, hash("a"), domain.NewClientInfo("ua", "127.0.0.1"), t0, policy)
	tok, ok := f.Issued()
	if !ok || tok.Hash() != hash("a") {
		t.Fatalf("first token not issued: %v %v", ok, tok)
	}
	if !tok.ExpiresAt().Equal(t0.Add(policy.TokenTTL)) {
		t.Errorf("token expires %v, want %v", tok.ExpiresAt(), t0.Add(policy.TokenTTL))
	}
	if !f.ExpiresAt().Equal(t0.Add(policy.MaxLifetime)) {
		t.Errorf("session ends %v, want %v", f.ExpiresAt(), t0.Add(policy.MaxLifetime))
	}
	if !f.IsLive(t0) || f.IsLive(t0.Add(policy.MaxLifetime)) {
		t.Error("liveness wrong")
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	active := owner
	inactive := owner
	inactive.Active = false
	later := t0.Add(time.Hour)
	tests := []struct {
		name      string
		owner     domain.Owner
		revoked   bool // presented token already rotated
		ended     bool // session already ended
		now       time.Time
		wantErr   error
		wantEnded bool
	}{
		{name: "current token rotates", owner: active, now: later},
		{name: "rotated token is reuse and ends the session", owner: active, revoked: true, now: later, wantErr: domain.ErrRefreshTokenReused, wantEnded: true},
		{name: "ended session", owner: active, ended: true, now: later, wantErr: domain.ErrInvalidRefreshToken},
		{name: "rotated token of an ended session is just invalid", owner: active, revoked: true, ended: true, now: later, wantErr: domain.ErrInvalidRefreshToken},
		{name: "expired token", owner: active, now: t0.Add(policy.TokenTTL), wantErr: domain.ErrInvalidRefreshToken},
		{name: "session past its absolute end", owner: active, now: t0.Add(policy.MaxLifetime), wantErr: domain.ErrInvalidRefreshToken},
		{name: "inactive owner ends the session", owner: inactive, now: later, wantErr: domain.ErrAccountDisabled, wantEnded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var revokedAt, endedAt time.Time
			if tt.revoked {
				revokedAt = t0.Add(time.Minute)
			}
			if tt.ended {
				endedAt = t0.Add(2 * time.Minute)
			}
			tok := domain.RehydrateRefreshToken(1, hash("a"), t0.Add(policy.TokenTTL), revokedAt, t0)
			f := domain.RehydrateFamily(domain.FamilyRecord{
				ID: uuid.New(), Owner: tt.owner, CreatedAt: t0, LastUsedAt: t0,
				ExpiresAt: t0.Add(policy.MaxLifetime), RevokedAt: endedAt, Version: 3,
			}, &tok)
			err := f.Rotate(hash("b"), tt.now, policy)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Rotate() = %v, want %v", err, tt.wantErr)
			}
			if f.Ended() != tt.wantEnded {
				t.Errorf("Ended() = %v, want %v", f.Ended(), tt.wantEnded)
			}
			next, issued := f.Issued()
			if issued != (tt.wantErr == nil) || f.Rotated() != (tt.wantErr == nil) {
				t.Fatalf("issued=%v rotated=%v after err %v", issued, f.Rotated(), err)
			}
			if tt.wantErr == nil {
				if next.Hash() != hash("b") || !next.ExpiresAt().Equal(tt.now.Add(policy.TokenTTL)) {
					t.Errorf("successor = %+v", next)
				}
				if p, _ := f.Presented(); !p.IsRevoked() {
					t.Error("presented token not revoked")
				}
				if !f.LastUsedAt().Equal(tt.now) {
					t.Errorf("LastUsedAt = %v", f.LastUsedAt())
				}
			}
		})
	}
}

func TestRotationNeverExtendsTheSession(t *testing.T) {
	t.Parallel()
	f := domain.NewFamily(uuid.New(), owner, hash("0"), domain.ClientInfo{}, t0, policy)
	var now time.Time
	tok, _ := f.Issued()
	capped := false
	for i := 1; !capped; i++ {
		if i > 100 {
			t.Fatal("the session never reached its absolute end")
		}
		now = tok.ExpiresAt().Add(-time.Hour)
		f = loaded(t, f, tok)
		if err := f.Rotate(hash(string(rune('a'+i))), now, policy); err != nil {
			t.Fatalf("rotation %d at %v: %v", i, now, err)
		}
		tok, _ = f.Issued()
		if tok.ExpiresAt().After(f.ExpiresAt()) {
			t.Fatalf("token expires %v after the session end %v", tok.ExpiresAt(), f.ExpiresAt())
		}
		if !f.ExpiresAt().Equal(t0.Add(policy.MaxLifetime)) {
			t.Fatalf("session end moved to %v", f.ExpiresAt())
		}
		capped = tok.ExpiresAt().Equal(f.ExpiresAt())
	}
	if err := loaded(t, f, tok).Rotate(hash("z"), f.ExpiresAt(), policy); !errors.Is(err, domain.ErrInvalidRefreshToken) {
		t.Fatalf("rotation at the absolute end = %v", err)
	}
}

func TestEndIsIdempotent(t *testing.T) {
	t.Parallel()
	f := domain.NewFamily(uuid.New(), owner, hash("a"), domain.ClientInfo{}, t0, policy)
	f.End(t0.Add(time.Minute))
	if !f.Ended() || f.IsLive(t0.Add(time.Minute)) {
		t.Fatal("End did not end the session")
	}
	if _, ok := f.Issued(); ok {
		t.Error("an ended family must not issue a token")
	}
	again := domain.RehydrateFamily(domain.FamilyRecord{ID: f.ID(), Owner: owner, ExpiresAt: f.ExpiresAt(), RevokedAt: f.RevokedAt()}, nil)
	again.End(t0.Add(time.Hour))
	if again.Ended() || again.Changed() || !again.RevokedAt().Equal(t0.Add(time.Minute)) {
		t.Error("ending an ended session changed it")
	}
}

func TestRotateWithoutPresentedToken(t *testing.T) {
	t.Parallel()
	f := domain.RehydrateFamily(domain.FamilyRecord{ID: uuid.New(), Owner: owner, ExpiresAt: t0.Add(time.Hour)}, nil)
	if err := f.Rotate(hash("b"), t0, policy); err == nil {
		t.Fatal("Rotate without a presented token succeeded")
	}
}

func TestRefreshSecret(t *testing.T) {
	t.Parallel()
	zero := make([]byte, 64)
	secret, h, err := domain.NewRefreshSecret(bytesReader(zero))
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || !domain.LooksLikeRefreshSecret(secret) {
		t.Fatalf("secret %q has the wrong shape", secret)
	}
	if h != domain.HashRefreshToken(secret) {
		t.Fatal("hash is not the digest of the secret")
	}
	parsed, err := domain.ParseTokenHash(h.String())
	if err != nil || parsed != h || len(h.String()) != 64 {
		t.Fatalf("hex round trip: %v %v", parsed, err)
	}
	for _, bad := range []string{"", "short", secret + "x", secret[:42] + "!", "zz" + h.String()[2:]} {
		if domain.LooksLikeRefreshSecret(bad) && bad != secret {
			t.Errorf("LooksLikeRefreshSecret(%q) = true", bad)
		}
	}
	if _, err := domain.ParseTokenHash("zz" + h.String()[2:]); err == nil {
		t.Error("ParseTokenHash accepted non-hex")
	}
	if _, _, err := domain.NewRefreshSecret(bytesReader(nil)); err == nil {
		t.Error("NewRefreshSecret succeeded without randomness")
	}
}

type bytesReader []byte

func (b bytesReader) Read(p []byte) (int, error) {
	if len(b) == 0 {
		return 0, errors.New("exhausted")
	}
	return copy(p, b), nil
}
