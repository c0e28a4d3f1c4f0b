package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.APIKeyStore = (*APIKeyStore)(nil)

// APIKeyStore keeps API keys, by hash, in the api_keys table. Each key
// belongs to a user: deleting the user deletes its keys (ON DELETE
// CASCADE). Expired keys are kept, and listed, until deleted.
//
// Scopes come back exactly as given, and never nil: a key created with
// nil or empty Scopes is stored with [] and comes back with an empty,
// non-nil slice, which narrows a request to no permission at all (a nil
// Principal.Scopes would leave the owner's permissions whole).
type APIKeyStore struct {
	db *DB
}

// NewAPIKeyStore returns an APIKeyStore on db.
func NewAPIKeyStore(db *DB) *APIKeyStore { return &APIKeyStore{db: db} }

const apiKeyColumns = `id, user_id, name, prefix, hash, scopes, created_at, last_used_at, expires_at` // #nosec G101 -- column names, not a credential

// CreateAPIKey implements gatehouse.APIKeyStore, storing k as given: the
// caller chooses the id. A zero CreatedAt is set from the DB's clock; a
// zero LastUsedAt stays zero (never used), a zero ExpiresAt never expires.
// An id or hash in use is a CodeConflict error, a user that does not exist
// a CodeNotFound one.
func (s *APIKeyStore) CreateAPIKey(ctx context.Context, k gatehouse.APIKey) error {
	const op = "create api key"
	if k.ID.IsZero() {
		return fmt.Errorf("sqlite: %s: zero id", op)
	}
	if k.Hash == "" {
		return fmt.Errorf("sqlite: %s: empty hash", op)
	}
	scopes, err := encodeList(k.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	if _, err := s.db.write.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID.String(), k.UserID.String(), k.Name, k.Prefix, k.Hash, scopes,
		micros(created), nullMicros(k.LastUsedAt), nullMicros(k.ExpiresAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindAPIKey implements gatehouse.APIKeyStore: a key whose ExpiresAt is
// not after now is CodeNotFound, as is an unknown hash.
func (s *APIKeyStore) FindAPIKey(ctx context.Context, hash string, now time.Time) (*gatehouse.APIKey, error) {
	k, err := scanAPIKey(s.db.read.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE hash = ? AND (expires_at IS NULL OR expires_at > ?)`,
		hash, micros(now.UTC().Truncate(time.Microsecond))))
	if err != nil {
		return nil, s.db.fail(ctx, "find api key", err)
	}
	return k, nil
}

// ListAPIKeys implements gatehouse.APIKeyStore. Keys created at the same
// instant come in descending id order, so the order is stable. No keys is
// an empty, non-nil slice.
func (s *APIKeyStore) ListAPIKeys(ctx context.Context, userID gatehouse.ID) ([]gatehouse.APIKey, error) {
	const op = "list api keys"
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE user_id = ? ORDER BY created_at DESC, id DESC`, userID.String())
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	keys := []gatehouse.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		keys = append(keys, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return keys, nil
}

// DeleteAPIKey implements gatehouse.APIKeyStore: a key that is unknown, or
// belongs to another user, is CodeNotFound and stays.
func (s *APIKeyStore) DeleteAPIKey(ctx context.Context, userID, id gatehouse.ID) error {
	const op = "delete api key"
	return s.db.execOne(ctx, op, `DELETE FROM api_keys WHERE id = ? AND user_id = ?`,
		id.String(), userID.String())
}

// TouchAPIKey implements gatehouse.APIKeyStore. LastUsedAt only moves
// forward, so a slow request that finishes after a newer one does not turn
// the clock back. An unknown id is CodeNotFound.
func (s *APIKeyStore) TouchAPIKey(ctx context.Context, id gatehouse.ID, at time.Time) error {
	const op = "touch api key"
	at = at.UTC().Truncate(time.Microsecond)
	return s.db.execOne(ctx, op, `UPDATE api_keys
		SET last_used_at = max(coalesce(last_used_at, ?), ?) WHERE id = ?`,
		micros(at), micros(at), id.String())
}

func scanAPIKey(sc scanner) (*gatehouse.APIKey, error) {
	var (
		k                  gatehouse.APIKey
		id, userID, scopes string
		created            int64
		lastUsed, expires  sql.NullInt64
	)
	if err := sc.Scan(&id, &userID, &k.Name, &k.Prefix, &k.Hash, &scopes, &created, &lastUsed, &expires); err != nil {
		return nil, err
	}
	var err error
	if k.ID, err = gatehouse.ParseID(id); err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	if k.UserID, err = gatehouse.ParseID(userID); err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", userID, err)
	}
	if k.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("api key %s: stored scopes: %w", id, err)
	}
	k.CreatedAt = fromMicros(created)
	if lastUsed.Valid {
		k.LastUsedAt = fromMicros(lastUsed.Int64)
	}
	if expires.Valid {
		k.ExpiresAt = fromMicros(expires.Int64)
	}
	return &k, nil
}
