package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.Limiter = (*Memory)(nil)

// DefaultMaxKeys is how many keys NewMemory keeps when given no limit:
// some 15 MB with the keys of a Policy.
const DefaultMaxKeys = 100_000

// Sharding: one mutex per shard, so parallel requests on different keys
// rarely wait for each other. Small tables get fewer shards, so that their
// limit is exact.
const (
	maxShards     = 64
	keysPerShard  = 1024 // below this many keys per shard, use fewer shards
	sweepInterval = time.Minute
	evictSample   = 16
)

// Memory is a gatehouse.Limiter in the process's memory, for a single
// server instance (several instances need a shared one, such as
// redis.Limiter). It is safe for concurrent use.
//
// Its memory is bounded: it holds at most the number of keys given to
// NewMemory. A key is forgotten once its allowance is whole again, which
// each shard checks once a minute. When a new key finds its shard full,
// the shard drops the key closest to whole among 16 of its keys: a key
// whose state would be gone soon anyway. An attacker who floods the table
// with fresh keys (whole again after one interval) evicts those before a
// key throttled for longer, which goes only when all 16 sampled keys are
// throttled at least as long. Memory never refuses a key and never grows
// past its limit.
type Memory struct {
	// Now is the clock. NewMemory sets it to time.Now (as does nil); tests
	// replace it before use.
	Now func() time.Time

	seed     maphash.Seed
	perShard int
	shards   []shard
}

// shard is one lock's worth of keys, each mapped to its theoretical
// arrival time in unix microseconds.
type shard struct {
	mu        sync.Mutex
	tats      map[string]int64
	nextSweep int64 // unix microseconds
}

// NewMemory returns a Memory that holds at most maxKeys keys (at least one
// per shard); maxKeys ≤ 0 means DefaultMaxKeys.
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	n := min(max(maxKeys/keysPerShard, 1), maxShards)
	m := &Memory{Now: time.Now, seed: maphash.MakeSeed(), perShard: maxKeys / n, shards: make([]shard, n)}
	for i := range m.shards {
		m.shards[i].tats = make(map[string]int64)
	}
	return m
}

// Allow implements gatehouse.Limiter.
func (m *Memory) Allow(_ context.Context, key string, rate gatehouse.Rate) (gatehouse.Decision, error) {
	return m.decide(key, rate, true)
}

// Peek implements gatehouse.Limiter.
func (m *Memory) Peek(_ context.Context, key string, rate gatehouse.Rate) (gatehouse.Decision, error) {
	return m.decide(key, rate, false)
}

// Reset implements gatehouse.Limiter.
func (m *Memory) Reset(_ context.Context, key string) error {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tats, key)
	return nil
}

func (m *Memory) decide(key string, rate gatehouse.Rate, take bool) (gatehouse.Decision, error) {
	if err := rate.Validate(); err != nil {
		return gatehouse.Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	now := m.now()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if now >= s.nextSweep {
		s.sweep(now)
		s.nextSweep = now + sweepInterval.Microseconds()
	}
	tat, known := s.tats[key]
	d, next := gcra(tat, now, rate, take)
	if take && d.Allowed {
		if !known && len(s.tats) >= m.perShard {
			s.evict()
		}
		s.tats[key] = next
	}
	return d, nil
}

// now is the clock in unix microseconds, the unit of every limiter.
func (m *Memory) now() int64 {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	return now().UnixMicro()
}

func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// sweep drops the keys whose allowance is whole at now.
func (s *shard) sweep(now int64) {
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
		}
	}
}

// evict makes room for one key: the key closest to whole among a sample
// of the shard's (map iteration starts at a random place), as Redis's
// approximated LRU does, so a flood costs a constant time per key.
func (s *shard) evict() {
	var victim string
	n, oldest := 0, int64(0)
	for k, tat := range s.tats {
		if n == 0 || tat < oldest {
			victim, oldest = k, tat
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.tats, victim)
}

// gcra decides one event at now on a key whose theoretical arrival time is
// tat (zero or past for a key with no state), all in unix microseconds. It
// returns the decision and, when take is set and the event is allowed, the
// key's new TAT. redis/limiter.go holds the same arithmetic in Lua.
func gcra(tat, now int64, rate gatehouse.Rate, take bool) (gatehouse.Decision, int64) {
	interval := rate.Interval().Microseconds()
	span := interval * int64(rate.Burst)
	tat = max(tat, now)
	free := span - (tat - now) // allowance left, in microseconds
	cells := free / interval
	if cells < 1 {
		return gatehouse.Decision{RetryAfter: time.Duration(interval-free) * time.Microsecond}, tat
	}
	if !take {
		return gatehouse.Decision{Allowed: true, Remaining: int(cells)}, tat
	}
	return gatehouse.Decision{Allowed: true, Remaining: int(cells - 1)}, tat + interval
}
