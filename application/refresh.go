package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"authd/domain"
	"authd/ports"
)

// RefreshInput is a refresh request as received.
type RefreshInput struct {
	RefreshToken string
	Client       domain.ClientInfo
}

// Refresh rotates a refresh token.
type Refresh struct {
	families ports.FamilyRepository
	tokens   ports.AccessTokenIssuer
	policy   domain.SessionPolicy
	env      Env
}

// NewRefresh returns the Refresh use case.
func NewRefresh(families ports.FamilyRepository, tokens ports.AccessTokenIssuer, policy domain.SessionPolicy, env Env) *Refresh {
	return &Refresh{families: families, tokens: tokens, policy: policy, env: env}
}

// Do exchanges the presented refresh token for its successor and a new
// access token.
//
// It returns domain.ErrInvalidRefreshToken for unknown or expired tokens and
// ended sessions, domain.ErrRefreshTokenReused (the session is then ended and
// stays ended) when the token had already been rotated, and
// domain.ErrAccountDisabled (the session is ended) when the user is inactive.
func (uc *Refresh) Do(ctx context.Context, in RefreshInput) (TokenPair, error) {
	if !domain.LooksLikeRefreshSecret(in.RefreshToken) {
		return TokenPair{}, domain.ErrInvalidRefreshToken
	}
	now := uc.env.now()
	secret, next, err := domain.NewRefreshSecret(uc.env.random)
	if err != nil {
		return TokenPair{}, fmt.Errorf("refresh: %w", err)
	}
	var owner domain.Owner
	var sid uuid.UUID
	var amr domain.AuthMethods
	err = uc.families.UpdateByToken(ctx, domain.HashRefreshToken(in.RefreshToken), func(f *domain.Family) error {
		owner, sid, amr = f.Owner(), f.ID(), f.AuthMethods()
		err := f.Rotate(next, now, uc.policy)
		if errors.Is(err, domain.ErrRefreshTokenReused) {
			f.Audit(eventFor(domain.EventRefreshReused, owner.ID, sid, in.Client, now))
			uc.env.notify(ctx, f, domain.MailToUser(owner.ID), domain.MailRefreshTokenReused, ports.MailData{Client: in.Client, At: now})
		}
		return err
	})
	if err != nil {
		return TokenPair{}, fmt.Errorf("refresh: %w", err)
	}
	access, ttl, err := uc.tokens.Issue(domain.AccessGrant{UserID: owner.ID, SessionID: sid, Role: owner.Role, AMR: amr}, now)
	if err != nil {
		return TokenPair{}, fmt.Errorf("refresh: %w", err)
	}
	return TokenPair{AccessToken: access, ExpiresIn: ttl, RefreshToken: secret, SessionID: sid, UserID: owner.ID}, nil
}
