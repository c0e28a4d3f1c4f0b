package cache

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// revocations caches Revoked answers, both ways.
type revocations struct {
	c     *Cache
	store gatehouse.Revocations
	*table[bool]
}

var _ gatehouse.Revocations = (*revocations)(nil)

// Revocations wraps store. Revoked answers are kept for the TTL, revoked
// or not: Revoked does not say until when a revocation lasts, so a
// "revoked" answer may outlive it by up to the TTL, when the token it
// names has expired anyway.
//
// Revoke writes to the store, then publishes the change. If the publish
// fails the revocation is stored but other instances may accept the token
// until their TTL ends: Revoke then returns a CodeUnavailable error, and the
// caller may retry.
func (c *Cache) Revocations(store gatehouse.Revocations) gatehouse.Revocations {
	r := &revocations{c: c, store: store, table: newTable[bool](c)}
	c.register(r)
	return r
}

func (r *revocations) Revoke(ctx context.Context, tokenID string, until time.Time) error {
	err := r.store.Revoke(ctx, tokenID, until)
	return r.c.wrote(ctx, err, nil, gatehouse.Change{Kind: gatehouse.ChangeRevocation, Key: tokenID})
}

func (r *revocations) Revoked(ctx context.Context, tokenID string) (bool, error) {
	if e, ok := r.get(tokenID); ok {
		r.c.hit()
		return e.val, nil
	}
	r.c.miss()
	epoch := r.begin()
	revoked, err := r.store.Revoked(ctx, tokenID)
	if err == nil {
		r.put(tokenID, entry[bool]{val: revoked, expires: r.c.expiry(time.Time{})}, epoch)
	}
	return revoked, err
}

func (r *revocations) changed(ch gatehouse.Change) {
	if ch.Kind == gatehouse.ChangeRevocation {
		r.drop(ch.Key)
	}
}
