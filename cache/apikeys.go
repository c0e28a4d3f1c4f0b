package cache

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
)

// apiKeys caches FindAPIKey, found or not.
type apiKeys struct {
	c     *Cache
	store gatehouse.APIKeyStore
	*table[apiKeyAnswer]
}

// apiKeyAnswer is a FindAPIKey answer and the now it was asked for.
type apiKeyAnswer struct {
	k     gatehouse.APIKey // zero when not found
	asked time.Time
}

var _ gatehouse.APIKeyStore = (*apiKeys)(nil)

// APIKeys wraps store. FindAPIKey answers are kept by hash: a key until
// the TTL ends or the key expires, by the Cache's clock, and is still
// checked against the now of each call (a key expired at now is
// CodeNotFound, as the store would answer, a zero ExpiresAt never
// expiring); a CodeNotFound answer for any later now, since a deleted or
// expired key never comes back. Every key given is a copy, Scopes
// included, so a caller changing it changes nothing held. ListAPIKeys goes
// to the store.
//
// DeleteAPIKey writes to the store, then publishes a
// gatehouse.ChangeAPIKey, on which every Cache drops the key; if that
// fails after the store may have deleted it, DeleteAPIKey returns a
// CodeUnavailable error, since other instances may accept the key until
// their TTL ends. A gatehouse.ChangeUser drops the user's keys too:
// deleting a user deletes its keys. TouchAPIKey writes to the store and
// drops the key held here, so that the next FindAPIKey sees the new
// LastUsedAt as the store keeps it (apikey.Strategy, touching a key once a
// minute, then reads the store once a minute, not on every request).
// Other instances keep their own LastUsedAt until their TTL ends, so that
// each may touch a key once on its own.
func (c *Cache) APIKeys(store gatehouse.APIKeyStore) gatehouse.APIKeyStore {
	a := &apiKeys{c: c, store: store, table: newTable[apiKeyAnswer](c)}
	c.register(a)
	return a
}

// unchangedAPIKey are the codes of a DeleteAPIKey that changed nothing: a
// key that is unknown, or another user's.
var unchangedAPIKey = []gatehouse.Code{gatehouse.CodeNotFound}

func (a *apiKeys) CreateAPIKey(ctx context.Context, k gatehouse.APIKey) error {
	err := a.store.CreateAPIKey(ctx, k)
	// A "not found" for this hash can only be held here, by a caller who
	// asked before creating: nobody else knows the key yet.
	a.drop(k.Hash)
	return err
}

func (a *apiKeys) FindAPIKey(ctx context.Context, hash string, now time.Time) (*gatehouse.APIKey, error) {
	if e, ok := a.get(hash); ok {
		switch {
		case e.notFound && !now.Before(e.val.asked):
			a.c.hit()
			return nil, notFound()
		case !e.notFound && !apiKeyLive(&e.val.k, now):
			// A key's ExpiresAt never changes: the store would not find
			// it either.
			a.c.hit()
			return nil, notFound()
		case !e.notFound:
			a.c.hit()
			return copyAPIKey(&e.val.k), nil
		}
		// A "not found" asked for a later instant than now: the store
		// decides.
	}
	a.c.miss()
	epoch := a.begin()
	got, err := a.store.FindAPIKey(ctx, hash, now)
	switch {
	case err == nil && got != nil:
		a.put(hash, entry[apiKeyAnswer]{val: apiKeyAnswer{k: *copyAPIKey(got), asked: now},
			expires: a.c.expiry(got.ExpiresAt), owner: got.UserID, id: got.ID}, epoch)
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		a.put(hash, entry[apiKeyAnswer]{val: apiKeyAnswer{asked: now}, notFound: true, expires: a.c.expiry(time.Time{})}, epoch)
	}
	return got, err
}

// apiKeyLive reports whether k has not expired at now.
func apiKeyLive(k *gatehouse.APIKey, now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

func (a *apiKeys) ListAPIKeys(ctx context.Context, userID gatehouse.ID) ([]gatehouse.APIKey, error) {
	return a.store.ListAPIKeys(ctx, userID)
}

func (a *apiKeys) DeleteAPIKey(ctx context.Context, userID, id gatehouse.ID) error {
	err := a.store.DeleteAPIKey(ctx, userID, id)
	return a.c.wrote(ctx, err, unchangedAPIKey, gatehouse.Change{Kind: gatehouse.ChangeAPIKey, Key: id.String()})
}

func (a *apiKeys) TouchAPIKey(ctx context.Context, id gatehouse.ID, at time.Time) error {
	err := a.store.TouchAPIKey(ctx, id, at)
	// The answer held is outdated, not wrong: no need to tell anyone, nor
	// to stop a read under way from putting back the LastUsedAt it got
	// (which costs at most one more touch).
	a.forgetID(id)
	return err
}

func (a *apiKeys) changed(ch gatehouse.Change) {
	switch ch.Kind {
	case gatehouse.ChangeAPIKey:
		id, ok := changeID(ch)
		if !ok {
			a.reset()
			return
		}
		a.dropID(id)
	case gatehouse.ChangeUser:
		id, ok := changeID(ch)
		if !ok {
			a.reset()
			return
		}
		a.dropOwner(id)
	}
}

// copyAPIKey copies k and its Scopes, keeping nil as nil and empty as
// empty.
func copyAPIKey(k *gatehouse.APIKey) *gatehouse.APIKey {
	c := *k
	c.Scopes = slices.Clone(k.Scopes)
	return &c
}
