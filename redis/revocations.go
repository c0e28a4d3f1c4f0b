package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.Revocations = (*Revocations)(nil)

// Revocations keeps revoked token ids at <prefix>revoked:<id>. The value is
// the expiry in unix microseconds and the TTL ends there too, so Redis
// forgets a revocation once the token it blocks has expired anyway.
type Revocations struct {
	db *DB
}

// NewRevocations returns a Revocations on db.
func NewRevocations(db *DB) *Revocations { return &Revocations{db: db} }

// Revoke implements gatehouse.Revocations. Revoking an id again replaces its
// expiry with until; an until that has passed removes the revocation, as
// it would have expired.
func (r *Revocations) Revoke(ctx context.Context, tokenID string, until time.Time) error {
	key := r.db.key("revoked", tokenID)
	var err error
	if ttl := r.db.ttl(until); ttl > 0 {
		err = r.db.client.Set(ctx, key, micros(until), ttl).Err()
	} else {
		err = r.db.client.Del(ctx, key).Err()
	}
	if err != nil {
		return r.db.fail(ctx, "revoke", err)
	}
	return nil
}

// Revoked implements gatehouse.Revocations: an id is revoked while its
// expiry is after the DB's clock.
func (r *Revocations) Revoked(ctx context.Context, tokenID string) (bool, error) {
	const op = "revoked"
	v, err := r.db.client.Get(ctx, r.db.key("revoked", tokenID)).Result()
	if errors.Is(err, goredis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, r.db.fail(ctx, op, err)
	}
	until, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, fmt.Errorf("redis: %s: stored expiry: %w", op, err)
	}
	return until > micros(r.db.now()), nil
}
