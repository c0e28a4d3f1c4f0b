package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.NonceStore = (*NonceStore)(nil)

// NonceStore keeps used nonces in the used_nonces table, each until the
// time its user gave. A nonce is refused while its row exists, even past
// that time: an expired row is forgotten only when Sweep deletes it, which
// is safe because the state that carried the nonce has expired by then,
// and simpler than a second, time-dependent check in UseNonce.
//
// Nonces must be non-empty UTF-8 text without NUL bytes, as setting keys
// are.
type NonceStore struct {
	db *DB
}

// NewNonceStore returns a NonceStore on db.
func NewNonceStore(db *DB) *NonceStore { return &NonceStore{db: db} }

// UseNonce implements gatehouse.NonceStore with one INSERT that does
// nothing on a nonce already recorded: the primary key decides, so of
// concurrent uses of one nonce exactly one succeeds and the others get
// CodeConflict. A nonce that is empty or not text, or a zero until, is an
// error: such state is a caller's bug, and letting it through once would
// fail open.
func (s *NonceStore) UseNonce(ctx context.Context, nonce string, until time.Time) error {
	const op = "use nonce"
	if nonce == "" || !isText(nonce) {
		return fmt.Errorf("sqlite: %s: nonce is not non-empty UTF-8 text without NUL", op)
	}
	if until.IsZero() {
		return fmt.Errorf("sqlite: %s: zero expiry", op)
	}
	res, err := s.db.write.ExecContext(ctx, `INSERT INTO used_nonces (nonce, expires_at) VALUES (?, ?)
		ON CONFLICT (nonce) DO NOTHING`,
		nonce, micros(until.UTC().Truncate(time.Microsecond)))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if n == 0 {
		return gatehouse.Errorf(gatehouse.CodeConflict, "sqlite: %s: nonce already used", op)
	}
	return nil
}

// Sweep deletes the nonces whose time has come by the DB's clock and
// returns how many it deleted. Servers call it now and then to reclaim
// space; a swept nonce could be used again, which is harmless because the
// state that carried it has expired.
func (s *NonceStore) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep nonces"
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM used_nonces WHERE expires_at <= ?`, micros(s.db.now()))
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return n, nil
}
