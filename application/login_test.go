package application_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"authd/adapters/jwt"
	"authd/application"
	"authd/domain"
)

func TestLoginOpensSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "dave@example.com", goodPassword)
	client := domain.NewClientInfo("Firefox/140", "198.51.100.9")

	tp, err := f.login().Do(t.Context(), application.LoginInput{Email: " DAVE@example.com", Password: goodPassword, Client: client})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}

	if tp.UserID != u.ID() || tp.SessionID == uuid.Nil || tp.ExpiresIn != jwt.DefaultTTL {
		t.Errorf("token pair = user %d, session %s, expires in %s; want user %d, a session, %s",
			tp.UserID, tp.SessionID, tp.ExpiresIn, u.ID(), jwt.DefaultTTL)
	}
	if !domain.LooksLikeRefreshSecret(tp.RefreshToken) {
		t.Errorf("refresh token %q does not look like a refresh secret", tp.RefreshToken)
	}
	p := f.principal(t, tp)
	if diff := cmp.Diff(domain.AccessGrant{UserID: u.ID(), SessionID: tp.SessionID, Role: domain.RoleUser},
		domain.AccessGrant{UserID: p.UserID, SessionID: p.SessionID, Role: p.Role}); diff != "" {
		t.Errorf("access token claims (-want +got):\n%s", diff)
	}
	if !p.ExpiresAt.Equal(t0.Add(jwt.DefaultTTL)) {
		t.Errorf("access token expires %s, want %s", p.ExpiresAt, t0.Add(jwt.DefaultTTL))
	}

	fs, err := f.families.ListLive(t.Context(), u.ID(), t0)
	if err != nil || len(fs) != 1 {
		t.Fatalf("live families = %d (%v), want 1", len(fs), err)
	}
	fam := fs[0]
	if fam.ID() != tp.SessionID || fam.Client() != client || !fam.CreatedAt().Equal(t0) ||
		!fam.ExpiresAt().Equal(t0.Add(domain.DefaultSessionPolicy.MaxLifetime)) {
		t.Errorf("stored family = id %s client %+v created %s ends %s", fam.ID(), fam.Client(), fam.CreatedAt(), fam.ExpiresAt())
	}

	es := f.events(t, u.ID())
	last := es[len(es)-1]
	want := domain.AuthEvent{ID: last.ID, Type: domain.EventLoginSucceeded, UserID: u.ID(), SessionID: tp.SessionID,
		Client: client, At: t0}
	if diff := cmp.Diff(want, last); diff != "" {
		t.Errorf("last audit event (-want +got):\n%s", diff)
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	const email = "erin@example.com"
	tests := []struct {
		name     string
		email    string
		password string
		inactive bool
		wantErr  error
		// wantCalls counts Hash, Verify and VerifyDummy calls.
		wantCalls [3]int64
		// wantFailedEvent: a login_failed event is recorded.
		wantFailedEvent bool
	}{
		{
			name: "unknown email costs one dummy verification", email: "nobody@example.com", password: goodPassword,
			wantErr: domain.ErrInvalidCredentials, wantCalls: [3]int64{0, 0, 1}, wantFailedEvent: true,
		},
		{
			name: "wrong password", email: email, password: otherPassword,
			wantErr: domain.ErrInvalidCredentials, wantCalls: [3]int64{0, 1, 0}, wantFailedEvent: true,
		},
		{
			name: "password differing only in case", email: email, password: strings.ToUpper(goodPassword),
			wantErr: domain.ErrInvalidCredentials, wantCalls: [3]int64{0, 1, 0}, wantFailedEvent: true,
		},
		{
			name: "malformed email is not looked up", email: "erin@", password: goodPassword,
			wantErr: domain.ErrInvalidCredentials,
		},
		{
			name: "password over 512 bytes is not hashed", email: email, password: strings.Repeat("p", domain.MaxPasswordBytes+1),
			wantErr: domain.ErrInvalidCredentials,
		},
		{
			name: "password over 128 characters is not hashed", email: email, password: strings.Repeat("p", domain.MaxPasswordRunes+1),
			wantErr: domain.ErrInvalidCredentials,
		},
		{
			name: "inactive user with the right password", email: email, password: goodPassword, inactive: true,
			wantErr: domain.ErrAccountDisabled, wantCalls: [3]int64{0, 1, 0}, wantFailedEvent: true,
		},
		{
			name: "inactive user with a wrong password", email: email, password: otherPassword, inactive: true,
			wantErr: domain.ErrInvalidCredentials, wantCalls: [3]int64{0, 1, 0}, wantFailedEvent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u := f.mustRegister(t, email, goodPassword)
			if tt.inactive {
				f.setActive(t, u.ID(), false)
			}
			before := f.hasher.calls()

			tp, err := f.login().Do(t.Context(), application.LoginInput{
				Email: tt.email, Password: tt.password, Client: domain.NewClientInfo("", "192.0.2.50"),
			})

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Login: %v, want %v", err, tt.wantErr)
			}
			if tp != (application.TokenPair{}) {
				t.Errorf("a refused login returned tokens: %+v", tp)
			}
			got := f.hasher.calls()
			for i := range got {
				got[i] -= before[i]
			}
			if got != tt.wantCalls {
				t.Errorf("hasher calls (hash, verify, dummy) = %v, want %v", got, tt.wantCalls)
			}
			if s := f.liveSessions(t, u.ID()); len(s) != 0 {
				t.Errorf("a refused login opened %d sessions", len(s))
			}
			types := f.eventTypes(t, 0)
			if slices.Contains(types, domain.EventLoginSucceeded) {
				t.Error("login_succeeded recorded for a refused login")
			}
			if got := slices.Contains(types, domain.EventLoginFailed); got != tt.wantFailedEvent {
				t.Errorf("login_failed recorded = %v, want %v (events %v)", got, tt.wantFailedEvent, types)
			}
		})
	}
}

func TestLoginFailedEventNamesKnownUserOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.mustRegister(t, "frank@example.com", goodPassword)
	client := domain.NewClientInfo("bot", "203.0.113.99")
	for _, email := range []string{"frank@example.com", "ghost@example.com"} {
		if _, err := f.login().Do(t.Context(), application.LoginInput{Email: email, Password: otherPassword, Client: client}); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("login %s: %v", email, err)
		}
	}
	var failed []domain.AuthEvent
	for _, e := range f.events(t, 0) {
		if e.Type == domain.EventLoginFailed {
			e.ID = 0
			failed = append(failed, e)
		}
	}
	want := []domain.AuthEvent{
		{Type: domain.EventLoginFailed, UserID: u.ID(), Client: client, At: t0},
		{Type: domain.EventLoginFailed, UserID: 0, Client: client, At: t0},
	}
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("login_failed events (-want +got):\n%s", diff)
	}
}

func TestLoginUpgradesOutdatedHash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := cheapParams
	old.Memory = 32
	oldHasher := mustHasher(old)
	reg := application.NewRegister(f.users, oldHasher, sharedCommon(), application.NoLimits, f.env)
	u, err := reg.Do(t.Context(), application.RegisterInput{Email: "ivy@example.com", Password: goodPassword})
	if err != nil {
		t.Fatalf("register with old parameters: %v", err)
	}
	oldHash := u.PasswordHash()
	if !strings.Contains(oldHash, "m=32,") {
		t.Fatalf("old hash %q was not made with m=32", oldHash)
	}

	f.mustLogin(t, "ivy@example.com", goodPassword, domain.ClientInfo{})

	newHash := f.storedUser(t, u.ID()).PasswordHash()
	if newHash == oldHash {
		t.Fatal("hash was not upgraded")
	}
	ok, rehash, err := sharedHasher().Verify(t.Context(), goodPassword, newHash)
	if err != nil || !ok || rehash {
		t.Errorf("upgraded hash %q: ok=%v needsRehash=%v err=%v; want it current and matching", newHash, ok, rehash, err)
	}
	if got := f.hasher.hashes.Load(); got != 1 {
		t.Errorf("Hash called %d times, want 1 (the upgrade)", got)
	}

	// A current hash is left alone.
	f.mustLogin(t, "ivy@example.com", goodPassword, domain.ClientInfo{})
	if got := f.storedUser(t, u.ID()).PasswordHash(); got != newHash || f.hasher.hashes.Load() != 1 {
		t.Error("a current hash was replaced on the next login")
	}
}

func TestLoginKeepsOutdatedHashOfRefusedLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := cheapParams
	old.Time = 2
	reg := application.NewRegister(f.users, mustHasher(old), sharedCommon(), application.NoLimits, f.env)
	u, err := reg.Do(t.Context(), application.RegisterInput{Email: "jack@example.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pw       string
		inactive bool
		wantErr  error
	}{
		{otherPassword, false, domain.ErrInvalidCredentials},
		{goodPassword, true, domain.ErrAccountDisabled},
	} {
		f.setActive(t, u.ID(), !tt.inactive)
		if _, err := f.login().Do(t.Context(), application.LoginInput{Email: "jack@example.com", Password: tt.pw}); !errors.Is(err, tt.wantErr) {
			t.Fatalf("login: %v, want %v", err, tt.wantErr)
		}
	}
	if got := f.storedUser(t, u.ID()).PasswordHash(); got != u.PasswordHash() {
		t.Error("the hash was replaced although no login succeeded")
	}
}
