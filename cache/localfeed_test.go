package cache_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
	"github.com/gatehouse/gatehouse/gatehousetest"
)

// recorder records what a feed delivers to one Listen.
type recorder struct {
	mu      sync.Mutex
	events  []string // "up", "down" or a change
	onEvent func(ev string)
}

func (r *recorder) changed(ch gatehouse.Change) { r.add(ch.String()) }

func (r *recorder) up(up bool) {
	if up {
		r.add("up")
	} else {
		r.add("down")
	}
}

func (r *recorder) add(ev string) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	f := r.onEvent
	r.mu.Unlock()
	if f != nil {
		f(ev)
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// listen runs feed.Listen for r until the test ends.
func listen(t *testing.T, feed *cache.LocalFeed, r *recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Listen(ctx, r.changed, r.up) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen = %v, want context.Canceled", err)
		}
	})
	waitFor(t, "Listen to be up", func() bool { return len(r.got()) > 0 })
}

func change(key string) gatehouse.Change {
	return gatehouse.Change{Kind: gatehouse.ChangeToken, Key: key}
}

func TestLocalFeedDelivers(t *testing.T) {
	var feed cache.LocalFeed // the zero value works
	if err := feed.Publish(t.Context(), change("before")); err != nil {
		t.Fatal(err)
	}
	var a, b recorder
	listen(t, &feed, &a)
	listen(t, &feed, &b)
	if err := feed.Publish(t.Context(), change("1"), change("2")); err != nil {
		t.Fatal(err)
	}
	want := []string{"up", "token:1", "token:2"}
	for _, r := range []*recorder{&a, &b} {
		waitFor(t, "the changes", func() bool { return len(r.got()) == len(want) })
		if got := r.got(); !slices.Equal(got, want) {
			t.Errorf("delivered %q, want %q", got, want)
		}
	}
}

// A listener publishing from its callback must not deadlock.
func TestLocalFeedPublishFromCallback(t *testing.T) {
	feed := cache.NewLocalFeed()
	r := &recorder{}
	r.onEvent = func(ev string) {
		if ev == "token:first" {
			_ = feed.Publish(context.Background(), change("second")) // a LocalFeed never fails
		}
	}
	listen(t, feed, r)
	if err := feed.Publish(t.Context(), change("first")); err != nil {
		t.Fatal(err)
	}
	want := []string{"up", "token:first", "token:second"}
	waitFor(t, "both changes", func() bool { return len(r.got()) == len(want) })
	if got := r.got(); !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

// A listener too far behind is told it missed changes, rather than
// queueing without end.
func TestLocalFeedOverflow(t *testing.T) {
	feed := cache.NewLocalFeed()
	r := &recorder{}
	blocked, unblock := make(chan struct{}), make(chan struct{})
	r.onEvent = func(ev string) {
		if ev == "token:first" {
			close(blocked)
			<-unblock
		}
	}
	listen(t, feed, r)
	if err := feed.Publish(t.Context(), change("first")); err != nil {
		t.Fatal(err)
	}
	<-blocked
	many := make([]gatehouse.Change, 20_000)
	for i := range many {
		many[i] = change("lost")
	}
	if err := feed.Publish(t.Context(), many...); err != nil {
		t.Fatal(err)
	}
	close(unblock)
	// Changes published until the listener has caught up are lost too, as
	// the down it is told of says.
	waitFor(t, "the listener to catch up", func() bool { return len(r.got()) == 4 })
	if err := feed.Publish(t.Context(), change("last")); err != nil {
		t.Fatal(err)
	}
	want := []string{"up", "token:first", "down", "up", "token:last"}
	waitFor(t, "the last change", func() bool { return slices.Contains(r.got(), "token:last") })
	if got := r.got(); !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

// TestLocalFeedConformance runs the ChangeFeed suite on a LocalFeed: the
// process is the medium, so both feeds are one.
func TestLocalFeedConformance(t *testing.T) {
	gatehousetest.TestChangeFeed(t, func(*testing.T) (a, b gatehouse.ChangeFeed) {
		f := cache.NewLocalFeed()
		return f, f
	})
}
