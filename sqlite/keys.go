package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.KeyStore = (*KeyStore)(nil)

// KeyStore keeps signing keys in the signing_keys table.
type KeyStore struct {
	db *DB
}

// NewKeyStore returns a KeyStore on db.
func NewKeyStore(db *DB) *KeyStore { return &KeyStore{db: db} }

// SigningKeys implements gatehouse.KeyStore. Keys created at the same
// instant come in descending id order, so the order is stable.
func (s *KeyStore) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, algorithm, private, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, s.db.fail(ctx, "signing keys", err)
	}
	defer rows.Close()
	keys := []gatehouse.SigningKey{}
	for rows.Next() {
		var (
			k       gatehouse.SigningKey
			created int64
			retired sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Private, &created, &retired); err != nil {
			return nil, s.db.fail(ctx, "signing keys", err)
		}
		k.CreatedAt = fromMicros(created)
		if retired.Valid {
			k.RetiredAt = fromMicros(retired.Int64)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, "signing keys", err)
	}
	return keys, nil
}

// AddSigningKey implements gatehouse.KeyStore. A zero CreatedAt is set from
// the DB's clock; an id that exists already is a CodeConflict error.
func (s *KeyStore) AddSigningKey(ctx context.Context, k gatehouse.SigningKey) error {
	created := k.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	var retired sql.NullInt64
	if !k.RetiredAt.IsZero() {
		retired = sql.NullInt64{Int64: micros(k.RetiredAt), Valid: true}
	}
	private := k.Private
	if private == nil {
		private = []byte{} // nil would bind as NULL
	}
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private, created_at, retired_at)
		VALUES (?, ?, ?, ?, ?)`, k.ID, k.Algorithm, private, micros(created), retired)
	if err != nil {
		return s.db.fail(ctx, "add signing key", err)
	}
	return nil
}

// RetireSigningKey implements gatehouse.KeyStore: from at on, the key only
// verifies. Retiring a key again moves its retirement to at. An unknown id
// is a CodeNotFound error.
func (s *KeyStore) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE id = ?`, micros(at), id)
	if err != nil {
		return s.db.fail(ctx, "retire signing key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.db.fail(ctx, "retire signing key", err)
	}
	if n == 0 {
		return s.db.fail(ctx, "retire signing key", sql.ErrNoRows)
	}
	return nil
}
