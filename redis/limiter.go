package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.Limiter = (*Limiter)(nil)

// Limiter is a gatehouse.Limiter that every server instance shares. Each
// key is <prefix>rate:<key>, holding its theoretical arrival time in unix
// microseconds, with a TTL ending when the allowance is whole again, so
// idle keys disappear by themselves.
//
// One Lua script decides and writes, so parallel requests on one key are
// counted exactly (checklist F06), and a key lives on one node of a
// Cluster. Redis errors are CodeUnavailable errors: the caller refuses the
// request, never lets it through (checklist F07).
//
// Unlike the other stores, Limiter does not use DB.Now: by default the
// script reads the clock of the Redis server (TIME). The stores compare
// expiries minutes or days away, where the skew between instances' clocks
// does not matter; a limiter compares instants a fraction of a second
// apart, and instances whose clocks disagree by a second would let more
// through, or fewer, than the rate says. One clock per key avoids that.
type Limiter struct {
	// Now, when set, is the clock of every decision instead of the Redis
	// server's: tests set it, to move time without sleeping.
	Now func() time.Time

	db *DB
}

// NewLimiter returns a Limiter on db, on the Redis server's clock.
func NewLimiter(db *DB) *Limiter { return &Limiter{db: db} }

// limitScript is GCRA as ratelimit.Memory does it (ratelimit/memory.go),
// in microseconds. Lua numbers are doubles: times, intervals and spans
// stay below 2^53 (gatehouse.Rate.Validate bounds a span to ten years), so
// all of it is exact, free/interval included. A value Redis converts to a
// string it writes in full ("%.17g"), not in Lua's 14 digits.
//
// KEYS[1] is the key. ARGV: the interval, the burst, "1" to take an event
// or "0" to peek, and now ("" for the server's TIME). It returns
// {allowed (0 or 1), retry after, remaining}.
var limitScript = goredis.NewScript(`
local now
if ARGV[4] == '' then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
	now = tonumber(ARGV[4])
end
local interval = tonumber(ARGV[1])
local span = interval * tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
	tat = tonumber(stored)
	if not tat then
		return redis.error_reply('ERR rate limiter key does not hold a time')
	end
	if tat < now then
		tat = now
	end
end
local free = span - (tat - now)
local cells = math.floor(free / interval)
if cells < 1 then
	return {0, interval - free, 0}
end
if ARGV[3] == '0' then
	return {1, 0, cells}
end
tat = tat + interval
redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000))
return {1, 0, cells - 1}
`)

// Allow implements gatehouse.Limiter.
func (l *Limiter) Allow(ctx context.Context, key string, rate gatehouse.Rate) (gatehouse.Decision, error) {
	return l.decide(ctx, "allow", key, rate, "1")
}

// Peek implements gatehouse.Limiter.
func (l *Limiter) Peek(ctx context.Context, key string, rate gatehouse.Rate) (gatehouse.Decision, error) {
	return l.decide(ctx, "peek", key, rate, "0")
}

// Reset implements gatehouse.Limiter.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.db.client.Del(ctx, l.db.key("rate", key)).Err(); err != nil {
		return l.fail("reset", err)
	}
	return nil
}

func (l *Limiter) decide(ctx context.Context, op, key string, rate gatehouse.Rate, take string) (gatehouse.Decision, error) {
	if err := rate.Validate(); err != nil {
		return gatehouse.Decision{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	now := ""
	if l.Now != nil {
		now = strconv.FormatInt(l.Now().UnixMicro(), 10)
	}
	res, err := limitScript.Run(ctx, l.db.client, []string{l.db.key("rate", key)},
		rate.Interval().Microseconds(), rate.Burst, take, now).Int64Slice()
	if err != nil {
		return gatehouse.Decision{}, l.fail(op, err)
	}
	if len(res) != 3 {
		return gatehouse.Decision{}, l.fail(op, fmt.Errorf("script answered %d values, want 3", len(res)))
	}
	return gatehouse.Decision{
		Allowed:    res[0] == 1,
		RetryAfter: time.Duration(res[1]) * time.Microsecond,
		Remaining:  int(res[2]),
	}, nil
}

// fail makes every error CodeUnavailable: whatever went wrong, the limiter
// could not decide, and the request must wait rather than pass.
func (l *Limiter) fail(op string, err error) error {
	return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: fmt.Errorf("redis: %s: %w", op, err)}
}
