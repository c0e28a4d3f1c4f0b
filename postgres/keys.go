package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

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
	const op = "signing keys"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, `SELECT id, algorithm, private, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	keys := []gatehouse.SigningKey{}
	for rows.Next() {
		var (
			k       gatehouse.SigningKey
			retired *time.Time
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Private, &k.CreatedAt, &retired); err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		k.CreatedAt = k.CreatedAt.UTC()
		if retired != nil {
			k.RetiredAt = retired.UTC()
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return keys, nil
}

// AddSigningKey implements gatehouse.KeyStore. A zero CreatedAt is set from
// the DB's clock; an id that exists already is a CodeConflict error.
func (s *KeyStore) AddSigningKey(ctx context.Context, k gatehouse.SigningKey) error {
	const op = "add signing key"
	created := k.CreatedAt.UTC().Truncate(time.Microsecond)
	if k.CreatedAt.IsZero() {
		created = s.db.now()
	}
	var retired *time.Time
	if !k.RetiredAt.IsZero() {
		t := k.RetiredAt.UTC().Truncate(time.Microsecond)
		retired = &t
	}
	private := k.Private
	if private == nil {
		private = []byte{} // nil would bind as NULL
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	_, err = c.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, private, created_at, retired_at)
		VALUES ($1, $2, $3, $4, $5)`, k.ID, k.Algorithm, private, created, retired)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// RetireSigningKey implements gatehouse.KeyStore: from at on, the key only
// verifies. Retiring a key again moves its retirement to at. An unknown id
// is a CodeNotFound error.
func (s *KeyStore) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	const op = "retire signing key"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE id = $2`,
		at.UTC().Truncate(time.Microsecond), id)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}
