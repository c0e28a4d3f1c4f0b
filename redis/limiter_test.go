package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	gatehousetest.TestLimiter(t, func(t *testing.T, now func() time.Time) gatehouse.Limiter {
		l := redis.NewLimiter(redistest.New(t))
		l.Now = now
		return l
	})
}

// A key lives at <prefix>rate:<key> until its allowance is whole again,
// and no longer; a denied event leaves it as it was.
func TestLimiterKeys(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	ctx := t.Context()
	l := redis.NewLimiter(db)
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	l.Now = func() time.Time { return now }
	r := gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 2}
	for range 3 {
		if _, err := l.Allow(ctx, "login:ip:192.0.2.1/32", r); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, db.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	key := db.Prefix + "rate:login:ip:192.0.2.1/32"
	if len(keys) != 1 || keys[0] != key {
		t.Fatalf("keys %q, want [%q]", keys, key)
	}
	// Two events taken: whole again in two minutes. The TTL counts down
	// in real time meanwhile.
	ttl, err := raw.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl > 2*time.Minute || ttl < 2*time.Minute-5*time.Second {
		t.Errorf("TTL %v, want 2m (the time until the allowance is whole)", ttl)
	}
	if v, err := raw.Get(ctx, key).Result(); err != nil || v != fmt.Sprint(now.Add(2*time.Minute).UnixMicro()) {
		t.Errorf("value %q, %v; want the theoretical arrival time in unix microseconds", v, err)
	}
	if err := l.Reset(ctx, "login:ip:192.0.2.1/32"); err != nil {
		t.Fatal(err)
	}
	if n, err := raw.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Errorf("after Reset: Exists = %d, %v; want 0", n, err)
	}
}

// Without Now, the script reads the Redis server's clock.
func TestLimiterServerClock(t *testing.T) {
	t.Parallel()
	l := redis.NewLimiter(redistest.New(t))
	r := gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 2}
	for i, want := range []bool{true, true, false} {
		d, err := l.Allow(t.Context(), "k", r)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != want {
			t.Errorf("event %d: %+v, want Allowed %v", i, d, want)
		}
		if !want && (d.RetryAfter > time.Hour || d.RetryAfter < 59*time.Minute) {
			t.Errorf("event %d: RetryAfter %v, want just under an hour", i, d.RetryAfter)
		}
	}
}

// A key that does not hold a time is an error, never an allowance.
func TestLimiterCorruptKey(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	if err := rawClient(t).Set(t.Context(), db.Prefix+"rate:k", "not a time", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	d, err := redis.NewLimiter(db).Allow(t.Context(), "k", gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 1})
	if d.Allowed || gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Allow on a corrupt key = %+v, %v; want an error %q", d, err, gatehouse.CodeUnavailable)
	}
}

// With Redis gone, every call fails with CodeUnavailable within the
// client's short timeouts, and nothing is allowed (checklist F07).
func TestLimiterFailClosed(t *testing.T) {
	t.Parallel()
	db, proxy := proxied(t)
	ctx := t.Context()
	l := redis.NewLimiter(db)
	r := gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 1}
	if _, err := l.Allow(ctx, "k", r); err != nil {
		t.Fatal(err)
	}
	proxy.Stop()
	calls := []struct {
		name string
		call func() (gatehouse.Decision, error)
	}{
		{"Allow", func() (gatehouse.Decision, error) { return l.Allow(ctx, "other", r) }},
		{"Peek", func() (gatehouse.Decision, error) { return l.Peek(ctx, "other", r) }},
		{"Reset", func() (gatehouse.Decision, error) { return gatehouse.Decision{}, l.Reset(ctx, "k") }},
	}
	for _, c := range calls {
		start := time.Now()
		d, err := c.call()
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s with Redis down took %v", c.name, took)
		}
		if d.Allowed || gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			t.Errorf("%s with Redis down = %+v, %v; want an error %q", c.name, d, err, gatehouse.CodeUnavailable)
		}
	}
	proxy.Start()
}

// BenchmarkLimiterAllow measures one Allow: one script call, one round
// trip.
func BenchmarkLimiterAllow(b *testing.B) {
	l := redis.NewLimiter(redistest.New(b))
	r := gatehouse.Rate{Limit: 1_000_000, Period: time.Second, Burst: 1_000_000}
	ctx := b.Context()
	for b.Loop() {
		if _, err := l.Allow(ctx, "login:ip:192.0.2.1/32", r); err != nil {
			b.Fatal(err)
		}
	}
}
