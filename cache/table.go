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
	// id is the ID of the thing answered, for dropping it by ID where
	// answers are kept under another key (an API key, by its hash); zero
	// for none.
	id gatehouse.ID
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
	owned index // keys of each owner's answers
	ids   index // keys of the answers about each thing, by entry.id
}

// index lists the keys of answers by an ID they carry.
type index map[gatehouse.ID]map[string]struct{}

func (x index) add(id gatehouse.ID, key string) {
	if id.IsZero() {
		return
	}
	keys := x[id]
	if keys == nil {
		keys = make(map[string]struct{})
		x[id] = keys
	}
	keys[key] = struct{}{}
}

func (x index) remove(id gatehouse.ID, key string) {
	if id.IsZero() {
		return
	}
	if keys := x[id]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(x, id)
		}
	}
}

func newTable[V any](c *Cache) *table[V] {
	return &table[V]{c: c, m: make(map[string]entry[V]), owned: make(index), ids: make(index)}
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
		t.unindex(key, old)
	} else if len(t.m) >= t.c.size {
		t.evict()
	}
	t.m[key] = e
	t.owned.add(e.owner, key)
	t.ids.add(e.id, key)
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
	t.remove(victim)
}

// unindex takes key, held as e, out of the indexes.
func (t *table[V]) unindex(key string, e entry[V]) {
	t.owned.remove(e.owner, key)
	t.ids.remove(e.id, key)
}

// remove forgets the answer for key, if any; t.mu must be held.
func (t *table[V]) remove(key string) {
	if e, ok := t.m[key]; ok {
		t.unindex(key, e)
		delete(t.m, key)
	}
}

// drop forgets the answer for key and moves the epoch, so that a read
// already under way does not put back what it got before the change.
func (t *table[V]) drop(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	t.remove(key)
}

// forget drops the answer for key without moving the epoch: for a change
// that makes an answer outdated but not wrong, where a read under way may
// still put the old one back.
func (t *table[V]) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remove(key)
}

// dropOwner forgets every answer belonging to owner.
func (t *table[V]) dropOwner(owner gatehouse.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	for key := range t.owned[owner] {
		t.remove(key)
	}
}

// dropID forgets every answer about the thing with this ID (see entry.id)
// and moves the epoch, as drop does.
func (t *table[V]) dropID(id gatehouse.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	for key := range t.ids[id] {
		t.remove(key)
	}
}

// forgetID forgets every answer about the thing with this ID without
// moving the epoch, as forget does.
func (t *table[V]) forgetID(id gatehouse.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range t.ids[id] {
		t.remove(key)
	}
}

// reset forgets everything.
func (t *table[V]) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch.Add(1)
	// New maps rather than clear: a map keeps the memory of its largest
	// size, and a reset often follows an outage.
	t.m = make(map[string]entry[V])
	t.owned = make(index)
	t.ids = make(index)
}

func (t *table[V]) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}
