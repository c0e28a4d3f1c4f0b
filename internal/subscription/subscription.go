// Package subscription keeps a change feed's subscription alive for the
// stores' gatehouse.ChangeFeed implementations (Redis pub/sub, PostgreSQL
// LISTEN/NOTIFY): it runs one attempt after another, with a doubling pause
// between them, and reports each outage and each recovery exactly once.
package subscription

import (
	"context"
	"time"
)

// Bounds of the pause between two attempts: short, as caches distrust what
// they hold while a feed is down, and doubling, so that a server that is
// gone for long is not hammered by every process.
const (
	MinPause = 50 * time.Millisecond
	MaxPause = 2 * time.Second
)

// Keep runs attempt until ctx ends and then returns ctx's error. An
// attempt subscribes, calls confirmed once the subscription is in place,
// delivers what it hears, and returns why it stopped. Keep calls up(true)
// on the first confirmation after a start or an outage, and down(err) then
// up(false) when an attempt ends other than by ctx, or fails before its
// first confirmation; each once per outage.
func Keep(ctx context.Context, attempt func(ctx context.Context, confirmed func()) error, up func(bool), down func(error)) error {
	var reported, isUp bool
	pause := MinPause
	confirmed := func() {
		if !reported || !isUp {
			reported, isUp = true, true
			up(true)
		}
		pause = MinPause
	}
	for {
		err := attempt(ctx, confirmed)
		if Ended(ctx) {
			return ctx.Err()
		}
		if !reported || isUp {
			down(err)
			reported, isUp = true, false
			up(false)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, MaxPause)
	}
}

// Ended reports whether ctx has ended, counting a deadline that has passed
// though its timer has not fired yet: a read cut short by ctx's deadline
// can fail before ctx.Err() is set, and must not pass for an outage. When
// Ended reports true, ctx.Err() is set.
func Ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done() // a matter of microseconds
		return true
	}
	return false
}
