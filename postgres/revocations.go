package postgres

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.Revocations = (*Revocations)(nil)

// Revocations keeps revoked token ids in the revoked_tokens table. Expired
// rows answer "not revoked" at once and take space until Sweep removes
// them.
type Revocations struct {
	db *DB
}

// NewRevocations returns a Revocations on db.
func NewRevocations(db *DB) *Revocations { return &Revocations{db: db} }

// Revoke implements gatehouse.Revocations. Revoking an id again replaces its
// expiry with until.
func (r *Revocations) Revoke(ctx context.Context, tokenID string, until time.Time) error {
	const op = "revoke"
	c, err := r.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	_, err = c.Exec(ctx, `INSERT INTO revoked_tokens (token_id, expires_at) VALUES ($1, $2)
		ON CONFLICT (token_id) DO UPDATE SET expires_at = excluded.expires_at`,
		tokenID, until.UTC().Truncate(time.Microsecond))
	if err != nil {
		return r.db.fail(ctx, op, err)
	}
	return nil
}

// Revoked implements gatehouse.Revocations: an id is revoked while its
// expiry is after the DB's clock.
func (r *Revocations) Revoked(ctx context.Context, tokenID string) (bool, error) {
	const op = "revoked"
	c, err := r.db.acquire(ctx, op)
	if err != nil {
		return false, err
	}
	defer c.Release()
	var revoked bool
	err = c.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = $1 AND expires_at > $2)`,
		tokenID, r.db.now()).Scan(&revoked)
	if err != nil {
		return false, r.db.fail(ctx, op, err)
	}
	return revoked, nil
}

// Sweep deletes the revocations that have expired and returns how many it
// deleted. Servers call it now and then; nothing depends on it for
// correctness.
func (r *Revocations) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep"
	c, err := r.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM revoked_tokens WHERE expires_at <= $1`, r.db.now())
	if err != nil {
		return 0, r.db.fail(ctx, op, err)
	}
	return tag.RowsAffected(), nil
}
