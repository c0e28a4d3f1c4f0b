package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var (
	_ gatehouse.TOTPStore         = (*MFAStore)(nil)
	_ gatehouse.RecoveryCodeStore = (*MFAStore)(nil)
	_ gatehouse.PasskeyStore      = (*MFAStore)(nil)
	_ gatehouse.MFAChallengeStore = (*MFAStore)(nil)
)

// MFAStore keeps what second factors need: users' TOTP authenticators
// (user_totp), recovery codes by hash (recovery_codes), passkeys
// (passkeys), and the logins waiting for a second factor, by the hash of
// their mfa_token (mfa_challenges). Every row belongs to a user: deleting
// the user deletes them (ON DELETE CASCADE), and naming a user that does
// not exist is CodeNotFound.
//
// The steps that must happen once (accepting a TOTP step, using a recovery
// code, taking a challenge) are each one conditional statement, so of two
// concurrent calls one fails. Byte slices are copied both ways: the store
// keeps none of the caller's, and hands out slices of its own.
//
// Expired challenges are invisible at once and take space until Sweep
// removes them.
type MFAStore struct {
	db *DB
}

// NewMFAStore returns an MFAStore on db.
func NewMFAStore(db *DB) *MFAStore { return &MFAStore{db: db} }

const totpColumns = `user_id, secret, confirmed_at, last_step, created_at`

// SaveTOTP implements gatehouse.TOTPStore, storing t as given. A zero
// CreatedAt is set from the DB's clock, a zero ConfirmedAt stays zero
// (unconfirmed). An unconfirmed TOTP of the user is replaced; a confirmed
// one is CodeConflict and stays.
func (s *MFAStore) SaveTOTP(ctx context.Context, t gatehouse.TOTP) error {
	const op = "save totp"
	created := pgTime(t.CreatedAt)
	if t.CreatedAt.IsZero() {
		created = s.db.now()
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	// The upsert's WHERE leaves a confirmed row alone, and then no row
	// changes: the check and the write are one statement.
	tag, err := c.Exec(ctx, `INSERT INTO user_totp (`+totpColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed_at = excluded.confirmed_at,
			last_step = excluded.last_step, created_at = excluded.created_at
		WHERE user_totp.confirmed_at IS NULL`,
		uuid(t.UserID), bytea(t.Secret), nullTime(t.ConfirmedAt), t.LastStep, created)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return gatehouse.Errorf(gatehouse.CodeConflict, "postgres: %s: user %s has a confirmed TOTP", op, t.UserID)
	}
	return nil
}

// FindTOTP implements gatehouse.TOTPStore: a user without one is
// CodeNotFound.
func (s *MFAStore) FindTOTP(ctx context.Context, userID gatehouse.ID) (*gatehouse.TOTP, error) {
	const op = "find totp"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	var (
		t         gatehouse.TOTP
		user      pgtype.UUID
		confirmed *time.Time
	)
	err = c.QueryRow(ctx, `SELECT `+totpColumns+` FROM user_totp WHERE user_id = $1`, uuid(userID)).
		Scan(&user, &t.Secret, &confirmed, &t.LastStep, &t.CreatedAt)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	t.UserID = user.Bytes
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	t.CreatedAt = t.CreatedAt.UTC()
	if confirmed != nil {
		t.ConfirmedAt = confirmed.UTC()
	}
	return &t, nil
}

// AcceptTOTPStep implements gatehouse.TOTPStore with one conditional
// UPDATE: it changes the row only if step is newer than last_step, so of
// concurrent calls with one step exactly one succeeds (the others wait for
// its row lock, then find the step taken) and the others get
// CodeConflict. ConfirmedAt, once set, is kept.
func (s *MFAStore) AcceptTOTPStep(ctx context.Context, userID gatehouse.ID, step int64, at time.Time) error {
	const op = "accept totp step"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	// The statement's snapshot tells whether the user has a TOTP at all,
	// which only decides the error's code.
	var accepted, exists bool
	err = c.QueryRow(ctx, `WITH accepted AS (
			UPDATE user_totp SET last_step = $2, confirmed_at = coalesce(confirmed_at, $3)
			WHERE user_id = $1 AND last_step < $2
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM accepted), EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1)`,
		uuid(userID), step, pgTime(at)).Scan(&accepted, &exists)
	switch {
	case err != nil:
		return s.db.fail(ctx, op, err)
	case accepted:
		return nil
	case exists:
		return gatehouse.Errorf(gatehouse.CodeConflict, "postgres: %s: step %d is not newer than the last accepted", op, step)
	default:
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
}

// DeleteTOTP implements gatehouse.TOTPStore.
func (s *MFAStore) DeleteTOTP(ctx context.Context, userID gatehouse.ID) error {
	const op = "delete totp"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `DELETE FROM user_totp WHERE user_id = $1`, uuid(userID)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// ReplaceRecoveryCodes implements gatehouse.RecoveryCodeStore in one
// transaction; concurrent calls for one user take turns. A hash given
// twice counts once. A user that does not exist is CodeNotFound, even
// with no hashes.
func (s *MFAStore) ReplaceRecoveryCodes(ctx context.Context, userID gatehouse.ID, hashes []string, at time.Time) error {
	const op = "replace recovery codes"
	hashes = unique(hashes)
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// FOR NO KEY UPDATE makes concurrent calls for the user take turns
	// without blocking rows that merely reference the user, whose foreign
	// key checks take FOR KEY SHARE.
	var one int
	err = tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, uuid(userID)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return gatehouse.Errorf(gatehouse.CodeNotFound, "postgres: %s: user %s not found", op, userID)
	}
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, uuid(userID)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at)
		SELECT $1::uuid, unnest($2::text[]), $3`, uuid(userID), hashes, pgTime(at)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// UseRecoveryCode implements gatehouse.RecoveryCodeStore with one DELETE:
// of concurrent uses of one code exactly one succeeds, the others getting
// CodeNotFound.
func (s *MFAStore) UseRecoveryCode(ctx context.Context, userID gatehouse.ID, hash string) error {
	const op = "use recovery code"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2`, uuid(userID), hash)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// CountRecoveryCodes implements gatehouse.RecoveryCodeStore. A user that
// does not exist has none.
func (s *MFAStore) CountRecoveryCodes(ctx context.Context, userID gatehouse.ID) (int, error) {
	const op = "count recovery codes"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, uuid(userID)).Scan(&n); err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return n, nil
}

const passkeyColumns = `id, user_id, name, credential_id, credential, created_at, last_used_at` // #nosec G101 -- column names, not a credential

// CreatePasskey implements gatehouse.PasskeyStore, storing p as given: the
// caller chooses the id. A zero CreatedAt is set from the DB's clock, a
// zero LastUsedAt stays zero (never used). An id or credential id in use
// is CodeConflict, a user that does not exist CodeNotFound.
func (s *MFAStore) CreatePasskey(ctx context.Context, p gatehouse.Passkey) error {
	const op = "create passkey"
	if p.ID.IsZero() {
		return fmt.Errorf("postgres: %s: zero id", op)
	}
	if len(p.CredentialID) == 0 {
		return fmt.Errorf("postgres: %s: empty credential id", op)
	}
	created := pgTime(p.CreatedAt)
	if p.CreatedAt.IsZero() {
		created = s.db.now()
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		uuid(p.ID), uuid(p.UserID), p.Name, p.CredentialID, bytea(p.Credential),
		created, nullTime(p.LastUsedAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// ListPasskeys implements gatehouse.PasskeyStore. Passkeys created at the
// same instant come in id order, so the order is stable. No passkeys is
// an empty, non-nil slice.
func (s *MFAStore) ListPasskeys(ctx context.Context, userID gatehouse.ID) ([]gatehouse.Passkey, error) {
	const op = "list passkeys"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE user_id = $1 ORDER BY created_at, id`, uuid(userID))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	keys := []gatehouse.Passkey{}
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		keys = append(keys, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return keys, nil
}

// FindPasskey implements gatehouse.PasskeyStore: an unknown credential id
// is CodeNotFound.
func (s *MFAStore) FindPasskey(ctx context.Context, credentialID []byte) (*gatehouse.Passkey, error) {
	const op = "find passkey"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	p, err := scanPasskey(c.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`,
		bytea(credentialID)))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return p, nil
}

// UsePasskey implements gatehouse.PasskeyStore: an unknown id is
// CodeNotFound.
func (s *MFAStore) UsePasskey(ctx context.Context, id gatehouse.ID, credential []byte, at time.Time) error {
	const op = "use passkey"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3`,
		bytea(credential), pgTime(at), uuid(id))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// DeletePasskey implements gatehouse.PasskeyStore: a passkey that is
// unknown, or belongs to another user, is CodeNotFound and stays.
func (s *MFAStore) DeletePasskey(ctx context.Context, userID, id gatehouse.ID) error {
	const op = "delete passkey"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, uuid(id), uuid(userID))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

func scanPasskey(row pgx.Row) (*gatehouse.Passkey, error) {
	var (
		p          gatehouse.Passkey
		id, userID pgtype.UUID
		lastUsed   *time.Time
	)
	if err := row.Scan(&id, &userID, &p.Name, &p.CredentialID, &p.Credential, &p.CreatedAt, &lastUsed); err != nil {
		return nil, err
	}
	p.ID, p.UserID = id.Bytes, userID.Bytes
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	p.CreatedAt = p.CreatedAt.UTC()
	if lastUsed != nil {
		p.LastUsedAt = lastUsed.UTC()
	}
	return &p, nil
}

const mfaChallengeColumns = `hash, user_id, backend, webauthn, created_at, expires_at`

// CreateMFAChallenge implements gatehouse.MFAChallengeStore. A zero
// CreatedAt is set from the DB's clock; ExpiresAt must be set. A hash in
// use is CodeConflict, a user that does not exist CodeNotFound.
func (s *MFAStore) CreateMFAChallenge(ctx context.Context, ch gatehouse.MFAChallenge) error {
	const op = "create mfa challenge"
	if ch.Hash == "" {
		return fmt.Errorf("postgres: %s: empty hash", op)
	}
	if ch.ExpiresAt.IsZero() {
		return fmt.Errorf("postgres: %s: zero expiry", op)
	}
	created := pgTime(ch.CreatedAt)
	if ch.CreatedAt.IsZero() {
		created = s.db.now()
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `INSERT INTO mfa_challenges (`+mfaChallengeColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		ch.Hash, uuid(ch.UserID), ch.Backend, nullBytea(ch.State), created, pgTime(ch.ExpiresAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindMFAChallenge implements gatehouse.MFAChallengeStore: a challenge
// whose ExpiresAt is not after now is CodeNotFound, as is an unknown hash.
func (s *MFAStore) FindMFAChallenge(ctx context.Context, hash string, now time.Time) (*gatehouse.MFAChallenge, error) {
	const op = "find mfa challenge"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	ch, err := scanMFAChallenge(c.QueryRow(ctx, `SELECT `+mfaChallengeColumns+` FROM mfa_challenges
		WHERE hash = $1 AND expires_at > $2`, hash, pgTime(now)))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return ch, nil
}

// SetMFAChallengeState implements gatehouse.MFAChallengeStore,
// replacing any data set before; empty data clears it. A challenge that is
// unknown or expired at now is CodeNotFound.
func (s *MFAStore) SetMFAChallengeState(ctx context.Context, hash string, data []byte, now time.Time) error {
	const op = "set mfa challenge state"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `UPDATE mfa_challenges SET webauthn = $1 WHERE hash = $2 AND expires_at > $3`,
		nullBytea(data), hash, pgTime(now))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// TakeMFAChallenge implements gatehouse.MFAChallengeStore with one
// DELETE ... RETURNING: of concurrent takes exactly one gets the challenge
// (the others wait for its row lock, then find the row gone). An expired
// challenge is CodeNotFound and left to Sweep.
func (s *MFAStore) TakeMFAChallenge(ctx context.Context, hash string, now time.Time) (*gatehouse.MFAChallenge, error) {
	const op = "take mfa challenge"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	ch, err := scanMFAChallenge(c.QueryRow(ctx, `DELETE FROM mfa_challenges
		WHERE hash = $1 AND expires_at > $2 RETURNING `+mfaChallengeColumns, hash, pgTime(now)))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return ch, nil
}

// Sweep deletes the MFA challenges that have expired by the DB's clock and
// returns how many it deleted. Servers call it now and then; nothing
// depends on it for correctness.
func (s *MFAStore) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep mfa challenges"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM mfa_challenges WHERE expires_at <= $1`, s.db.now())
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return tag.RowsAffected(), nil
}

func scanMFAChallenge(row pgx.Row) (*gatehouse.MFAChallenge, error) {
	var (
		ch     gatehouse.MFAChallenge
		userID pgtype.UUID
	)
	if err := row.Scan(&ch.Hash, &userID, &ch.Backend, &ch.State, &ch.CreatedAt, &ch.ExpiresAt); err != nil {
		return nil, err
	}
	ch.UserID = userID.Bytes
	if len(ch.State) == 0 {
		ch.State = nil
	}
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	ch.CreatedAt, ch.ExpiresAt = ch.CreatedAt.UTC(), ch.ExpiresAt.UTC()
	return &ch, nil
}

// nullBytea binds b as a bytea, or NULL when it is empty.
func nullBytea(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
