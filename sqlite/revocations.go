package sqlite

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
	_, err := r.db.write.ExecContext(ctx, `INSERT INTO revoked_tokens (token_id, expires_at) VALUES (?, ?)
		ON CONFLICT (token_id) DO UPDATE SET expires_at = excluded.expires_at`,
		tokenID, micros(until.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return r.db.fail(ctx, "revoke", err)
	}
	return nil
}

// Revoked implements gatehouse.Revocations: an id is revoked while its
// expiry is after the DB's clock.
func (r *Revocations) Revoked(ctx context.Context, tokenID string) (bool, error) {
	var revoked bool
	err := r.db.read.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = ? AND expires_at > ?)`,
		tokenID, micros(r.db.now())).Scan(&revoked)
	if err != nil {
		return false, r.db.fail(ctx, "revoked", err)
	}
	return revoked, nil
}

// Sweep deletes the revocations that have expired and returns how many it
// deleted. Servers call it now and then; nothing depends on it for
// correctness.
func (r *Revocations) Sweep(ctx context.Context) (int64, error) {
	res, err := r.db.write.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE expires_at <= ?`, micros(r.db.now()))
	if err != nil {
		return 0, r.db.fail(ctx, "sweep", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, r.db.fail(ctx, "sweep", err)
	}
	return n, nil
}
