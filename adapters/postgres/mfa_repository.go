package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"authd/domain"
	"authd/ports"
)

var _ ports.MFARepository = (*MFARepository)(nil)

// MFARepository stores each user's second factors in mfa_enrolments (the
// TOTP secret, sealed, and the WebAuthn user handle), mfa_recovery_codes
// (keyed digests) and webauthn_credentials, and the logins waiting for a
// second factor in pending_logins (by mfa_token digest).
//
// A change runs in one transaction: one statement locks the user's row
// (FOR NO KEY UPDATE), which serialises the changes to one user's factors,
// the next loads all of their factors (aggregated as JSON), then one
// statement per kind of change writes what the domain decided.
type MFARepository struct {
	db *bun.DB
	// summary backs GET /v1/users/me, so it is prepared.
	summary *preparedStmt
}

// NewMFARepository returns an MFARepository on db.
func NewMFARepository(db *bun.DB) *MFARepository {
	return &MFARepository{db: db, summary: newPreparedStmt(db.DB, mfaSummarySQL)}
}

// mfaLoadSQL loads a user's MFA; %s is the condition on u, and a locking
// clause may follow. Binary columns travel through JSON as base64.
const mfaLoadSQL = `SELECT u.id, u.role::text, u.is_active, u.session_epoch,
	e.webauthn_user_handle, e.totp_secret, e.totp_key_id, e.totp_created_at, e.totp_confirmed_at, coalesce(e.totp_last_step, 0),
	coalesce((SELECT json_agg(json_build_object('key_id', c.key_id, 'digest', encode(c.digest, 'base64'),
		'created_at', c.created_at, 'used_at', c.used_at) ORDER BY c.created_at, c.digest)
		FROM mfa_recovery_codes AS c WHERE c.user_id = u.id), '[]'),
	coalesce((SELECT json_agg(json_build_object('id', p.id, 'credential_id', encode(p.credential_id, 'base64'),
		'public_key', encode(p.public_key, 'base64'), 'sign_count', p.sign_count, 'aaguid', encode(p.aaguid, 'base64'),
		'transports', p.transports, 'attestation_type', p.attestation_type, 'attestation_format', p.attestation_format,
		'backup_eligible', p.backup_eligible, 'backup_state', p.backup_state, 'user_verified', p.user_verified,
		'attachment', p.attachment, 'name', p.name, 'created_at', p.created_at, 'last_used_at', p.last_used_at)
		ORDER BY p.created_at, p.id)
		FROM webauthn_credentials AS p WHERE p.user_id = u.id), '[]')
	FROM users AS u LEFT JOIN mfa_enrolments AS e ON e.user_id = u.id
	WHERE %s`

// mfaSummarySQL counts a user's factors: three index lookups, one round trip.
const mfaSummarySQL = `SELECT
	coalesce((SELECT totp_confirmed_at IS NOT NULL FROM mfa_enrolments WHERE user_id = $1::bigint), false),
	(SELECT count(*) FROM webauthn_credentials WHERE user_id = $1::bigint),
	(SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1::bigint AND used_at IS NULL)`

type codeJSON struct {
	KeyID     string     `json:"key_id"`
	Digest    []byte     `json:"digest"`
	CreatedAt time.Time  `json:"created_at"`
	UsedAt    *time.Time `json:"used_at"`
}

type passkeyJSON struct {
	ID                uuid.UUID  `json:"id"`
	CredentialID      []byte     `json:"credential_id"`
	PublicKey         []byte     `json:"public_key"`
	SignCount         int64      `json:"sign_count"`
	AAGUID            []byte     `json:"aaguid"`
	Transports        []string   `json:"transports"`
	AttestationType   string     `json:"attestation_type"`
	AttestationFormat string     `json:"attestation_format"`
	BackupEligible    bool       `json:"backup_eligible"`
	BackupState       bool       `json:"backup_state"`
	UserVerified      bool       `json:"user_verified"`
	Attachment        string     `json:"attachment"`
	Name              string     `json:"name"`
	CreatedAt         time.Time  `json:"created_at"`
	LastUsedAt        *time.Time `json:"last_used_at"`
}

// rowQuerier runs a query with $n parameters that answers one row: a
// *sql.DB or a *sql.Tx (bun's own handles would rewrite the parameters).
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadMFA runs mfaLoadSQL on q with where and args; notFound is what no
// row means.
func loadMFA(ctx context.Context, q rowQuerier, where string, notFound error, args ...any) (*domain.MFA, error) {
	var (
		rec                            domain.MFARecord
		id, epoch, lastStep            int64
		role                           string
		active                         bool
		handle, secret                 []byte
		keyID                          sql.NullString
		created, confirmed             sql.NullTime
		codesJSON, passkeysJSONEncoded []byte
	)
	err := q.QueryRowContext(ctx, fmt.Sprintf(mfaLoadSQL, where), args...).Scan(&id, &role, &active, &epoch,
		&handle, &secret, &keyID, &created, &confirmed, &lastStep, &codesJSON, &passkeysJSONEncoded)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, dbErr("load second factors", err)
	}
	r, err := domain.ParseRole(role)
	if err != nil {
		return nil, fmt.Errorf("postgres: user %d has an unknown role %q", id, role)
	}
	rec.User = domain.UserID(id)
	rec.Owner = domain.Owner{ID: rec.User, Role: r, Active: active, SessionEpoch: epoch}
	rec.UserHandle = handle
	if secret != nil {
		rec.TOTP = &domain.TOTPRecord{
			Secret:    domain.SealedSecret{KeyID: keyID.String, Ciphertext: secret},
			CreatedAt: created.Time, ConfirmedAt: confirmed.Time, LastStep: lastStep,
		}
	}
	var codes []codeJSON
	if err := json.Unmarshal(codesJSON, &codes); err != nil {
		return nil, fmt.Errorf("postgres: recovery codes of user %d: %w", id, err)
	}
	for _, c := range codes {
		d := domain.CodeDigest{KeyID: c.KeyID}
		if len(c.Digest) != len(d.Sum) {
			return nil, fmt.Errorf("postgres: a recovery code digest of user %d has %d bytes", id, len(c.Digest))
		}
		copy(d.Sum[:], c.Digest)
		rec.RecoveryCodes = append(rec.RecoveryCodes, domain.RecoveryCodeRecord{Digest: d, CreatedAt: c.CreatedAt, UsedAt: deref(c.UsedAt)})
	}
	var passkeys []passkeyJSON
	if err := json.Unmarshal(passkeysJSONEncoded, &passkeys); err != nil {
		return nil, fmt.Errorf("postgres: passkeys of user %d: %w", id, err)
	}
	for _, p := range passkeys {
		rec.Passkeys = append(rec.Passkeys, domain.PasskeyRecord{
			ID: p.ID,
			Credential: domain.PasskeyCredential{
				ID: p.CredentialID, PublicKey: p.PublicKey, SignCount: uint32(p.SignCount), AAGUID: p.AAGUID,
				Transports: p.Transports, AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
				BackupEligible: p.BackupEligible, BackupState: p.BackupState, UserVerified: p.UserVerified, Attachment: p.Attachment,
			},
			SignCount: uint32(p.SignCount), Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: deref(p.LastUsedAt),
		})
	}
	return domain.RehydrateMFA(rec), nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// ByUser returns the MFA of the user with id, or domain.ErrUserNotFound.
func (r *MFARepository) ByUser(ctx context.Context, id domain.UserID) (*domain.MFA, error) {
	return loadMFA(ctx, r.db.DB, "u.id = $1", domain.ErrUserNotFound, int64(id))
}

// Summary counts the second factors of the user with id in one prepared
// statement.
func (r *MFARepository) Summary(ctx context.Context, id domain.UserID) (domain.MFASummary, error) {
	stmt, err := r.summary.get(ctx)
	if err != nil {
		return domain.MFASummary{}, dbErr("count second factors", err)
	}
	var s domain.MFASummary
	if err := stmt.QueryRowContext(ctx, int64(id)).Scan(&s.TOTP, &s.Passkeys, &s.RecoveryCodesLeft); err != nil {
		return domain.MFASummary{}, dbErr("count second factors", err)
	}
	return s, nil
}

// Update locks the user with id, applies fn to its MFA and stores what it
// decided, even when fn fails.
func (r *MFARepository) Update(ctx context.Context, id domain.UserID, fn func(m *domain.MFA) error) error {
	return r.update(ctx, "u.id = $1", domain.ErrUserNotFound, int64(id), fn)
}

// UpdateByUserHandle is Update for the user whose WebAuthn user handle is
// handle; domain.ErrPasskeyNotFound when there is none.
func (r *MFARepository) UpdateByUserHandle(ctx context.Context, handle []byte, fn func(m *domain.MFA) error) error {
	if len(handle) == 0 {
		return domain.ErrPasskeyNotFound
	}
	return r.update(ctx, "u.id = (SELECT user_id FROM mfa_enrolments WHERE webauthn_user_handle = $1)", domain.ErrPasskeyNotFound, handle, fn)
}

func (r *MFARepository) update(ctx context.Context, where string, notFound error, arg any, fn func(m *domain.MFA) error) error {
	var fnErr error
	return r.inTx(ctx, "update second factors", func(ctx context.Context, tx bun.Tx) error {
		id, err := lockFactors(ctx, tx, where, notFound, arg)
		if err != nil {
			return err
		}
		m, err := loadMFA(ctx, tx.Tx, "u.id = $1", notFound, id)
		if err != nil {
			return err
		}
		fnErr = fn(m)
		return writeMFA(ctx, tx, m)
	}, &fnErr)
}

// lockFactors takes the lock that serialises the changes to one user's
// factors, the user's row FOR NO KEY UPDATE, and returns the user's id.
// It is a statement of its own: in READ COMMITTED, a statement that waited
// for a lock sees the locked row as it is now but everything else as it
// was when the statement began, so the factors are read by the next one.
func lockFactors(ctx context.Context, tx bun.Tx, where string, notFound error, arg any) (int64, error) {
	var id int64
	err := tx.Tx.QueryRowContext(ctx, "SELECT u.id FROM users AS u WHERE "+where+" FOR NO KEY UPDATE", arg).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound
	}
	if err != nil {
		return 0, dbErr("lock second factors", err)
	}
	return id, nil
}

// inTx runs body in a transaction and returns body's error, the
// transaction's own, or else *result: an error that leaves the
// transaction's writes committed (fn's refusal, decided and stored).
func (r *MFARepository) inTx(ctx context.Context, op string, body func(context.Context, bun.Tx) error, result *error) error {
	var inner error
	err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		inner = body(ctx, tx)
		return inner
	})
	switch {
	case inner != nil:
		return inner
	case err != nil: // BEGIN or COMMIT failed
		return dbErr(op, err)
	}
	return *result
}

// writeMFA stores the decisions of m inside tx; nothing to do when it
// changed nothing.
func writeMFA(ctx context.Context, tx bun.Tx, m *domain.MFA) error {
	if !m.Changed() {
		return nil
	}
	uid := int64(m.UserID())
	rec := m.Record()
	if m.HandleCreated() || m.TOTPChanged() {
		var secret []byte
		var keyID, created, confirmed any
		var step int64
		if t := rec.TOTP; t != nil {
			secret, keyID, created, confirmed, step = t.Secret.Ciphertext, t.Secret.KeyID, t.CreatedAt, nullTime(t.ConfirmedAt), t.LastStep
		}
		var handle any
		if rec.UserHandle != nil {
			handle = rec.UserHandle
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_enrolments (user_id, webauthn_user_handle, totp_secret, totp_key_id,
			totp_created_at, totp_confirmed_at, totp_last_step, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, now())
			ON CONFLICT (user_id) DO UPDATE SET webauthn_user_handle = EXCLUDED.webauthn_user_handle,
			totp_secret = EXCLUDED.totp_secret, totp_key_id = EXCLUDED.totp_key_id, totp_created_at = EXCLUDED.totp_created_at,
			totp_confirmed_at = EXCLUDED.totp_confirmed_at, totp_last_step = EXCLUDED.totp_last_step, updated_at = now()`,
			uid, handle, secret, keyID, created, confirmed, step); err != nil {
			return dbErr("store TOTP", err)
		}
	}
	if m.RecoveryCodesReplaced() {
		if _, err := tx.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = ?", uid); err != nil {
			return dbErr("replace recovery codes", err)
		}
		if len(rec.RecoveryCodes) > 0 {
			rows := make([]recoveryCodeRow, len(rec.RecoveryCodes))
			for i, c := range rec.RecoveryCodes {
				rows[i] = recoveryCodeRow{UserID: uid, Digest: c.Digest.Sum[:], KeyID: c.Digest.KeyID, CreatedAt: c.CreatedAt, UsedAt: c.UsedAt}
			}
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return dbErr("store recovery codes", err)
			}
		}
	} else if c, ok := m.RecoveryCodeUsed(); ok {
		if _, err := tx.ExecContext(ctx, "UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND digest = ? AND used_at IS NULL",
			c.UsedAt, uid, c.Digest.Sum[:]); err != nil {
			return dbErr("spend recovery code", err)
		}
	}
	if removed := m.PasskeysRemoved(); len(removed) > 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM webauthn_credentials WHERE user_id = ? AND id IN (?)", uid, bun.List(removed)); err != nil {
			return dbErr("remove passkeys", err)
		}
	}
	if added := m.PasskeysAdded(); len(added) > 0 {
		rows := make([]passkeyRow, len(added))
		for i, p := range added {
			rows[i] = fromDomainPasskey(uid, p)
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			if isUniqueViolation(err, "webauthn_credentials_credential_id_key") {
				return domain.ErrPasskeyExists
			}
			return dbErr("store passkeys", err)
		}
	}
	for _, p := range m.PasskeysUpdated() {
		if _, err := tx.ExecContext(ctx, "UPDATE webauthn_credentials SET name = ?, sign_count = ?, backup_state = ?, last_used_at = ? WHERE user_id = ? AND id = ?",
			p.Name(), int64(p.SignCount()), p.Credential().BackupState, nullTime(p.LastUsedAt()), uid, p.ID()); err != nil {
			return dbErr("update passkey", err)
		}
	}
	if end, ok := m.EndsSessions(); ok {
		// The epoch moves on as for a user change (see User.EndsSessions): no
		// login that read the user before this change opens a session after it.
		if _, err := tx.ExecContext(ctx, "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?", uid); err != nil {
			return dbErr("move the session epoch on", err)
		}
		if _, err := endFamilies(ctx, tx, uid, end.At, end.Except); err != nil {
			return err
		}
	}
	if err := insertEvents(ctx, tx, m.AuditEvents()); err != nil {
		return err
	}
	return insertMails(ctx, tx, m.Mails(), uid)
}

func fromDomainPasskey(uid int64, p domain.Passkey) passkeyRow {
	c := p.Credential()
	transports := c.Transports
	if transports == nil {
		transports = []string{}
	}
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	return passkeyRow{
		ID: p.ID(), UserID: uid, CredentialID: c.ID, PublicKey: c.PublicKey, SignCount: int64(p.SignCount()),
		AAGUID: aaguid, Transports: transports, AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		BackupEligible: c.BackupEligible, BackupState: c.BackupState, UserVerified: c.UserVerified, Attachment: c.Attachment,
		Name: p.Name(), CreatedAt: p.CreatedAt(), LastUsedAt: p.LastUsedAt(),
	}
}

const pendingLoginColumns = "token, user_id, account, session_epoch, user_agent, ip, created_at, expires_at, used_at, failures"

// CreateLogin stores a new pending login, or returns
// domain.ErrUserNotFound when its user does not exist.
func (r *MFARepository) CreateLogin(ctx context.Context, l *domain.PendingLogin) error {
	rec := l.Record()
	_, err := r.db.DB.ExecContext(ctx, "INSERT INTO pending_logins ("+pendingLoginColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		rec.Hash.String(), int64(rec.User), rec.Account.String(), rec.SessionEpoch, rec.Client.UserAgent(), rec.Client.IP(),
		rec.CreatedAt, rec.ExpiresAt, nullTime(rec.UsedAt), rec.Failures)
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("postgres: pending login: %w", domain.ErrUserNotFound)
	case err != nil:
		return dbErr("store pending login", err)
	}
	return nil
}

func loadLogin(ctx context.Context, q rowQuerier, hash domain.TokenHash, lock string) (*domain.PendingLogin, error) {
	var row pendingLoginRow
	var used sql.NullTime
	err := q.QueryRowContext(ctx, "SELECT "+pendingLoginColumns+" FROM pending_logins WHERE token = $1"+lock, hash.String()).
		Scan(&row.Token, &row.UserID, &row.Account, &row.SessionEpoch, &row.UserAgent, &row.IP, &row.CreatedAt, &row.ExpiresAt, &used, &row.Failures)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrInvalidMFAToken
	}
	if err != nil {
		return nil, dbErr("load pending login", err)
	}
	return domain.RehydratePendingLogin(domain.PendingLoginRecord{
		Hash: hash, User: domain.UserID(row.UserID), Account: domain.RehydrateEmail(row.Account), SessionEpoch: row.SessionEpoch,
		Client: domain.NewClientInfo(row.UserAgent, row.IP), CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt,
		UsedAt: used.Time, Failures: row.Failures,
	}), nil
}

// Login returns the pending login whose mfa_token digest is hash, or
// domain.ErrInvalidMFAToken.
func (r *MFARepository) Login(ctx context.Context, hash domain.TokenHash) (*domain.PendingLogin, error) {
	return loadLogin(ctx, r.db.DB, hash, "")
}

// UpdateLogin locks the pending login and its user's MFA, applies fn and
// stores what both decided, even when fn fails.
func (r *MFARepository) UpdateLogin(ctx context.Context, hash domain.TokenHash, fn func(l *domain.PendingLogin, m *domain.MFA) error) error {
	var fnErr error
	return r.inTx(ctx, "complete pending login", func(ctx context.Context, tx bun.Tx) error {
		l, err := loadLogin(ctx, tx.Tx, hash, " FOR UPDATE")
		if err != nil {
			return err
		}
		id, err := lockFactors(ctx, tx, "u.id = $1", domain.ErrInvalidMFAToken, int64(l.UserID()))
		if err != nil {
			return err
		}
		m, err := loadMFA(ctx, tx.Tx, "u.id = $1", domain.ErrInvalidMFAToken, id)
		if err != nil {
			return err
		}
		fnErr = fn(l, m)
		if l.Changed() {
			rec := l.Record()
			if _, err := tx.ExecContext(ctx, "UPDATE pending_logins SET used_at = ?, failures = ? WHERE token = ?",
				nullTime(rec.UsedAt), rec.Failures, hash.String()); err != nil {
				return dbErr("store pending login", err)
			}
		}
		if err := insertEvents(ctx, tx, l.AuditEvents()); err != nil {
			return err
		}
		if err := insertMails(ctx, tx, l.Mails(), int64(l.UserID())); err != nil {
			return err
		}
		return writeMFA(ctx, tx, m)
	}, &fnErr)
}

// PruneLogins deletes the pending logins that expired before now.
func (r *MFARepository) PruneLogins(ctx context.Context, now time.Time) (int, error) {
	return pruneExpired(ctx, r.db, "pending_logins", "token", now)
}

// pruneExpired deletes, in batches, the rows of table (keyed by key) whose
// expires_at is before now, with the statement the Janitor runs too.
func pruneExpired(ctx context.Context, db *bun.DB, table, key string, now time.Time) (int, error) {
	return runPruneTask(ctx, db, expiredTask(table, key), now)
}

var _ ports.WebAuthnChallenges = (*WebAuthnChallenges)(nil)

// WebAuthnChallenges keeps WebAuthn ceremonies in webauthn_challenges
// (UNLOGGED: a crash only makes a ceremony start again).
type WebAuthnChallenges struct {
	db *bun.DB
}

// NewWebAuthnChallenges returns the challenge store on db.
func NewWebAuthnChallenges(db *bun.DB) *WebAuthnChallenges { return &WebAuthnChallenges{db: db} }

// Save stores c.
func (s *WebAuthnChallenges) Save(ctx context.Context, c domain.WebAuthnChallenge) error {
	rec := c.Record()
	var login any
	if rec.Login != (domain.TokenHash{}) {
		login = rec.Login.String()
	}
	_, err := s.db.DB.ExecContext(ctx, "INSERT INTO webauthn_challenges (challenge, kind, user_id, pending_login, state, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
		rec.Challenge, string(rec.Kind), nullID(int64(rec.User)), login, rec.State, rec.ExpiresAt)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("postgres: webauthn challenge: %w", domain.ErrUserNotFound)
	}
	if err != nil {
		return dbErr("store webauthn challenge", err)
	}
	return nil
}

// Take deletes the challenge and returns it, or
// domain.ErrWebAuthnChallengeInvalid when there is none.
func (s *WebAuthnChallenges) Take(ctx context.Context, challenge string) (domain.WebAuthnChallenge, error) {
	if challenge == "" || len(challenge) > 128 {
		return domain.WebAuthnChallenge{}, domain.ErrWebAuthnChallengeInvalid
	}
	var (
		kind    string
		user    sql.NullInt64
		login   sql.NullString
		state   []byte
		expires time.Time
	)
	err := s.db.DB.QueryRowContext(ctx, "DELETE FROM webauthn_challenges WHERE challenge = $1 RETURNING kind, user_id, pending_login, state, expires_at", challenge).
		Scan(&kind, &user, &login, &state, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.WebAuthnChallenge{}, domain.ErrWebAuthnChallengeInvalid
	}
	if err != nil {
		return domain.WebAuthnChallenge{}, dbErr("take webauthn challenge", err)
	}
	rec := domain.WebAuthnChallengeRecord{Challenge: challenge, Kind: domain.CeremonyKind(kind), User: domain.UserID(user.Int64), State: state, ExpiresAt: expires}
	if login.Valid {
		if rec.Login, err = domain.ParseTokenHash(login.String); err != nil {
			return domain.WebAuthnChallenge{}, fmt.Errorf("postgres: webauthn challenge: %w", err)
		}
	}
	return domain.RehydrateWebAuthnChallenge(rec), nil
}

// Prune deletes the challenges that expired before now.
func (s *WebAuthnChallenges) Prune(ctx context.Context, now time.Time) (int, error) {
	return pruneExpired(ctx, s.db, "webauthn_challenges", "challenge", now)
}
