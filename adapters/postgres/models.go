package postgres

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/domain"
)

// userRow is a row of users.
type userRow struct {
	bun.BaseModel `bun:"table:users"`

	ID             int64     `bun:"id,pk,identity,type:bigint"`
	Email          string    `bun:"email,type:varchar(255),notnull,unique"`
	HashedPassword string    `bun:"hashed_password,type:varchar(255),notnull"`
	Role           string    `bun:"role,type:userrole,notnull,default:'user'"`
	IsActive       bool      `bun:"is_active,type:boolean,notnull,default:true"`
	CreatedAt      time.Time `bun:"created_at,type:timestamptz,notnull,default:now()"`
	SessionEpoch   int64     `bun:"session_epoch,type:bigint,notnull,default:0"`
	// EmailVerifiedAt is NULL while the address is not verified.
	EmailVerifiedAt time.Time `bun:"email_verified_at,type:timestamptz,nullzero"`
}

// refreshTokenRow is a row of refresh_tokens. Token is the hex SHA-256
// digest of the token, never the token itself.
type refreshTokenRow struct {
	bun.BaseModel `bun:"table:refresh_tokens"`

	ID          int64     `bun:"id,pk,identity,type:bigint"`
	Token       string    `bun:"token,type:varchar(512),notnull,unique"`
	TokenFamily uuid.UUID `bun:"token_family,type:uuid,notnull"`
	UserID      int64     `bun:"user_id,type:bigint,notnull"`
	ExpiresAt   time.Time `bun:"expires_at,type:timestamptz,notnull"`
	RevokedAt   time.Time `bun:"revoked_at,type:timestamptz,nullzero"`
	CreatedAt   time.Time `bun:"created_at,type:timestamptz,notnull,default:now()"`
}

// familyRow is a row of token_families: one login session.
type familyRow struct {
	bun.BaseModel `bun:"table:token_families"`

	ID         uuid.UUID `bun:"id,pk,type:uuid"`
	UserID     int64     `bun:"user_id,type:bigint,notnull"`
	CreatedAt  time.Time `bun:"created_at,type:timestamptz,notnull,default:now()"`
	LastUsedAt time.Time `bun:"last_used_at,type:timestamptz,notnull,default:now()"`
	ExpiresAt  time.Time `bun:"expires_at,type:timestamptz,notnull"`
	RevokedAt  time.Time `bun:"revoked_at,type:timestamptz,nullzero"`
	UserAgent  string    `bun:"user_agent,type:varchar(512),notnull,default:''"`
	IP         string    `bun:"ip,type:varchar(64),notnull,default:''"`
	Version    int64     `bun:"version,type:bigint,notnull,default:0"`
	AMR        []string  `bun:"amr,type:text[],notnull,default:'{}',array"`
}

// authEventRow is a row of auth_events.
type authEventRow struct {
	bun.BaseModel `bun:"table:auth_events"`

	ID        int64             `bun:"id,pk,identity,type:bigint"`
	Type      string            `bun:"type,type:varchar(64),notnull"`
	UserID    int64             `bun:"user_id,type:bigint,nullzero"`
	SessionID uuid.UUID         `bun:"session_id,type:uuid,nullzero"`
	IP        string            `bun:"ip,type:varchar(64),notnull,default:''"`
	UserAgent string            `bun:"user_agent,type:varchar(512),notnull,default:''"`
	CreatedAt time.Time         `bun:"created_at,type:timestamptz,notnull,default:now()"`
	ActorID   int64             `bun:"actor_id,type:bigint,nullzero"`
	Detail    map[string]string `bun:"detail,type:jsonb,notnull,default:'{}'"`
}

// limitCounterRow is a row of limit_counters (UNLOGGED): the recent counted
// attempts of one key of one limit.
type limitCounterRow struct {
	bun.BaseModel `bun:"table:limit_counters"`

	Scope        string      `bun:"scope,pk,type:varchar(16)"`
	Key          string      `bun:"key,pk,type:varchar(320)"`
	Hits         []time.Time `bun:"hits,type:timestamptz[],notnull,array"`
	RefusedUntil time.Time   `bun:"refused_until,type:timestamptz,nullzero"`
	ExpiresAt    time.Time   `bun:"expires_at,type:timestamptz,notnull"`
}

// knownIPRow is a row of known_ips: an IP key that logged in to an account.
type knownIPRow struct {
	bun.BaseModel `bun:"table:known_ips"`

	Account     string    `bun:"account,pk,type:varchar(255)"`
	IP          string    `bun:"ip,pk,type:varchar(64)"`
	SucceededAt time.Time `bun:"succeeded_at,type:timestamptz,notnull"`
}

// mailOutboxRow is a row of mail_outbox. The subject and bodies are
// cleared once the mail is sent or given up.
type mailOutboxRow struct {
	bun.BaseModel `bun:"table:mail_outbox"`

	ID            int64     `bun:"id,pk,identity,type:bigint"`
	MessageID     uuid.UUID `bun:"message_id,type:uuid,notnull,default:gen_random_uuid()"`
	UserID        int64     `bun:"user_id,type:bigint,nullzero"`
	Recipient     string    `bun:"recipient,type:varchar(255),notnull"`
	Template      string    `bun:"template,type:varchar(64),notnull"`
	Subject       string    `bun:"subject,type:text,notnull,default:''"`
	TextBody      string    `bun:"text_body,type:text,notnull,default:''"`
	HTMLBody      string    `bun:"html_body,type:text,notnull,default:''"`
	Status        string    `bun:"status,type:mail_status,notnull,default:'pending'"`
	Attempts      int       `bun:"attempts,type:integer,notnull,default:0"`
	NextAttemptAt time.Time `bun:"next_attempt_at,type:timestamptz,notnull,default:now()"`
	LeasedUntil   time.Time `bun:"leased_until,type:timestamptz,nullzero"`
	LeaseID       uuid.UUID `bun:"lease_id,type:uuid,nullzero"`
	LastError     string    `bun:"last_error,type:varchar(500),notnull,default:''"`
	CreatedAt     time.Time `bun:"created_at,type:timestamptz,notnull,default:now()"`
	SentAt        time.Time `bun:"sent_at,type:timestamptz,nullzero"`
	FailedAt      time.Time `bun:"failed_at,type:timestamptz,nullzero"`
}

// oneTimeTokenRow is a row of one_time_tokens. TokenHash is the hex
// SHA-256 digest of the token, never the token itself.
type oneTimeTokenRow struct {
	bun.BaseModel `bun:"table:one_time_tokens"`

	ID        int64     `bun:"id,pk,identity,type:bigint"`
	TokenHash string    `bun:"token_hash,type:varchar(64),notnull,unique"`
	Purpose   string    `bun:"purpose,type:one_time_token_purpose,notnull"`
	UserID    int64     `bun:"user_id,type:bigint,notnull"`
	Email     string    `bun:"email,type:varchar(255),notnull"`
	SessionID uuid.UUID `bun:"session_id,type:uuid,nullzero"`
	CreatedAt time.Time `bun:"created_at,type:timestamptz,notnull,default:now()"`
	ExpiresAt time.Time `bun:"expires_at,type:timestamptz,notnull"`
	UsedAt    time.Time `bun:"used_at,type:timestamptz,nullzero"`
}

// The states of a mail_outbox row.
const (
	mailPending = "pending"
	mailSent    = "sent"
	mailFailed  = "failed"
)

// The schema the models declare, which CheckSchema compares with the
// migrated database: the row structs' tags give the tables (columns, types,
// nullability, defaults, identity, primary and unique keys), and the two
// lists below what bun's tags cannot say. Every other table, index or enum
// type of the schema is drift.
var (
	// schemaModels holds a nil pointer to the row struct of every table.
	schemaModels = []any{
		(*userRow)(nil),
		(*refreshTokenRow)(nil),
		(*familyRow)(nil),
		(*authEventRow)(nil),
		(*limitCounterRow)(nil),
		(*knownIPRow)(nil),
		(*mailOutboxRow)(nil),
		(*mfaEnrolmentRow)(nil),
		(*recoveryCodeRow)(nil),
		(*passkeyRow)(nil),
		(*pendingLoginRow)(nil),
		(*webAuthnChallengeRow)(nil),
		(*oneTimeTokenRow)(nil),
	}

	// schemaEnums are the enum types the columns use.
	schemaEnums = []schemaEnum{
		{name: "userrole", labels: []string{domain.RoleUser.String(), domain.RoleAdmin.String()}},
		{name: "mail_status", labels: []string{mailPending, mailSent, mailFailed}},
		{name: "one_time_token_purpose", labels: tokenPurposeLabels()},
	}

	// schemaIndexes are the indexes beyond primary keys and unique constraints.
	schemaIndexes = []schemaIndex{
		{model: (*refreshTokenRow)(nil), name: "ix_refresh_tokens_token_family", columns: []string{"token_family"}},
		{model: (*refreshTokenRow)(nil), name: "ix_refresh_tokens_user_id", columns: []string{"user_id"}},
		{model: (*refreshTokenRow)(nil), name: "ix_refresh_tokens_expires_at", columns: []string{"expires_at"}},
		{model: (*familyRow)(nil), name: "ix_token_families_user_id_created_at", columns: []string{"user_id", "created_at DESC"}},
		{model: (*authEventRow)(nil), name: "ix_auth_events_user_id_id", columns: []string{"user_id", "id"}},
		{model: (*limitCounterRow)(nil), name: "ix_limit_counters_expires_at", columns: []string{"expires_at"}},
		{model: (*knownIPRow)(nil), name: "ix_known_ips_succeeded_at", columns: []string{"succeeded_at"}},
		{model: (*mailOutboxRow)(nil), name: "ix_mail_outbox_due", columns: []string{"next_attempt_at"}, where: "status = 'pending'"},
		{model: (*familyRow)(nil), name: "ix_token_families_expires_at", columns: []string{"expires_at"}},
		{model: (*familyRow)(nil), name: "ix_token_families_revoked_at", columns: []string{"revoked_at"}, where: "revoked_at IS NOT NULL"},
		{model: (*authEventRow)(nil), name: "ix_auth_events_created_at", columns: []string{"created_at"}},
		{model: (*mailOutboxRow)(nil), name: "ix_mail_outbox_done", columns: []string{"created_at"}, where: "status <> 'pending'"},
		{model: (*passkeyRow)(nil), name: "ix_webauthn_credentials_user_id", columns: []string{"user_id", "created_at"}},
		{model: (*pendingLoginRow)(nil), name: "ix_pending_logins_expires_at", columns: []string{"expires_at"}},
		{model: (*webAuthnChallengeRow)(nil), name: "ix_webauthn_challenges_expires_at", columns: []string{"expires_at"}},
		{model: (*oneTimeTokenRow)(nil), name: "ix_one_time_tokens_user_id_purpose", columns: []string{"user_id", "purpose"}},
		{model: (*oneTimeTokenRow)(nil), name: "ix_one_time_tokens_done_at", columns: []string{doneAtSQL}},
	}
)

// schemaEnum is a PostgreSQL enum type and its labels in order.
type schemaEnum struct {
	name   string
	labels []string
}

// schemaIndex is an index on the table of model, a nil row struct pointer.
// columns are SQL key expressions: a column name, optionally followed by
// DESC; where, when set, makes it a partial index.
type schemaIndex struct {
	model   any
	name    string
	columns []string
	unique  bool
	where   string
}

func toDomainUser(r *userRow) (*domain.User, error) {
	// Stored as it was normalised when written: a row written under older
	// rules must still load (see domain.RehydrateEmail).
	email := domain.RehydrateEmail(r.Email)
	role, err := domain.ParseRole(r.Role)
	if err != nil {
		return nil, fmt.Errorf("postgres: user %d has an unknown role %q", r.ID, r.Role)
	}
	return domain.RehydrateUser(domain.UserRecord{
		ID:           domain.UserID(r.ID),
		Email:        email,
		PasswordHash: r.HashedPassword,
		Role:         role,
		Active:       r.IsActive,
		CreatedAt:    r.CreatedAt,
		SessionEpoch: r.SessionEpoch,

		EmailVerifiedAt: r.EmailVerifiedAt,
	}), nil
}

func fromDomainUser(u *domain.User) *userRow {
	rec := u.Record()
	return &userRow{
		ID:             int64(rec.ID),
		Email:          rec.Email.String(),
		HashedPassword: rec.PasswordHash,
		Role:           rec.Role.String(),
		IsActive:       rec.Active,
		CreatedAt:      rec.CreatedAt,
		SessionEpoch:   rec.SessionEpoch,

		EmailVerifiedAt: rec.EmailVerifiedAt,
	}
}

// familyOwnerRow is a family joined with its user's role and active flag,
// and, when loaded through a token, that token.
type familyOwnerRow struct {
	familyRow `bun:",extend"`

	Role         string `bun:"role"`
	IsActive     bool   `bun:"is_active"`
	SessionEpoch int64  `bun:"session_epoch"`

	TokenID        int64     `bun:"t_id"`
	TokenHash      string    `bun:"t_token"`
	TokenExpiresAt time.Time `bun:"t_expires_at"`
	TokenRevokedAt time.Time `bun:"t_revoked_at"`
	TokenCreatedAt time.Time `bun:"t_created_at"`
}

func toDomainFamily(r *familyOwnerRow, withToken bool) (*domain.Family, error) {
	role, err := domain.ParseRole(r.Role)
	if err != nil {
		return nil, fmt.Errorf("postgres: user %d has an unknown role %q", r.UserID, r.Role)
	}
	rec := domain.FamilyRecord{
		ID:         r.ID,
		Owner:      domain.Owner{ID: domain.UserID(r.UserID), Role: role, Active: r.IsActive, SessionEpoch: r.SessionEpoch},
		CreatedAt:  r.CreatedAt,
		LastUsedAt: r.LastUsedAt,
		ExpiresAt:  r.ExpiresAt,
		RevokedAt:  r.RevokedAt,
		Client:     domain.NewClientInfo(r.UserAgent, r.IP),
		Version:    r.Version,
		AMR:        domain.RehydrateAuthMethods(r.AMR),
	}
	if !withToken {
		return domain.RehydrateFamily(rec, nil), nil
	}
	hash, err := domain.ParseTokenHash(r.TokenHash)
	if err != nil {
		return nil, fmt.Errorf("postgres: refresh token %d: %w", r.TokenID, err)
	}
	t := domain.RehydrateRefreshToken(r.TokenID, hash, r.TokenExpiresAt, r.TokenRevokedAt, r.TokenCreatedAt)
	return domain.RehydrateFamily(rec, &t), nil
}

func fromDomainFamily(f *domain.Family) *familyRow {
	return &familyRow{
		ID:         f.ID(),
		UserID:     int64(f.UserID()),
		CreatedAt:  f.CreatedAt(),
		LastUsedAt: f.LastUsedAt(),
		ExpiresAt:  f.ExpiresAt(),
		RevokedAt:  f.RevokedAt(),
		UserAgent:  f.Client().UserAgent(),
		IP:         f.Client().IP(),
		Version:    f.Version(),
		AMR:        f.AuthMethods().Strings(),
	}
}

func toDomainEvent(r *authEventRow) domain.AuthEvent {
	if len(r.Detail) == 0 {
		r.Detail = nil // as it was recorded
	}
	return domain.AuthEvent{
		ID:        r.ID,
		Type:      domain.EventType(r.Type),
		UserID:    domain.UserID(r.UserID),
		ActorID:   domain.UserID(r.ActorID),
		SessionID: r.SessionID,
		Client:    domain.NewClientInfo(r.UserAgent, r.IP),
		Detail:    r.Detail,
		At:        r.CreatedAt,
	}
}

func fromDomainEvent(e domain.AuthEvent) *authEventRow {
	return &authEventRow{
		Type:      string(e.Type),
		UserID:    int64(e.UserID),
		ActorID:   int64(e.ActorID),
		SessionID: e.SessionID,
		IP:        e.Client.IP(),
		UserAgent: e.Client.UserAgent(),
		Detail:    e.Detail,
		CreatedAt: e.At,
	}
}
