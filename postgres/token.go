package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.TokenStore = (*TokenStore)(nil)

// TokenStore keeps opaque access tokens, by hash, in the access_tokens
// table. Each token belongs to a user: deleting the user deletes its tokens
// (ON DELETE CASCADE). Expired rows are invisible at once and take space
// until Sweep removes them.
type TokenStore struct {
	db *DB
}

// NewTokenStore returns a TokenStore on db.
func NewTokenStore(db *DB) *TokenStore { return &TokenStore{db: db} }

const tokenColumns = `hash, user_id, created_at, expires_at, last_used_at, user_agent, ip, session_id` // #nosec G101 -- column names, not a credential

// CreateToken implements gatehouse.TokenStore. A zero CreatedAt is set from
// the DB's clock; a zero LastUsedAt stays zero (never used). A hash that
// exists already is a CodeConflict error, a user that does not exist a
// CodeNotFound one.
func (s *TokenStore) CreateToken(ctx context.Context, t gatehouse.TokenRecord) error {
	const op = "create token"
	created := t.CreatedAt.UTC().Truncate(time.Microsecond)
	if t.CreatedAt.IsZero() {
		created = s.db.now()
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	_, err = c.Exec(ctx, `INSERT INTO access_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.Hash, uuid(t.UserID), created, t.ExpiresAt.UTC().Truncate(time.Microsecond), nullTime(t.LastUsedAt),
		t.UserAgent, t.IP, nullUUID(t.SessionID))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindToken implements gatehouse.TokenStore: a token whose ExpiresAt is not
// after the DB's clock is CodeNotFound, as is an unknown hash.
func (s *TokenStore) FindToken(ctx context.Context, hash string) (*gatehouse.TokenRecord, error) {
	const op = "find token"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	var (
		t        gatehouse.TokenRecord
		userID   pgtype.UUID
		session  pgtype.UUID
		lastUsed *time.Time
	)
	err = c.QueryRow(ctx, `SELECT `+tokenColumns+` FROM access_tokens WHERE hash = $1 AND expires_at > $2`,
		hash, s.db.now()).
		Scan(&t.Hash, &userID, &t.CreatedAt, &t.ExpiresAt, &lastUsed, &t.UserAgent, &t.IP, &session)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	t.UserID = userID.Bytes
	if session.Valid {
		t.SessionID = session.Bytes
	}
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	if lastUsed != nil {
		t.LastUsedAt = lastUsed.UTC()
	}
	return &t, nil
}

// TouchToken implements gatehouse.TokenStore. LastUsedAt only moves
// forward (greatest ignores the NULL of a token never used), so a slow
// request that finishes after a newer one does not turn the clock back. A
// token that is gone or expired is CodeNotFound.
func (s *TokenStore) TouchToken(ctx context.Context, hash string, at time.Time) error {
	const op = "touch token"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `UPDATE access_tokens SET last_used_at = greatest(last_used_at, $1)
		WHERE hash = $2 AND expires_at > $3`,
		at.UTC().Truncate(time.Microsecond), hash, s.db.now())
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// DeleteToken implements gatehouse.TokenStore; deleting a token that is
// gone is no error, so logging out twice is harmless.
func (s *TokenStore) DeleteToken(ctx context.Context, hash string) error {
	const op = "delete token"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `DELETE FROM access_tokens WHERE hash = $1`, hash); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// DeleteUserTokens implements gatehouse.TokenStore. It deletes expired rows
// of the user too but counts only the live ones, the tokens FindToken
// would have returned.
func (s *TokenStore) DeleteUserTokens(ctx context.Context, id gatehouse.ID) (int, error) {
	const op = "delete user tokens"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	var n int
	err = c.QueryRow(ctx, `WITH deleted AS (
			DELETE FROM access_tokens WHERE user_id = $1 RETURNING expires_at
		)
		SELECT count(*) FILTER (WHERE expires_at > $2) FROM deleted`,
		uuid(id), s.db.now()).Scan(&n)
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return n, nil
}

// Sweep deletes the tokens that have expired and returns how many it
// deleted. Servers call it now and then; nothing depends on it for
// correctness.
func (s *TokenStore) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep tokens"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM access_tokens WHERE expires_at <= $1`, s.db.now())
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return tag.RowsAffected(), nil
}

// nullTime binds the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

// nullUUID stores a token's session id; NULL when it has none.
func nullUUID(id gatehouse.ID) pgtype.UUID {
	return pgtype.UUID{Bytes: id, Valid: !id.IsZero()}
}
