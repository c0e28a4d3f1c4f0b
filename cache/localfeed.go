package cache

import (
	"context"
	"sync"

	"github.com/gatehouse/gatehouse"
)

// maxPending bounds the changes waiting for one listener of a LocalFeed.
// A listener further behind is told it missed some (up false, then true),
// which makes a Cache drop everything, instead of queueing without end.
const maxPending = 10_000

// LocalFeed is a gatehouse.ChangeFeed within one process, for a server
// that runs alone (SQLite). Publish never blocks and never fails: it
// queues changes for every Listen under way, each of which delivers them
// on its own goroutine, so a listener may publish from its changed
// callback. Listen is up as soon as it is called.
//
// The zero value is ready to use.
type LocalFeed struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

var _ gatehouse.ChangeFeed = (*LocalFeed)(nil)

// NewLocalFeed returns an empty LocalFeed.
func NewLocalFeed() *LocalFeed { return &LocalFeed{} }

type subscriber struct {
	mu       sync.Mutex
	queue    []gatehouse.Change
	overflow bool          // changes were dropped since the last delivery
	wake     chan struct{} // holds one token while there is something to do
}

// Publish queues changes for every current listener. Listeners that have
// not started yet, or have stopped, do not hear of them.
func (f *LocalFeed) Publish(_ context.Context, changes ...gatehouse.Change) error {
	if len(changes) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.push(changes)
	}
	return nil
}

func (s *subscriber) push(changes []gatehouse.Change) {
	s.mu.Lock()
	switch {
	case s.overflow:
	case len(s.queue)+len(changes) > maxPending:
		s.overflow, s.queue = true, nil
	default:
		s.queue = append(s.queue, changes...)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // already woken
	}
}

// Listen calls up(true), then delivers every change published until ctx
// ends, and returns ctx's error. Both callbacks run on Listen's goroutine.
func (f *LocalFeed) Listen(ctx context.Context, changed func(gatehouse.Change), up func(bool)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &subscriber{wake: make(chan struct{}, 1)}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*subscriber]struct{})
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}()
	// Subscribed before reporting up: whatever is published from now on is
	// delivered.
	up(true)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		}
		s.mu.Lock()
		queue, overflow := s.queue, s.overflow
		s.queue, s.overflow = nil, false
		s.mu.Unlock()
		if overflow {
			up(false)
			up(true)
			continue
		}
		for _, ch := range queue {
			changed(ch)
		}
	}
}
