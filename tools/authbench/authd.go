package main

import (
	"context"
	"crypto/rand"
	"os"
	"time"

	"authd/adapters/jwt"
	"authd/adapters/postgres"
	"authd/application"
	"authd/domain"
)

// rotateFunc presents a refresh token and returns its successor.
type rotateFunc func(ctx context.Context, secret string) (string, error)

// newInProcessRefresh builds the part of authd that the in-process refresh
// phase runs: the Refresh use case on the PostgreSQL adapter with the
// server's pool settings, signing access tokens with the key in keyFile.
// It is the one place where the benchmark assembles authd's application
// and adapters; closeDB releases the connection pool.
func newInProcessRefresh(ctx context.Context, dsn, keyFile string) (rotate rotateFunc, closeDB func() error, err error) {
	db, err := postgres.Open(dsn, postgres.DefaultPoolOptions())
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	key, err := jwt.LoadPrivateKey(pemBytes)
	if err != nil {
		return nil, nil, err
	}
	issuer, err := jwt.New(jwt.Config{PrivateKey: key, Issuer: "http://authbench", Audience: "authd"})
	if err != nil {
		return nil, nil, err
	}
	uc := application.New(application.Deps{
		Users:    postgres.NewUserRepository(db),
		Families: postgres.NewFamilyRepository(db),
		Audit:    postgres.NewAuditLog(db),
		Tokens:   issuer,
		Clock:    systemClock{},
		Random:   rand.Reader,
		Policy:   domain.DefaultSessionPolicy,
		Limiter:  application.NoLimits,
	}).Refresh
	if err = db.PingContext(ctx); err != nil {
		return nil, nil, err
	}
	client := domain.NewClientInfo("authbench", "127.0.0.1")
	return func(ctx context.Context, secret string) (string, error) {
		tp, err := uc.Do(ctx, application.RefreshInput{RefreshToken: secret, Client: client})
		return tp.RefreshToken, err
	}, db.Close, nil
}

// systemClock is the real clock.
type systemClock struct{}

// Now returns the current time.
func (systemClock) Now() time.Time { return time.Now() }
