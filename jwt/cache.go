package jwt

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse"
)

const (
	// defaultCacheSize is how many verified tokens a Strategy remembers
	// when Config.CacheSize is zero: at about 200 bytes each, 2 MB.
	defaultCacheSize = 10_000
	// cacheShards is how many independently locked parts the cache has,
	// so that parallel requests rarely wait for one another.
	cacheShards = 16
)

// verified is what Read needs from a token that passed every check but
// revocation: enough to answer again without the signature or the JSON.
type verified struct {
	user, session gatehouse.ID
	// badSession is set when sid is not a session id. Read refuses such a
	// token only after the revocation check, as it always has, so it is
	// remembered rather than refused here.
	badSession bool
	tokenID    string
	// from and exp bound, in Unix seconds, when the cache may answer for
	// the token: from is the later of nbf and iat, exp is exp. Outside
	// them the token is verified again, which applies the leeway exactly
	// as before, so the cache never accepts what verification would refuse.
	from, exp int64
}

// cache remembers tokens that passed verification, keyed by the SHA-256 of
// the whole token: a token that differs in any byte (another signature, a
// changed claim, a high-S twin) has another key and is verified in full.
// Failures are never stored.
//
// It holds at most max entries, split over shards that each evict by CLOCK
// (second chance): an entry read since the hand last passed it stays, and
// an expired one goes first. A Strategy's keys never change, so an entry
// cannot outlive the key that verified it: rotating keys builds a new
// Strategy, and with it an empty cache.
type cache struct {
	shards []cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	index   map[[sha256.Size]byte]int32 // key → position in entries
	entries []cacheEntry                // grown on demand up to max
	max     int
	hand    int // the entry CLOCK looks at next
}

type cacheEntry struct {
	key  [sha256.Size]byte
	v    verified
	used atomic.Bool // read since the hand last passed; set under the read lock
}

// maxCacheSize caps Config.CacheSize: far more than any server needs (a
// few hundred MB of entries), and small enough for int32 slot indexes.
const maxCacheSize = 1 << 24

// newCache returns a cache of at most size entries; size must be positive.
func newCache(size int) *cache {
	n := min(size, cacheShards)
	c := &cache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		max := size / n
		if i < size%n {
			max++
		}
		c.shards[i] = cacheShard{index: make(map[[sha256.Size]byte]int32), max: max}
	}
	return c
}

// shard picks by the first byte of the key, which SHA-256 spreads evenly.
func (c *cache) shard(key *[sha256.Size]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// get returns the entry for key if there is one that may answer at now
// (Unix seconds).
func (c *cache) get(key *[sha256.Size]byte, now int64) (verified, bool) {
	sh := c.shard(key)
	sh.mu.RLock()
	i, ok := sh.index[*key]
	var v verified
	if ok {
		e := &sh.entries[i]
		v = e.v
		// Only write when the bit changes, so that readers of one hot
		// token do not fight over its cache line.
		if !e.used.Load() {
			e.used.Store(true)
		}
	}
	sh.mu.RUnlock()
	return v, ok && v.from <= now && now < v.exp
}

// put stores v under key, evicting an entry if the shard is full.
func (c *cache) put(key *[sha256.Size]byte, v verified, now int64) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.index[*key]; ok {
		// Verified twice at once: the answers are the same.
		sh.entries[i].v = v
		return
	}
	if len(sh.entries) < sh.max {
		if len(sh.entries) == cap(sh.entries) {
			// Grow by hand: append could overshoot max by half.
			grown := make([]cacheEntry, len(sh.entries), min(sh.max, max(8, 2*cap(sh.entries))))
			for i := range sh.entries {
				grown[i].key, grown[i].v = sh.entries[i].key, sh.entries[i].v
				grown[i].used.Store(sh.entries[i].used.Load())
			}
			sh.entries = grown
		}
		sh.entries = sh.entries[:len(sh.entries)+1]
		i := len(sh.entries) - 1
		sh.entries[i].key, sh.entries[i].v = *key, v
		sh.index[*key] = int32(i) // #nosec G115 -- i < sh.max ≤ maxCacheSize < MaxInt32
		return
	}
	// Every entry passed once has its bit cleared, so this ends within two
	// turns of the hand. Readers hold the read lock, so none sets a bit
	// meanwhile.
	for {
		i := sh.hand
		e := &sh.entries[i]
		sh.hand = (sh.hand + 1) % len(sh.entries)
		if e.v.exp <= now || !e.used.Swap(false) {
			delete(sh.index, e.key)
			e.key, e.v = *key, v
			e.used.Store(false)
			sh.index[*key] = int32(i) // #nosec G115 -- i < sh.max ≤ maxCacheSize < MaxInt32
			return
		}
	}
}
