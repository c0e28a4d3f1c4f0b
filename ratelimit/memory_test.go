package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/ratelimit"
)

func TestMemory(t *testing.T) {
	t.Parallel()
	gatehousetest.TestLimiter(t, func(t *testing.T, now func() time.Time) gatehouse.Limiter {
		m := ratelimit.NewMemory(0)
		m.Now = now
		return m
	})
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A full table evicts the key closest to whole; the most throttled key
// stays.
func TestMemoryFull(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newFakeClock()
	m := ratelimit.NewMemory(3) // one shard of 3
	m.Now = clk.Now
	perMinute := gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 10}
	take := func(key string, n int) {
		t.Helper()
		for range n {
			if d, err := m.Allow(ctx, key, perMinute); err != nil || !d.Allowed {
				t.Fatalf("Allow(%q) = %+v, %v", key, d, err)
			}
		}
	}
	remaining := func(key string) int {
		t.Helper()
		d, err := m.Peek(ctx, key, perMinute)
		if err != nil {
			t.Fatal(err)
		}
		return d.Remaining
	}
	take("victim", 10) // whole in 10 minutes
	take("b", 3)       // whole in 3 minutes
	take("c", 5)       // whole in 5 minutes
	take("d", 1)       // table full: b, the closest to whole, goes
	if got := m.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
	if remaining("b") != 10 || remaining("victim") != 0 || remaining("c") != 5 || remaining("d") != 9 {
		t.Errorf("remaining victim %d b %d c %d d %d, want 0 10 5 9", remaining("victim"), remaining("b"), remaining("c"), remaining("d"))
	}
	// A flood of fresh keys evicts itself, never the victim.
	for i := range 1000 {
		take(fmt.Sprint("flood-", i), 1)
	}
	if m.Len() != 3 || remaining("victim") != 0 {
		t.Errorf("after a flood: Len %d, victim's remaining %d; want 3 and 0", m.Len(), remaining("victim"))
	}
	// Whole keys are the closest to whole: they go first.
	clk.Add(5 * time.Minute)
	take("e", 1)
	take("f", 1)
	if remaining("victim") != 5 {
		t.Errorf("victim's remaining %d, want 5: it was evicted", remaining("victim"))
	}
}

// Keys whose allowance is whole are forgotten within a minute.
func TestMemoryIdleKeysExpire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newFakeClock()
	m := ratelimit.NewMemory(4096) // four shards of 1024
	m.Now = clk.Now
	r := gatehouse.Rate{Limit: 1, Period: time.Second, Burst: 1}
	for i := range 2000 {
		if _, err := m.Allow(ctx, fmt.Sprint("k", i), r); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 2000 {
		t.Fatalf("Len = %d, want 2000", got)
	}
	clk.Add(time.Minute)
	// Each shard sweeps when next used; 100 probes reach all four.
	for i := range 100 {
		if _, err := m.Peek(ctx, fmt.Sprint("probe", i), r); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len = %d a minute later, want 0", got)
	}
}

// Memory stays within its limit under parallel load on many keys.
func TestMemoryBoundedParallel(t *testing.T) {
	t.Parallel()
	const maxKeys = 4096
	m := ratelimit.NewMemory(maxKeys)
	r := gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 5}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				if _, err := m.Allow(t.Context(), fmt.Sprint(g, "-", i), r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := m.Len(); got > maxKeys {
		t.Errorf("Len = %d, want at most %d", got, maxKeys)
	}
}

// BenchmarkMemoryAllow measures one Allow, in parallel: on a table with
// room, and on a full one a flood of fresh keys keeps evicting from.
func BenchmarkMemoryAllow(b *testing.B) {
	r := gatehouse.Rate{Limit: 20, Period: time.Minute, Burst: 40}
	for _, bb := range []struct {
		name      string
		keys, max int
	}{{"Room", 10_000, 0}, {"Full", 200_000, 100_000}} {
		b.Run(bb.name, func(b *testing.B) {
			m := ratelimit.NewMemory(bb.max)
			keys := make([]string, bb.keys)
			for i := range keys {
				keys[i] = fmt.Sprintf("login:ip:198.51.%d.%d/32:%d", i/256%256, i%256, i)
			}
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Allow(b.Context(), keys[next.Add(1)%int64(len(keys))], r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
