package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.APIKeyStore = (*APIKeyStore)(nil)

// APIKeyStore keeps API keys, by hash, in the api_keys table. Each key
// belongs to a user: deleting the user deletes its keys (ON DELETE
// CASCADE). Expired keys are kept, and listed, until deleted.
//
// Scopes come back exactly as given, and never nil: a key created with
// nil or empty Scopes is stored with '{}' and comes back with an empty,
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
		return fmt.Errorf("postgres: %s: zero id", op)
	}
	if k.Hash == "" {
		return fmt.Errorf("postgres: %s: empty hash", op)
	}
	created := pgTime(k.CreatedAt)
	if k.CreatedAt.IsZero() {
		created = s.db.now()
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		uuid(k.ID), uuid(k.UserID), k.Name, k.Prefix, k.Hash, list(k.Scopes),
		created, nullTime(k.LastUsedAt), nullTime(k.ExpiresAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindAPIKey implements gatehouse.APIKeyStore: a key whose ExpiresAt is
// not after now is CodeNotFound, as is an unknown hash.
func (s *APIKeyStore) FindAPIKey(ctx context.Context, hash string, now time.Time) (*gatehouse.APIKey, error) {
	const op = "find api key"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	k, err := scanAPIKey(c.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE hash = $1 AND (expires_at IS NULL OR expires_at > $2)`, hash, pgTime(now)))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return k, nil
}

// ListAPIKeys implements gatehouse.APIKeyStore. Keys created at the same
// instant come in descending id order, so the order is stable. No keys is
// an empty, non-nil slice.
func (s *APIKeyStore) ListAPIKeys(ctx context.Context, userID gatehouse.ID) ([]gatehouse.APIKey, error) {
	const op = "list api keys"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, uuid(userID))
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
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM api_keys WHERE id = $1 AND user_id = $2`, uuid(id), uuid(userID))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// TouchAPIKey implements gatehouse.APIKeyStore. LastUsedAt only moves
// forward (greatest ignores the NULL of a key never used), so a slow
// request that finishes after a newer one does not turn the clock back. An
// unknown id is CodeNotFound.
func (s *APIKeyStore) TouchAPIKey(ctx context.Context, id gatehouse.ID, at time.Time) error {
	const op = "touch api key"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`,
		pgTime(at), uuid(id))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

func scanAPIKey(row pgx.Row) (*gatehouse.APIKey, error) {
	var (
		k                 gatehouse.APIKey
		id, userID        pgtype.UUID
		lastUsed, expires *time.Time
	)
	if err := row.Scan(&id, &userID, &k.Name, &k.Prefix, &k.Hash, &k.Scopes, &k.CreatedAt, &lastUsed, &expires); err != nil {
		return nil, err
	}
	k.ID, k.UserID = id.Bytes, userID.Bytes
	k.Scopes = list(k.Scopes)
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	k.CreatedAt = k.CreatedAt.UTC()
	if lastUsed != nil {
		k.LastUsedAt = lastUsed.UTC()
	}
	if expires != nil {
		k.ExpiresAt = expires.UTC()
	}
	return &k, nil
}
