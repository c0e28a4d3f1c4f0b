package gatehousetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestLimiter checks that a gatehouse.Limiter does GCRA to the
// microsecond: a burst, then one event per interval; denied events take
// nothing; an idle key refills; Peek takes nothing; Reset restores the
// burst; keys are compared exactly; parallel events on one key are
// counted exactly; invalid rates are errors, never an allowance.
//
// open must return a new, empty limiter whose clock is now. Every rate
// the suite uses keeps a key for at least 10 s, so a store that expires
// keys in real time (Redis) still has them while the suite's clock stands
// still.
func TestLimiter(t *testing.T, open func(t *testing.T, now func() time.Time) gatehouse.Limiter) {
	tests := []struct {
		name string
		run  func(t *testing.T, l gatehouse.Limiter, clk *clock)
	}{
		{"Burst", testLimiterBurst},
		{"Refill", testLimiterRefill},
		{"DeniedTakesNothing", testLimiterDeniedTakesNothing},
		{"Idle", testLimiterIdle},
		{"Peek", testLimiterPeek},
		{"Reset", testLimiterReset},
		{"ExactKeys", testLimiterExactKeys},
		{"Intervals", testLimiterIntervals},
		{"ClockBackwards", testLimiterClockBackwards},
		{"Concurrent", testLimiterConcurrent},
		{"InvalidRate", testLimiterInvalidRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			tt.run(t, open(t, clk.Now), clk)
		})
	}
}

// rate6s allows 5 events at once, then one every 6 s.
var rate6s = gatehouse.Rate{Limit: 10, Period: time.Minute, Burst: 5}

func allow(t *testing.T, l gatehouse.Limiter, key string, r gatehouse.Rate, want gatehouse.Decision) {
	t.Helper()
	d, err := l.Allow(t.Context(), key, r)
	if err != nil {
		t.Fatalf("Allow(%q, %+v): %v", key, r, err)
	}
	if d != want {
		t.Errorf("Allow(%q, %+v) = %+v, want %+v", key, r, d, want)
	}
}

func peek(t *testing.T, l gatehouse.Limiter, key string, r gatehouse.Rate, want gatehouse.Decision) {
	t.Helper()
	d, err := l.Peek(t.Context(), key, r)
	if err != nil {
		t.Fatalf("Peek(%q, %+v): %v", key, r, err)
	}
	if d != want {
		t.Errorf("Peek(%q, %+v) = %+v, want %+v", key, r, d, want)
	}
}

func allowed(remaining int) gatehouse.Decision {
	return gatehouse.Decision{Allowed: true, Remaining: remaining}
}

func denied(retryAfter time.Duration) gatehouse.Decision {
	return gatehouse.Decision{RetryAfter: retryAfter}
}

// exhaust spends key's whole burst of rate6s.
func exhaust(t *testing.T, l gatehouse.Limiter, key string) {
	t.Helper()
	for i := rate6s.Burst - 1; i >= 0; i-- {
		allow(t, l, key, rate6s, allowed(i))
	}
}

func testLimiterBurst(t *testing.T, l gatehouse.Limiter, _ *clock) {
	exhaust(t, l, "k")
	allow(t, l, "k", rate6s, denied(6*time.Second))
}

func testLimiterRefill(t *testing.T, l gatehouse.Limiter, clk *clock) {
	exhaust(t, l, "k")
	clk.Add(6*time.Second - time.Microsecond)
	allow(t, l, "k", rate6s, denied(time.Microsecond))
	clk.Add(time.Microsecond)
	allow(t, l, "k", rate6s, allowed(0))
	allow(t, l, "k", rate6s, denied(6*time.Second))
	// Two intervals refill two events, and no more.
	clk.Add(12 * time.Second)
	allow(t, l, "k", rate6s, allowed(1))
	allow(t, l, "k", rate6s, allowed(0))
	allow(t, l, "k", rate6s, denied(6*time.Second))
	// Less than an interval refills nothing but counts.
	clk.Add(4 * time.Second)
	allow(t, l, "k", rate6s, denied(2*time.Second))
}

func testLimiterDeniedTakesNothing(t *testing.T, l gatehouse.Limiter, clk *clock) {
	exhaust(t, l, "k")
	for range 20 {
		allow(t, l, "k", rate6s, denied(6*time.Second))
	}
	clk.Add(6 * time.Second)
	allow(t, l, "k", rate6s, allowed(0))
}

func testLimiterIdle(t *testing.T, l gatehouse.Limiter, clk *clock) {
	exhaust(t, l, "k")
	// Burst × interval later the key is whole again.
	clk.Add(30 * time.Second)
	allow(t, l, "k", rate6s, allowed(4))
	// A long sleep does not bank more than the burst.
	clk.Add(365 * 24 * time.Hour)
	exhaust(t, l, "k")
	allow(t, l, "k", rate6s, denied(6*time.Second))
}

func testLimiterPeek(t *testing.T, l gatehouse.Limiter, clk *clock) {
	peek(t, l, "k", rate6s, allowed(5))
	peek(t, l, "k", rate6s, allowed(5))
	allow(t, l, "k", rate6s, allowed(4))
	allow(t, l, "k", rate6s, allowed(3))
	peek(t, l, "k", rate6s, allowed(3))
	allow(t, l, "k", rate6s, allowed(2))
	allow(t, l, "k", rate6s, allowed(1))
	allow(t, l, "k", rate6s, allowed(0))
	peek(t, l, "k", rate6s, denied(6*time.Second))
	clk.Add(time.Second)
	peek(t, l, "k", rate6s, denied(5*time.Second))
	clk.Add(5 * time.Second)
	peek(t, l, "k", rate6s, allowed(1))
	allow(t, l, "k", rate6s, allowed(0))
}

func testLimiterReset(t *testing.T, l gatehouse.Limiter, _ *clock) {
	exhaust(t, l, "k")
	exhaust(t, l, "other")
	if err := l.Reset(t.Context(), "k"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	allow(t, l, "k", rate6s, allowed(4))
	allow(t, l, "other", rate6s, denied(6*time.Second))
	if err := l.Reset(t.Context(), "never-seen"); err != nil {
		t.Errorf("Reset of an unknown key: %v", err)
	}
	peek(t, l, "never-seen", rate6s, allowed(5))
}

func testLimiterExactKeys(t *testing.T, l gatehouse.Limiter, _ *clock) {
	const key = "login:ip:{192.0.2.1/32}*"
	exhaust(t, l, key)
	allow(t, l, key, rate6s, denied(6*time.Second))
	for _, k := range []string{"LOGIN:ip:{192.0.2.1/32}*", "login:ip:{192.0.2.1/32}", "login:ip:{192.0.2.1/32}* ", "login:ip:*", ""} {
		allow(t, l, k, rate6s, allowed(4))
	}
}

func testLimiterIntervals(t *testing.T, l gatehouse.Limiter, clk *clock) {
	tests := []struct {
		rate     gatehouse.Rate
		interval time.Duration
	}{
		// A third of a second is 333333 µs: intervals are whole microseconds.
		{gatehouse.Rate{Limit: 3, Period: time.Second, Burst: 100}, 333333 * time.Microsecond},
		{gatehouse.Rate{Limit: 7, Period: time.Minute, Burst: 3}, 8571428 * time.Microsecond},
		{gatehouse.Rate{Limit: 100, Period: 24 * time.Hour, Burst: 1}, 864 * time.Second},
		{gatehouse.Rate{Limit: 1, Period: 30 * 24 * time.Hour, Burst: 1}, 30 * 24 * time.Hour},
	}
	for i, tt := range tests {
		if got := tt.rate.Interval(); got != tt.interval {
			t.Errorf("%+v.Interval() = %v, want %v", tt.rate, got, tt.interval)
		}
		key := string(rune('a' + i))
		for n := tt.rate.Burst - 1; n >= 0; n-- {
			allow(t, l, key, tt.rate, allowed(n))
		}
		allow(t, l, key, tt.rate, denied(tt.interval))
		clk.Add(tt.interval - time.Microsecond)
		allow(t, l, key, tt.rate, denied(time.Microsecond))
		clk.Add(time.Microsecond)
		allow(t, l, key, tt.rate, allowed(0))
	}
}

func testLimiterClockBackwards(t *testing.T, l gatehouse.Limiter, clk *clock) {
	exhaust(t, l, "k")
	clk.Add(-time.Minute)
	allow(t, l, "k", rate6s, denied(time.Minute+6*time.Second))
	clk.Add(time.Minute + 6*time.Second)
	allow(t, l, "k", rate6s, allowed(0))
}

// Parallel events on one key are counted exactly: the burst, then nothing.
func testLimiterConcurrent(t *testing.T, l gatehouse.Limiter, _ *clock) {
	const n, burst = 50, 10
	r := gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: burst}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			d, err := l.Allow(t.Context(), "k", r)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			if d.Allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != burst {
		t.Errorf("%d of %d parallel events allowed, want the burst, %d", got, n, burst)
	}
}

func testLimiterInvalidRate(t *testing.T, l gatehouse.Limiter, _ *clock) {
	for _, r := range []gatehouse.Rate{
		{},
		{Limit: 0, Period: time.Minute, Burst: 1},
		{Limit: -1, Period: time.Minute, Burst: 1},
		{Limit: 1, Period: 0, Burst: 1},
		{Limit: 1, Period: -time.Minute, Burst: 1},
		{Limit: 1, Period: time.Minute, Burst: 0},
		{Limit: 1, Period: time.Minute, Burst: -3},
		{Limit: 2, Period: time.Microsecond, Burst: 1},             // an interval under a microsecond
		{Limit: 1, Period: 11 * 365 * 24 * time.Hour, Burst: 1},    // over ten years
		{Limit: 1, Period: 24 * time.Hour, Burst: 10 * 365 * 24},   // a burst spanning over ten years
		{Limit: 1, Period: time.Duration(1 << 62), Burst: 1 << 40}, // overflows
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", r)
		}
		if d, err := l.Allow(t.Context(), "k", r); err == nil || d.Allowed {
			t.Errorf("Allow with %+v = %+v, %v; want an error", r, d, err)
		}
		if d, err := l.Peek(t.Context(), "k", r); err == nil || d.Allowed {
			t.Errorf("Peek with %+v = %+v, %v; want an error", r, d, err)
		}
	}
	// The key was not touched.
	peek(t, l, "k", rate6s, allowed(5))
}
