package cache

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// tokens caches FindToken, found or not.
type tokens struct {
	c     *Cache
	store gatehouse.TokenStore
	*table[gatehouse.TokenRecord]
}

var _ gatehouse.TokenStore = (*tokens)(nil)

// Tokens wraps store. FindToken answers are kept: a token until the TTL
// ends or the token expires, by the Cache's clock; a CodeNotFound answer
// until the TTL ends.
//
// DeleteToken and DeleteUserTokens write to the store, then publish a
// gatehouse.ChangeToken or gatehouse.ChangeUserTokens; if that fails after
// a successful write they return a CodeUnavailable error, since other
// instances may accept the tokens until their TTL ends. TouchToken writes
// to the store and drops the answer held here, so that the next FindToken
// sees the new LastUsedAt as the store keeps it (a strategy touching once a
// minute then reads the store once a minute, not on every request). Other
// instances keep their own LastUsedAt until their TTL ends, so that each
// may touch a token once on its own.
func (c *Cache) Tokens(store gatehouse.TokenStore) gatehouse.TokenStore {
	t := &tokens{c: c, store: store, table: newTable[gatehouse.TokenRecord](c)}
	c.register(t)
	return t
}

func (t *tokens) CreateToken(ctx context.Context, rec gatehouse.TokenRecord) error {
	err := t.store.CreateToken(ctx, rec)
	// A "not found" for this hash can only be held here, by a caller who
	// asked before creating: nobody else knows the token yet.
	t.drop(rec.Hash)
	return err
}

func (t *tokens) FindToken(ctx context.Context, hash string) (*gatehouse.TokenRecord, error) {
	if e, ok := t.get(hash); ok {
		t.c.hit()
		if e.notFound {
			return nil, notFound()
		}
		rec := e.val
		return &rec, nil
	}
	t.c.miss()
	epoch := t.begin()
	got, err := t.store.FindToken(ctx, hash)
	switch {
	case err == nil && got != nil:
		t.put(hash, entry[gatehouse.TokenRecord]{val: *got, expires: t.c.expiry(got.ExpiresAt), owner: got.UserID}, epoch)
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		t.put(hash, entry[gatehouse.TokenRecord]{notFound: true, expires: t.c.expiry(time.Time{})}, epoch)
	}
	return got, err
}

func (t *tokens) TouchToken(ctx context.Context, hash string, at time.Time) error {
	err := t.store.TouchToken(ctx, hash, at)
	// The answer held is outdated, not wrong: no need to tell anyone, nor
	// to stop a read under way from putting back the LastUsedAt it got
	// (which costs at most one more touch).
	t.forget(hash)
	return err
}

func (t *tokens) DeleteToken(ctx context.Context, hash string) error {
	err := t.store.DeleteToken(ctx, hash)
	return t.c.wrote(ctx, err, nil, gatehouse.Change{Kind: gatehouse.ChangeToken, Key: hash})
}

func (t *tokens) DeleteUserTokens(ctx context.Context, id gatehouse.ID) (int, error) {
	n, err := t.store.DeleteUserTokens(ctx, id)
	return n, t.c.wrote(ctx, err, nil, gatehouse.Change{Kind: gatehouse.ChangeUserTokens, Key: id.String()})
}

func (t *tokens) changed(ch gatehouse.Change) {
	switch ch.Kind {
	case gatehouse.ChangeToken:
		t.drop(ch.Key)
	case gatehouse.ChangeUserTokens, gatehouse.ChangeUser:
		id, ok := changeID(ch)
		if !ok {
			t.reset()
			return
		}
		t.dropOwner(id)
	}
}
