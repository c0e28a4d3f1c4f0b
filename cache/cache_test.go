package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
)

// TestHit checks that an answer held is given without asking the store.
func TestHit(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			c, _, clk := startUp(t)
			p := s.setup(clk)(c)
			wantRead(t, p, "first read", p.before, 1)
			wantRead(t, p, "second read", p.before, 1)
			if st := c.Stats(); st.Hits != 1 || st.Misses != 1 || !st.Up || st.Entries != 1 {
				t.Errorf("Stats = %+v, want 1 hit, 1 miss, up, 1 entry", st)
			}
		})
	}
}

// TestDown checks that nothing is kept before the feed is up or while it
// is down, and that what was held before it went down is gone after.
func TestDown(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			feed, clk := newTestFeed(), newClock()
			c := start(t, feed, cache.Options{TTL: time.Hour, Now: clk.Now})
			p := s.setup(clk)(c)
			// Not up yet.
			wantRead(t, p, "read before up", p.before, 1)
			wantRead(t, p, "second read before up", p.before, 2)

			feed.setUp(true)
			wantRead(t, p, "read once up", p.before, 3)
			wantRead(t, p, "second read once up", p.before, 3)

			feed.setUp(false)
			wantRead(t, p, "read while down", p.before, 4)
			wantRead(t, p, "second read while down", p.before, 5)
			if st := c.Stats(); st.Up || st.Entries != 0 {
				t.Errorf("Stats while down = %+v, want down and no entry", st)
			}

			// A change missed while down is seen once up again.
			p.alter()
			feed.setUp(true)
			wantRead(t, p, "read up again", p.altered, 6)
			wantRead(t, p, "second read up again", p.altered, 6)
		})
	}
}

// TestUpAgainDrops checks that an up without a down before it (a
// reconnection the feed noticed late) drops everything too.
func TestUpAgainDrops(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			c, feed, clk := startUp(t)
			p := s.setup(clk)(c)
			wantRead(t, p, "first read", p.before, 1)
			p.alter()
			feed.setUp(true)
			wantRead(t, p, "read after up", p.altered, 2)
		})
	}
}

// TestChange checks that a change heard from the feed drops the answer
// it names, and that without one the answer is kept (stale, within the
// TTL, as for changes made behind the feed's back).
func TestChange(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			c, feed, clk := startUp(t)
			p := s.setup(clk)(c)
			wantRead(t, p, "first read", p.before, 1)
			p.alter()
			wantRead(t, p, "read after an unannounced change", p.before, 1)
			feed.send(p.change)
			wantRead(t, p, "read after the change", p.altered, 2)
			wantRead(t, p, "second read after the change", p.altered, 2)
		})
	}
}

// TestWrite checks that a write through a wrapper is seen at once, here
// and, through the feed, by the other instances.
func TestWrite(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			c, feed, clk := startUp(t)
			p := s.setup(clk)(c)
			wantRead(t, p, "first read", p.before, 1)
			if err := p.write(t.Context()); err != nil {
				t.Fatalf("write: %v", err)
			}
			wantRead(t, p, "read after the write", p.written, 2)
			if got := feed.takePublished(); len(got) != 1 || got[0] != p.change {
				t.Errorf("published %v, want [%v]", got, p.change)
			}
		})
	}
}

// TestTwoInstances runs two Caches on one LocalFeed over one store: what
// one writes, the other sees.
func TestTwoInstances(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			feed, clk := cache.NewLocalFeed(), newClock()
			wrap := s.setup(clk)
			opts := cache.Options{TTL: time.Hour, Now: clk.Now}
			a, b := start(t, feed, opts), start(t, feed, opts)
			waitFor(t, "both caches up", func() bool { return a.Stats().Up && b.Stats().Up })
			pa, pb := wrap(a), wrap(b)
			wantRead(t, pb, "b's first read", pb.before, 1)
			wantRead(t, pb, "b's second read", pb.before, 1)
			if err := pa.write(t.Context()); err != nil {
				t.Fatalf("a's write: %v", err)
			}
			waitFor(t, "b to hear of a's write", func() bool { return pb.read(t.Context()) == pb.written })
		})
	}
}

// TestTTL checks that no answer is trusted longer than the TTL.
func TestTTL(t *testing.T) {
	for _, s := range subjects() {
		t.Run(s.name, func(t *testing.T) {
			feed, clk := newTestFeed(), newClock()
			c := start(t, feed, cache.Options{TTL: 10 * time.Second, Now: clk.Now})
			feed.setUp(true)
			p := s.setup(clk)(c)
			wantRead(t, p, "first read", p.before, 1)
			p.alter()
			clk.Add(10*time.Second - time.Nanosecond)
			wantRead(t, p, "read just before the TTL ends", p.before, 1)
			clk.Add(time.Nanosecond)
			wantRead(t, p, "read once the TTL ended", p.altered, 2)
		})
	}
}

// TestDefaultTTL checks the TTL of the zero Options.
func TestDefaultTTL(t *testing.T) {
	feed, clk := newTestFeed(), newClock()
	c := start(t, feed, cache.Options{Now: clk.Now})
	feed.setUp(true)
	p := subjects()[1].setup(clk)(c)
	wantRead(t, p, "first read", p.before, 1)
	clk.Add(cache.DefaultTTL - time.Nanosecond)
	wantRead(t, p, "read just before the TTL ends", p.before, 1)
	clk.Add(time.Nanosecond)
	wantRead(t, p, "read once the TTL ended", p.before, 2)
}

// TestReadRace checks the epoch guard: a read that asked the store before
// a change (or a state change of the feed) was heard, and got its answer
// after, must not keep that answer, which may predate the change.
func TestReadRace(t *testing.T) {
	tests := []struct {
		name string
		// during runs while the read waits for the store.
		during func(p probe, feed *testFeed)
		// kept says whether the read's answer may be kept.
		kept bool
	}{
		{"Nothing", func(probe, *testFeed) {}, true},
		{"Change", func(p probe, feed *testFeed) { feed.send(p.change) }, false},
		{"OtherChange", func(_ probe, feed *testFeed) {
			feed.send(gatehouse.Change{Kind: "unknown", Key: "x"})
		}, true},
		{"Down", func(_ probe, feed *testFeed) { feed.setUp(false) }, false},
		{"DownUp", func(_ probe, feed *testFeed) { feed.setUp(false); feed.setUp(true) }, false},
	}
	for _, s := range subjects() {
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				c, feed, clk := startUp(t)
				p := s.setup(clk)(c)
				asked, release := p.hold()
				got := make(chan string, 1)
				go func() { got <- p.read(context.Background()) }()
				<-asked
				tt.during(p, feed)
				release()
				if g := <-got; g != p.before {
					t.Errorf("the held read = %q, want %q", g, p.before)
				}
				// The next read shows whether the held read's answer was
				// kept.
				if tt.name == "Down" {
					feed.setUp(true)
				}
				reads := 2
				if tt.kept {
					reads = 1
				}
				wantRead(t, p, "the next read", p.before, reads)
			})
		}
	}
}
