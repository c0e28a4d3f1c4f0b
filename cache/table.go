package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// entry is one answer of a store: a value, or that there was none.
type entry[V any] struct {
	val      V
	notFound bool
	expires  time.Time    // by the Cache's clock
	owner    gatehouse.ID // the user the answer belongs to, for dropping all of theirs; zero for none
}

// table holds the answers of one wrapper.
//
// Its epoch counts the invalidations: every change that drops something
// and every reset. A read that misses notes the epoch before asking the
// store and inserts the answer only if the epoch has not moved since (and
// the feed is still up). Otherwise a change delivered between the store's
// answer and the insert would be overwritten by the stale answer, and
// trusted until the TTL ends. Epochs are per table so that the changes of
// one wrapper do not keep another's misses from being kept.
type table[V any] struct {
	c     *Cache
	epoch atomic.Uint64 // moved under mu, read without it by begin

	mu    sync.RWMutex
	m     map[string]entry[V]
	owned map[gatehouse.ID]map[string]struct{} // keys of each owner's answers
}

func newTable[V any](c *Cache) *table[V] {
	return &table[V]{c: c, m: make(map[string]entry[V]), owned: make(map[gatehouse.ID]map[string]struct{})}
}

// get returns the answer held for key, if the feed is up and the answer
// has not expired.
func (t *table[V]) get(key string) (entry[V], bool) {
	if !t.c.up.Load() {
		return entry[V]{}, false
	}
	t.mu.RLock()
	e, ok := t.m[key]
	t.mu.RUnlock()
	if !ok || !t.c.now().Before(e.expires) {
		return entry[V]{}, false
	}
	return e, true
}

// begin is called before asking the store; put takes what it returns.
func (t *table[V]) begin() uint64 { return t.epoch.Load() }

// put keeps e for key unless something was invalidated since begin
// returned epoch, or the feed is down.
func (t *table[V]) put(key string, e entry[V], epoch uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.c.up.Load() || t.epoch.Load() != epoch {
		return
	}
	if old, ok := t.m[key]; ok {
		t.unindex(key, old.owner)
	} else if len(t.m) >= t.c.size {
		t.evict()
	}
	t.m[key] = e
	if !e.owner.IsZero() {
		keys := t.owned[e.owner]
		if keys == nil {
			keys = make(map[string]struct{})
			t.owned[e.owner] = keys
		}
		keys[key] = struct{}{}
	}
}

// evict forgets one answer to make room, preferring an expired one among
// the few it looks at. Map iteration starts at a random place, so the
// victim is arbitrary; finding the oldest would cost a list per table.
func (t *table[V]) evict() {
	const look = 8
	now := t.c.now()
	var victim string
	n := 0
	for k, e := range t.m {
		if n == 0 || !now.Before(e.expires) {
			victim = k
			if !now.Before(e.expires) {
				break
			}
		}
		if n++; n == look {
			break
		}
	}
	t.unindex(victim, t.m[victim].owner)
	delete(t.m, victim)
}

func (t *table[V]) unindex(key string, owner gatehouse.ID) {
	if owner.IsZero() {
		return
	}
	if keys := t.owned[owner]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(t.owned, owner)
		}
	}
}

// drop forgets the answer for key and moves the epoch, so that a read
// already under way does not put back what it got before the change.
func (t *table[V]) drop(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	if e, ok := t.m[key]; ok {
		t.unindex(key, e.owner)
		delete(t.m, key)
	}
}

// forget drops the answer for key without moving the epoch: for a change
// that makes an answer outdated but not wrong, where a read under way may
// still put the old one back.
func (t *table[V]) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[key]; ok {
		t.unindex(key, e.owner)
		delete(t.m, key)
	}
}

// dropOwner forgets every answer belonging to owner.
func (t *table[V]) dropOwner(owner gatehouse.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	for key := range t.owned[owner] {
		delete(t.m, key)
	}
	delete(t.owned, owner)
}

// reset forgets everything.
func (t *table[V]) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	// New maps rather than clear: a map keeps the memory of its largest
	// size, and a reset often follows an outage.
	t.m = make(map[string]entry[V])
	t.owned = make(map[gatehouse.ID]map[string]struct{})
}

func (t *table[V]) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}
