package gatehouse

import (
	"context"
	"errors"
	"time"
)

// Limiter throttles events per key with the generic cell rate algorithm
// (GCRA): each key has a theoretical arrival time (TAT), the instant its
// allowance would be whole again. An event is allowed when, after adding
// one emission interval (Period/Limit) to the TAT, the TAT is at most
// Burst intervals ahead of now; it then stores the new TAT. A denied event
// stores nothing, so hammering a throttled key does not push its wait
// further. A key whose TAT has passed holds no state, which is why stores
// can forget it then (Redis sets the key's TTL to that instant).
//
// Implementations keep time in whole microseconds: what a Redis script can
// hold exactly in a Lua number. Every implementation passes
// gatehousetest.TestLimiter, so they agree to the microsecond.
//
// An error means the limiter could not decide (the store is down, the rate
// is invalid). Callers fail closed: the HTTP layer refuses the request
// with 503 Service Unavailable and never lets it through unthrottled.
type Limiter interface {
	// Allow takes one event from key's allowance if rate allows it now.
	Allow(ctx context.Context, key string, rate Rate) (Decision, error)
	// Peek reports what Allow would answer now, taking nothing.
	// Remaining counts the events Allow would allow in a row.
	Peek(ctx context.Context, key string, rate Rate) (Decision, error)
	// Reset forgets key, restoring its whole burst: a successful login
	// clears its failure counters this way. Resetting an unknown key is
	// not an error.
	Reset(ctx context.Context, key string) error
}

// Rate allows Limit events per Period on average, and up to Burst events
// at once after a quiet spell. Rate{Limit: 1, Period: time.Minute, Burst: 10}
// allows 10 events at once, then one a minute; a key left alone for 10
// minutes has its 10 back.
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// maxSpan bounds Burst × Interval, the longest a key can stay throttled
// and so the longest TTL a store sets. Ten years is beyond any sensible
// limit, and keeps microsecond times well inside the 2^53 a Lua number
// holds exactly.
const maxSpan = 10 * 365 * 24 * time.Hour

// Interval is the emission interval, Period/Limit rounded down to a whole
// microsecond: one event's worth of waiting.
func (r Rate) Interval() time.Duration {
	if r.Limit <= 0 {
		return 0
	}
	return (r.Period / time.Duration(r.Limit)).Truncate(time.Microsecond)
}

// Validate reports whether a limiter can apply r. Limiters call it on
// every decision; constructors of policies call it once, so a bad setting
// fails at start rather than on every request.
func (r Rate) Validate() error {
	switch {
	case r.Limit < 1:
		return errors.New("gatehouse: rate: Limit must be at least 1")
	case r.Period <= 0:
		return errors.New("gatehouse: rate: Period must be positive")
	case r.Burst < 1:
		return errors.New("gatehouse: rate: Burst must be at least 1")
	case r.Interval() < time.Microsecond:
		return errors.New("gatehouse: rate: Period/Limit must be at least a microsecond")
	case r.Interval() > maxSpan/time.Duration(r.Burst):
		return errors.New("gatehouse: rate: Burst × Period/Limit must be at most ten years")
	}
	return nil
}

// Decision is a Limiter's answer.
type Decision struct {
	// Allowed reports whether the event may happen.
	Allowed bool
	// RetryAfter is, when the event was denied, how long until the same
	// request would be allowed if nobody else spends the allowance
	// meanwhile; a Retry-After header carries it rounded up to whole
	// seconds. It is zero when the event was allowed.
	RetryAfter time.Duration
	// Remaining is how many more events are allowed at once right now.
	Remaining int
}
