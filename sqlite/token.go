package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.TokenStore = (*TokenStore)(nil)

// TokenStore keeps opaque access tokens, by hash, in the access_tokens
// table. Each token belongs to a user: deleting the user deletes its tokens
// (ON DELETE CASCADE, which the writer's foreign_keys pragma enforces).
// Expired rows are invisible at once and take space until Sweep removes
// them.
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
	created := t.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO access_tokens (`+tokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.UserID.String(), micros(created), micros(t.ExpiresAt), nullMicros(t.LastUsedAt),
		t.UserAgent, t.IP, sessionText(t.SessionID))
	if err != nil {
		return s.db.fail(ctx, "create token", err)
	}
	return nil
}

// FindToken implements gatehouse.TokenStore: a token whose ExpiresAt is not
// after the DB's clock is CodeNotFound, as is an unknown hash.
func (s *TokenStore) FindToken(ctx context.Context, hash string) (*gatehouse.TokenRecord, error) {
	var (
		t                gatehouse.TokenRecord
		userID, session  string
		created, expires int64
		lastUsed         sql.NullInt64
	)
	err := s.db.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM access_tokens
		WHERE hash = ? AND expires_at > ?`, hash, micros(s.db.now())).
		Scan(&t.Hash, &userID, &created, &expires, &lastUsed, &t.UserAgent, &t.IP, &session)
	if err != nil {
		return nil, s.db.fail(ctx, "find token", err)
	}
	if t.UserID, err = gatehouse.ParseID(userID); err != nil {
		return nil, s.db.fail(ctx, "find token", err)
	}
	if session != "" {
		if t.SessionID, err = gatehouse.ParseID(session); err != nil {
			return nil, s.db.fail(ctx, "find token", err)
		}
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	if lastUsed.Valid {
		t.LastUsedAt = fromMicros(lastUsed.Int64)
	}
	return &t, nil
}

// TouchToken implements gatehouse.TokenStore. LastUsedAt only moves
// forward, so a slow request that finishes after a newer one does not
// turn the clock back. A token that is gone or expired is CodeNotFound.
func (s *TokenStore) TouchToken(ctx context.Context, hash string, at time.Time) error {
	const op = "touch token"
	at = at.UTC().Truncate(time.Microsecond)
	return s.db.execOne(ctx, op, `UPDATE access_tokens
		SET last_used_at = max(coalesce(last_used_at, ?), ?)
		WHERE hash = ? AND expires_at > ?`,
		micros(at), micros(at), hash, micros(s.db.now()))
}

// DeleteToken implements gatehouse.TokenStore; deleting a token that is
// gone is no error, so logging out twice is harmless.
func (s *TokenStore) DeleteToken(ctx context.Context, hash string) error {
	if _, err := s.db.write.ExecContext(ctx, `DELETE FROM access_tokens WHERE hash = ?`, hash); err != nil {
		return s.db.fail(ctx, "delete token", err)
	}
	return nil
}

// DeleteUserTokens implements gatehouse.TokenStore. It deletes expired rows
// of the user too but counts only the live ones, the tokens FindToken
// would have returned.
func (s *TokenStore) DeleteUserTokens(ctx context.Context, id gatehouse.ID) (int, error) {
	const op = "delete user tokens"
	now := micros(s.db.now())
	rows, err := s.db.write.QueryContext(ctx, `DELETE FROM access_tokens WHERE user_id = ? RETURNING expires_at`, id.String())
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var expires int64
		if err := rows.Scan(&expires); err != nil {
			return 0, s.db.fail(ctx, op, err)
		}
		if expires > now {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return n, nil
}

// Sweep deletes the tokens that have expired and returns how many it
// deleted. Servers call it now and then; nothing depends on it for
// correctness.
func (s *TokenStore) Sweep(ctx context.Context) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM access_tokens WHERE expires_at <= ?`, micros(s.db.now()))
	if err != nil {
		return 0, s.db.fail(ctx, "sweep tokens", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.db.fail(ctx, "sweep tokens", err)
	}
	return n, nil
}

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t.UTC().Truncate(time.Microsecond)), Valid: true}
}

// sessionText stores a token's session id; "" when it has none.
func sessionText(id gatehouse.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}
