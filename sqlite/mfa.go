package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
	created := t.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	// The upsert's WHERE leaves a confirmed row alone, and then no row
	// changes: the check and the write are one statement.
	res, err := s.db.write.ExecContext(ctx, `INSERT INTO user_totp (`+totpColumns+`)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed_at = excluded.confirmed_at,
			last_step = excluded.last_step, created_at = excluded.created_at
		WHERE user_totp.confirmed_at IS NULL`,
		t.UserID.String(), blob(t.Secret), nullMicros(t.ConfirmedAt), t.LastStep,
		micros(created.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if n == 0 {
		return gatehouse.Errorf(gatehouse.CodeConflict, "sqlite: %s: user %s has a confirmed TOTP", op, t.UserID)
	}
	return nil
}

// FindTOTP implements gatehouse.TOTPStore: a user without one is
// CodeNotFound.
func (s *MFAStore) FindTOTP(ctx context.Context, userID gatehouse.ID) (*gatehouse.TOTP, error) {
	var (
		t         gatehouse.TOTP
		user      string
		confirmed sql.NullInt64
		created   int64
	)
	err := s.db.read.QueryRowContext(ctx, `SELECT `+totpColumns+` FROM user_totp WHERE user_id = ?`,
		userID.String()).Scan(&user, &t.Secret, &confirmed, &t.LastStep, &created)
	if err != nil {
		return nil, s.db.fail(ctx, "find totp", err)
	}
	if t.UserID, err = gatehouse.ParseID(user); err != nil {
		return nil, fmt.Errorf("sqlite: find totp: stored user id %q: %w", user, err)
	}
	if confirmed.Valid {
		t.ConfirmedAt = fromMicros(confirmed.Int64)
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

// AcceptTOTPStep implements gatehouse.TOTPStore with one conditional
// UPDATE: it changes the row only if step is newer than last_step, so of
// concurrent calls with one step exactly one succeeds, the others getting
// CodeConflict. ConfirmedAt, once set, is kept.
func (s *MFAStore) AcceptTOTPStep(ctx context.Context, userID gatehouse.ID, step int64, at time.Time) error {
	const op = "accept totp step"
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE user_totp
		SET last_step = ?, confirmed_at = coalesce(confirmed_at, ?)
		WHERE user_id = ? AND last_step < ?`,
		step, micros(at.UTC().Truncate(time.Microsecond)), userID.String(), step)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if n == 0 {
		// Only the error's code is decided here, in the same transaction:
		// the row is there (a replay) or not.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM user_totp WHERE user_id = ?`, userID.String()).Scan(&one)
		if err != nil {
			return s.db.fail(ctx, op, err)
		}
		return gatehouse.Errorf(gatehouse.CodeConflict, "sqlite: %s: step %d is not newer than the last accepted", op, step)
	}
	if err := tx.Commit(); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// DeleteTOTP implements gatehouse.TOTPStore.
func (s *MFAStore) DeleteTOTP(ctx context.Context, userID gatehouse.ID) error {
	if _, err := s.db.write.ExecContext(ctx, `DELETE FROM user_totp WHERE user_id = ?`, userID.String()); err != nil {
		return s.db.fail(ctx, "delete totp", err)
	}
	return nil
}

// ReplaceRecoveryCodes implements gatehouse.RecoveryCodeStore in one
// transaction. A hash given twice counts once. A user that does not exist
// is CodeNotFound, even with no hashes.
func (s *MFAStore) ReplaceRecoveryCodes(ctx context.Context, userID gatehouse.ID, hashes []string, at time.Time) error {
	const op = "replace recovery codes"
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID.String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return gatehouse.Errorf(gatehouse.CodeNotFound, "sqlite: %s: user %s not found", op, userID)
	}
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID.String()); err != nil {
		return s.db.fail(ctx, op, err)
	}
	created := micros(at.UTC().Truncate(time.Microsecond))
	for _, h := range unique(hashes) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)`,
			userID.String(), h, created); err != nil {
			return s.db.fail(ctx, op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// UseRecoveryCode implements gatehouse.RecoveryCodeStore with one DELETE:
// of concurrent uses of one code exactly one succeeds, the others getting
// CodeNotFound.
func (s *MFAStore) UseRecoveryCode(ctx context.Context, userID gatehouse.ID, hash string) error {
	const op = "use recovery code"
	return s.db.execOne(ctx, op, `DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?`,
		userID.String(), hash)
}

// CountRecoveryCodes implements gatehouse.RecoveryCodeStore. A user that
// does not exist has none.
func (s *MFAStore) CountRecoveryCodes(ctx context.Context, userID gatehouse.ID) (int, error) {
	var n int
	err := s.db.read.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`,
		userID.String()).Scan(&n)
	if err != nil {
		return 0, s.db.fail(ctx, "count recovery codes", err)
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
		return fmt.Errorf("sqlite: %s: zero id", op)
	}
	if len(p.CredentialID) == 0 {
		return fmt.Errorf("sqlite: %s: empty credential id", op)
	}
	created := p.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	if _, err := s.db.write.ExecContext(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID.String(), p.UserID.String(), p.Name, p.CredentialID, blob(p.Credential),
		micros(created.UTC().Truncate(time.Microsecond)), nullMicros(p.LastUsedAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// ListPasskeys implements gatehouse.PasskeyStore. Passkeys created at the
// same instant come in id order, so the order is stable. No passkeys is
// an empty, non-nil slice.
func (s *MFAStore) ListPasskeys(ctx context.Context, userID gatehouse.ID) ([]gatehouse.Passkey, error) {
	const op = "list passkeys"
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE user_id = ? ORDER BY created_at, id`, userID.String())
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
	p, err := scanPasskey(s.db.read.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE credential_id = ?`, blob(credentialID)))
	if err != nil {
		return nil, s.db.fail(ctx, "find passkey", err)
	}
	return p, nil
}

// UsePasskey implements gatehouse.PasskeyStore: an unknown id is
// CodeNotFound.
func (s *MFAStore) UsePasskey(ctx context.Context, id gatehouse.ID, credential []byte, at time.Time) error {
	const op = "use passkey"
	return s.db.execOne(ctx, op, `UPDATE passkeys SET credential = ?, last_used_at = ? WHERE id = ?`,
		blob(credential), micros(at.UTC().Truncate(time.Microsecond)), id.String())
}

// DeletePasskey implements gatehouse.PasskeyStore: a passkey that is
// unknown, or belongs to another user, is CodeNotFound and stays.
func (s *MFAStore) DeletePasskey(ctx context.Context, userID, id gatehouse.ID) error {
	const op = "delete passkey"
	return s.db.execOne(ctx, op, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`,
		id.String(), userID.String())
}

func scanPasskey(sc scanner) (*gatehouse.Passkey, error) {
	var (
		p          gatehouse.Passkey
		id, userID string
		created    int64
		lastUsed   sql.NullInt64
	)
	if err := sc.Scan(&id, &userID, &p.Name, &p.CredentialID, &p.Credential, &created, &lastUsed); err != nil {
		return nil, err
	}
	var err error
	if p.ID, err = gatehouse.ParseID(id); err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	if p.UserID, err = gatehouse.ParseID(userID); err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", userID, err)
	}
	p.CreatedAt = fromMicros(created)
	if lastUsed.Valid {
		p.LastUsedAt = fromMicros(lastUsed.Int64)
	}
	return &p, nil
}

const mfaChallengeColumns = `hash, user_id, backend, webauthn, created_at, expires_at`

// CreateMFAChallenge implements gatehouse.MFAChallengeStore. A zero
// CreatedAt is set from the DB's clock; ExpiresAt must be set. A hash in
// use is CodeConflict, a user that does not exist CodeNotFound.
func (s *MFAStore) CreateMFAChallenge(ctx context.Context, c gatehouse.MFAChallenge) error {
	const op = "create mfa challenge"
	if c.Hash == "" {
		return fmt.Errorf("sqlite: %s: empty hash", op)
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("sqlite: %s: zero expiry", op)
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	if _, err := s.db.write.ExecContext(ctx, `INSERT INTO mfa_challenges (`+mfaChallengeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?)`,
		c.Hash, c.UserID.String(), c.Backend, nullBlob(c.State),
		micros(created.UTC().Truncate(time.Microsecond)), micros(c.ExpiresAt.UTC().Truncate(time.Microsecond))); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindMFAChallenge implements gatehouse.MFAChallengeStore: a challenge
// whose ExpiresAt is not after now is CodeNotFound, as is an unknown hash.
func (s *MFAStore) FindMFAChallenge(ctx context.Context, hash string, now time.Time) (*gatehouse.MFAChallenge, error) {
	c, err := scanMFAChallenge(s.db.read.QueryRowContext(ctx, `SELECT `+mfaChallengeColumns+` FROM mfa_challenges
		WHERE hash = ? AND expires_at > ?`, hash, micros(now.UTC().Truncate(time.Microsecond))))
	if err != nil {
		return nil, s.db.fail(ctx, "find mfa challenge", err)
	}
	return c, nil
}

// SetMFAChallengeState implements gatehouse.MFAChallengeStore,
// replacing any data set before; empty data clears it. A challenge that is
// unknown or expired at now is CodeNotFound.
func (s *MFAStore) SetMFAChallengeState(ctx context.Context, hash string, data []byte, now time.Time) error {
	const op = "set mfa challenge state"
	return s.db.execOne(ctx, op, `UPDATE mfa_challenges SET webauthn = ? WHERE hash = ? AND expires_at > ?`,
		nullBlob(data), hash, micros(now.UTC().Truncate(time.Microsecond)))
}

// TakeMFAChallenge implements gatehouse.MFAChallengeStore with one
// DELETE ... RETURNING: of concurrent takes exactly one gets the
// challenge. An expired challenge is CodeNotFound and left to Sweep.
func (s *MFAStore) TakeMFAChallenge(ctx context.Context, hash string, now time.Time) (*gatehouse.MFAChallenge, error) {
	c, err := scanMFAChallenge(s.db.write.QueryRowContext(ctx, `DELETE FROM mfa_challenges
		WHERE hash = ? AND expires_at > ? RETURNING `+mfaChallengeColumns,
		hash, micros(now.UTC().Truncate(time.Microsecond))))
	if err != nil {
		return nil, s.db.fail(ctx, "take mfa challenge", err)
	}
	return c, nil
}

// Sweep deletes the MFA challenges that have expired by the DB's clock and
// returns how many it deleted. Servers call it now and then; nothing
// depends on it for correctness.
func (s *MFAStore) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep mfa challenges"
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM mfa_challenges WHERE expires_at <= ?`, micros(s.db.now()))
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return n, nil
}

func scanMFAChallenge(sc scanner) (*gatehouse.MFAChallenge, error) {
	var (
		c                gatehouse.MFAChallenge
		userID           string
		created, expires int64
	)
	if err := sc.Scan(&c.Hash, &userID, &c.Backend, &c.State, &created, &expires); err != nil {
		return nil, err
	}
	var err error
	if c.UserID, err = gatehouse.ParseID(userID); err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", userID, err)
	}
	if len(c.State) == 0 {
		c.State = nil
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}

// nullBlob binds b as a BLOB, or NULL when it is empty.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
