package gatehousetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// feedDeadline bounds every wait for a feed's asynchronous work (a
// subscription, a delivery, Listen returning). Feeds answer in
// milliseconds; the margin is for a loaded CI machine.
const feedDeadline = 10 * time.Second

// TestChangeFeed checks that a gatehouse.ChangeFeed reports up(true) once
// its subscription is in place, so that a change published from then on
// reaches it; that a change published on one feed reaches listeners on
// the other feed and on the publishing feed itself; that the changes of
// one Publish all arrive, in order, as do those of successive calls; that
// kinds and keys round-trip exactly, whatever their characters; that
// Listen returns ctx's error once ctx ends; and that it calls nothing
// after it has returned.
//
// open must return two feeds on a medium of their own (one Redis prefix,
// one PostgreSQL database), as two processes sharing it would have: the
// suite expects to receive exactly what it publishes. Changes are
// distinct within a Publish, so a feed may collapse identical ones (as
// PostgreSQL NOTIFY does within a transaction).
func TestChangeFeed(t *testing.T, open func(t *testing.T) (a, b gatehouse.ChangeFeed)) {
	tests := []struct {
		name string
		run  func(t *testing.T, a, b gatehouse.ChangeFeed)
	}{
		{"Up", testFeedUp},
		{"Delivery", testFeedDelivery},
		{"Order", testFeedOrder},
		{"Keys", testFeedKeys},
		{"TwoListeners", testFeedTwoListeners},
		{"Cancel", testFeedCancel},
		{"Deadline", testFeedDeadline},
		{"NothingAfterReturn", testFeedNothingAfterReturn},
		{"PublishNothing", testFeedPublishNothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tt.run(t, a, b)
		})
	}
}

// FeedListener records what a ChangeFeed's Listen reports, for tests of a
// feed that go beyond TestChangeFeed, such as losing the connection.
// Waits poll the records, with a deadline, rather than sleeping.
type FeedListener struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Listen's result, once done is closed

	mu      sync.Mutex
	changes []gatehouse.Change
	ups     []bool
	event   chan struct{} // has a value when something was recorded since the last wait

	inCall   atomic.Bool // a callback is running: a second one means two goroutines call
	returned atomic.Bool // Listen has returned: any callback now is a failure
}

// ListenFeed starts f.Listen on a goroutine of its own, with a context that
// ends with the test or at Stop. The test fails if Listen has not
// returned feedDeadline after that.
func ListenFeed(t *testing.T, f gatehouse.ChangeFeed) *FeedListener {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &FeedListener{t: t, cancel: cancel, done: make(chan struct{}), event: make(chan struct{}, 1)}
	go func() {
		defer close(l.done)
		l.err = f.Listen(ctx, l.changed, l.up)
		l.returned.Store(true)
	}()
	t.Cleanup(func() { _ = l.Stop() }) // a test that wants the result calls Stop itself
	return l
}

// enter checks that callbacks come one at a time and only while Listen
// runs; leave ends the callback and wakes a waiter.
func (l *FeedListener) enter(what string) {
	if l.returned.Load() {
		l.t.Errorf("%s called after Listen returned", what)
	}
	if !l.inCall.CompareAndSwap(false, true) {
		l.t.Errorf("%s called while another callback runs: Listen must call them from one goroutine", what)
	}
}

func (l *FeedListener) leave() {
	l.inCall.Store(false)
	select {
	case l.event <- struct{}{}:
	default:
	}
}

func (l *FeedListener) changed(c gatehouse.Change) {
	l.enter("changed")
	defer l.leave()
	l.mu.Lock()
	l.changes = append(l.changes, c)
	l.mu.Unlock()
}

func (l *FeedListener) up(v bool) {
	l.enter("up")
	defer l.leave()
	l.mu.Lock()
	l.ups = append(l.ups, v)
	l.mu.Unlock()
}

// Changes returns what changed has been given so far.
func (l *FeedListener) Changes() []gatehouse.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.changes)
}

// Ups returns what up has been given so far, in order.
func (l *FeedListener) Ups() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ups)
}

// wait polls cond until it holds or the deadline passes, and reports
// which.
func (l *FeedListener) wait(cond func() bool) bool {
	deadline := time.NewTimer(feedDeadline)
	defer deadline.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-l.event:
		case <-l.done: // nothing more will come
			return cond()
		case <-deadline.C:
			return cond()
		}
	}
}

// WaitUps waits until up has been given n values in all and returns the
// latest one. The test fails if that takes longer than feedDeadline.
func (l *FeedListener) WaitUps(n int) bool {
	l.t.Helper()
	if !l.wait(func() bool { return len(l.Ups()) >= n }) {
		l.t.Fatalf("up was called %d times (%v), want at least %d", len(l.Ups()), l.Ups(), n)
	}
	ups := l.Ups()
	return ups[n-1]
}

// WaitUp waits until the latest value up was given is want.
func (l *FeedListener) WaitUp(want bool) {
	l.t.Helper()
	if !l.wait(func() bool { ups := l.Ups(); return len(ups) > 0 && ups[len(ups)-1] == want }) {
		l.t.Fatalf("up(%v) was not called within %v; up was given %v", want, feedDeadline, l.Ups())
	}
}

// WaitChanges waits until changed has been given exactly want, in order,
// since the listener started.
func (l *FeedListener) WaitChanges(want ...gatehouse.Change) {
	l.t.Helper()
	l.wait(func() bool { return len(l.Changes()) >= len(want) })
	if got := l.Changes(); !slices.Equal(got, want) {
		l.t.Fatalf("changes delivered within %v:\n%s\nwant:\n%s", feedDeadline, formatChanges(got), formatChanges(want))
	}
}

// WaitChange waits until changed has been given c, whatever else it was
// given: for feeds that may have lost changes while down.
func (l *FeedListener) WaitChange(c gatehouse.Change) {
	l.t.Helper()
	if !l.wait(func() bool { return slices.Contains(l.Changes(), c) }) {
		l.t.Fatalf("%q not delivered within %v; got:\n%s", c.String(), feedDeadline, formatChanges(l.Changes()))
	}
}

// Stop ends Listen's context and returns what Listen returned. The test
// fails if Listen does not return within feedDeadline.
func (l *FeedListener) Stop() error {
	l.t.Helper()
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(feedDeadline):
		l.t.Fatalf("Listen did not return %v after its context ended", feedDeadline)
	}
	return l.err
}

func formatChanges(cs []gatehouse.Change) string {
	if len(cs) == 0 {
		return "\t(none)"
	}
	lines := make([]string, len(cs))
	for i, c := range cs {
		lines[i] = fmt.Sprintf("\t%q", c.String())
	}
	return strings.Join(lines, "\n")
}

// publish calls f.Publish and fails the test on an error.
func publish(t *testing.T, f gatehouse.ChangeFeed, changes ...gatehouse.Change) {
	t.Helper()
	if err := f.Publish(t.Context(), changes...); err != nil {
		t.Fatalf("Publish(%d changes): %v", len(changes), err)
	}
}

// The first thing a listener on a healthy medium reports is up(true).
func testFeedUp(t *testing.T, a, _ gatehouse.ChangeFeed) {
	l := ListenFeed(t, a)
	if !l.WaitUps(1) {
		t.Errorf("up was first given false on a healthy medium: %v", l.Ups())
	}
}

// A change published once up(true) has been reported reaches every
// listener, the publisher's own included: the process that wrote a change
// keeps caches too.
func testFeedDelivery(t *testing.T, a, b gatehouse.ChangeFeed) {
	la, lb := ListenFeed(t, a), ListenFeed(t, b)
	la.WaitUp(true)
	lb.WaitUp(true)
	c1 := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: gatehouse.NewID().String()}
	publish(t, a, c1)
	la.WaitChanges(c1)
	lb.WaitChanges(c1)
	c2 := gatehouse.Change{Kind: gatehouse.ChangeRevocation, Key: "jti-" + gatehouse.NewID().String()}
	publish(t, b, c2)
	la.WaitChanges(c1, c2)
	lb.WaitChanges(c1, c2)
}

// The changes of one Publish arrive in order, and so do those of
// successive calls.
func testFeedOrder(t *testing.T, a, b gatehouse.ChangeFeed) {
	lb := ListenFeed(t, b)
	lb.WaitUp(true)
	var want []gatehouse.Change
	batch := func(n int) []gatehouse.Change {
		cs := make([]gatehouse.Change, n)
		for i := range cs {
			cs[i] = gatehouse.Change{Kind: gatehouse.ChangeSession, Key: fmt.Sprintf("s-%03d", len(want)+i)}
		}
		want = append(want, cs...)
		return cs
	}
	publish(t, a, batch(50)...)
	publish(t, a, batch(1)...)
	publish(t, a, batch(10)...)
	lb.WaitChanges(want...)
}

// Kinds and keys come back exactly: separators inside keys, empty keys,
// any Unicode, and characters that mean something to a shell, a glob, a
// URL or SQL.
func testFeedKeys(t *testing.T, a, b gatehouse.ChangeFeed) {
	changes := []gatehouse.Change{
		{Kind: gatehouse.ChangeRoles, Key: ""},
		{Kind: gatehouse.ChangeUser, Key: "a:b:c"},
		{Kind: gatehouse.ChangeUserRoles, Key: ":"},
		{Kind: gatehouse.ChangeToken, Key: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{Kind: gatehouse.ChangeRevocation, Key: "héllo wörld ✓ 日本語 🔑"},
		{Kind: gatehouse.ChangeSession, Key: " leading and trailing spaces "},
		{Kind: gatehouse.ChangeUserTokens, Key: "tab\tnew\nline\r\\"},
		{Kind: gatehouse.ChangeUser, Key: `'"; DROP TABLE users; --`},
		{Kind: gatehouse.ChangeUser, Key: "*?[a-z]{x}%_$1&amp;"},
		{Kind: gatehouse.ChangeUser, Key: strings.Repeat("long-", 1000)},
		{Kind: "a-kind-of-the-future", Key: "k"},
	}
	lb := ListenFeed(t, b)
	lb.WaitUp(true)
	publish(t, a, changes...)
	lb.WaitChanges(changes...)
}

// Two listeners on one feed each hear everything.
func testFeedTwoListeners(t *testing.T, a, b gatehouse.ChangeFeed) {
	l1, l2 := ListenFeed(t, b), ListenFeed(t, b)
	l1.WaitUp(true)
	l2.WaitUp(true)
	c := gatehouse.Change{Kind: gatehouse.ChangeUserRoles, Key: gatehouse.NewID().String()}
	publish(t, a, c)
	l1.WaitChanges(c)
	l2.WaitChanges(c)
}

// Listen returns the context's error promptly once it is cancelled, up or
// not.
func testFeedCancel(t *testing.T, a, _ gatehouse.ChangeFeed) {
	l := ListenFeed(t, a)
	l.WaitUp(true)
	if err := l.Stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Listen after cancel = %v, want %v", err, context.Canceled)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Listen(ctx, func(gatehouse.Change) {}, func(bool) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Listen with a cancelled context = %v, want %v", err, context.Canceled)
	}
}

// Listen returns DeadlineExceeded when its context times out.
func testFeedDeadline(t *testing.T, a, _ gatehouse.ChangeFeed) {
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Listen(ctx, func(gatehouse.Change) {}, func(bool) {}) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Listen after its deadline = %v, want %v", err, context.DeadlineExceeded)
		}
	case <-time.After(feedDeadline):
		t.Fatalf("Listen did not return %v after its deadline", feedDeadline)
	}
}

// Once Listen has returned it calls nothing: a change that a listener
// still running receives never reaches the stopped one.
func testFeedNothingAfterReturn(t *testing.T, a, b gatehouse.ChangeFeed) {
	stopped, live := ListenFeed(t, b), ListenFeed(t, b)
	stopped.WaitUp(true)
	live.WaitUp(true)
	c1 := gatehouse.Change{Kind: gatehouse.ChangeToken, Key: "before"}
	publish(t, a, c1)
	stopped.WaitChanges(c1)
	if err := stopped.Stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Listen after cancel = %v, want %v", err, context.Canceled)
	}
	c2 := gatehouse.Change{Kind: gatehouse.ChangeToken, Key: "after"}
	publish(t, a, c2)
	live.WaitChanges(c1, c2)
	// The callbacks themselves fail the test if called after the return;
	// this checks nothing slipped in just before it either.
	if got := stopped.Changes(); !slices.Equal(got, []gatehouse.Change{c1}) {
		t.Errorf("the stopped listener got:\n%s\nwant only %q", formatChanges(got), c1.String())
	}
}

// Publishing no change is no error.
func testFeedPublishNothing(t *testing.T, a, _ gatehouse.ChangeFeed) {
	if err := a.Publish(t.Context()); err != nil {
		t.Errorf("Publish() = %v, want nil", err)
	}
}

// FeedOutage is what TestChangeFeedOutages needs of a store: two feeds on
// one medium of their own, the listener's connection going through a link
// the test can break and the publisher's not.
type FeedOutage struct {
	// Listener is the feed the test listens to; Link carries its
	// connections. The suite also publishes on it, while the link is up.
	Listener gatehouse.ChangeFeed
	// Publisher reaches the medium directly, so it can publish while
	// the listener's link is down.
	Publisher gatehouse.ChangeFeed
	Link      FeedLink
}

// FeedLink is the link between a listener and its medium: a TCP proxy in
// the stores' tests.
type FeedLink interface {
	// Stop cuts every connection and refuses new ones; Start accepts
	// them again.
	Stop()
	Start()
	// Silence(true) keeps connections open but passes nothing over them,
	// as after a network partition; Silence(false) passes bytes again.
	Silence(on bool)
}

// TestChangeFeedOutages checks how a gatehouse.ChangeFeed lives through
// losing its medium: that it reports up(false) once per outage however
// many attempts to listen again fail, and up(true) and delivers again once
// the medium is back; that a healthy feed stays up across heartbeats; and
// that the heartbeat notices a silent connection within about
// 2×Heartbeat.
//
// open must return a FeedOutage whose listener has the given heartbeat (0
// for the feed's default), on a medium of its own.
func TestChangeFeedOutages(t *testing.T, open func(t *testing.T, heartbeat time.Duration) FeedOutage) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T, heartbeat time.Duration) FeedOutage)
	}{
		{"Reconnect", testFeedReconnect},
		{"Quiet", testFeedQuiet},
		{"SilentConnection", testFeedSilentConnection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open)
		})
	}
}

// When the medium vanishes, the listener's connection cut and new ones
// refused (a restart, a proxy or firewall dropping it), the feed reports
// up(false) once, listens again when the medium is back, reports
// up(true), and delivers again.
func testFeedReconnect(t *testing.T, open func(t *testing.T, heartbeat time.Duration) FeedOutage) {
	o := open(t, 0)
	l := ListenFeed(t, o.Listener)
	l.WaitUp(true)
	for round := range 2 {
		before := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "before-" + strconv.Itoa(round)}
		publish(t, o.Publisher, before)
		l.WaitChange(before)

		o.Link.Stop()
		l.WaitUp(false)
		// Not a wait for anything: an outage long enough for several
		// attempts to listen (subscribe) again to fail, each of which must
		// not report up(false) again.
		time.Sleep(500 * time.Millisecond)
		o.Link.Start()
		l.WaitUp(true)
		after := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "after-" + strconv.Itoa(round)}
		publish(t, o.Publisher, after)
		l.WaitChange(after)
	}
	if got, want := l.Ups(), []bool{true, false, true, false, true}; !slices.Equal(got, want) {
		t.Errorf("up was given %v, want %v: once per outage", got, want)
	}
}

// A healthy feed that carries nothing stays up: its heartbeats are
// answered.
func testFeedQuiet(t *testing.T, open func(t *testing.T, heartbeat time.Duration) FeedOutage) {
	const heartbeat = 200 * time.Millisecond
	feed := open(t, heartbeat).Listener
	l := ListenFeed(t, feed)
	l.WaitUp(true)
	// Not a wait for anything: seeing that nothing happens takes time, here
	// several heartbeats.
	time.Sleep(10 * heartbeat)
	c := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "still-here"}
	publish(t, feed, c)
	l.WaitChanges(c)
	if got := l.Ups(); !slices.Equal(got, []bool{true}) {
		t.Errorf("up was given %v while the server was there, want [true]", got)
	}
}

// A connection that goes silent without closing, as after a network
// partition, is noticed by the heartbeat within about 2×Heartbeat.
func testFeedSilentConnection(t *testing.T, open func(t *testing.T, heartbeat time.Duration) FeedOutage) {
	const heartbeat = 250 * time.Millisecond
	o := open(t, heartbeat)
	l := ListenFeed(t, o.Listener)
	l.WaitUp(true)
	o.Link.Silence(true)
	start := time.Now()
	l.WaitUp(false)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a silent connection was noticed after %v, with a heartbeat of %v", d, heartbeat)
	}
	o.Link.Silence(false)
	l.WaitUp(true)
	c := gatehouse.Change{Kind: gatehouse.ChangeToken, Key: "after"}
	publish(t, o.Publisher, c)
	l.WaitChange(c)
}
