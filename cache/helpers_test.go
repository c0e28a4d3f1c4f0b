package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testFeed is a gatehouse.ChangeFeed the test drives: it reports up or
// down and delivers changes when told, on Listen's goroutine, and returns
// once they were delivered. Publish delivers the same way, so a write has
// been heard when it returns, unless Publish is set to fail.
type testFeed struct {
	calls chan func(changed func(gatehouse.Change), up func(bool))

	mu        sync.Mutex
	published []gatehouse.Change
	err       error // what Publish returns, if set
}

func newTestFeed() *testFeed {
	return &testFeed{calls: make(chan func(func(gatehouse.Change), func(bool)))}
}

func (f *testFeed) Listen(ctx context.Context, changed func(gatehouse.Change), up func(bool)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case call := <-f.calls:
			call(changed, up)
		}
	}
}

// do runs call on Listen's goroutine and waits for it.
func (f *testFeed) do(call func(changed func(gatehouse.Change), up func(bool))) {
	done := make(chan struct{})
	f.calls <- func(changed func(gatehouse.Change), up func(bool)) {
		defer close(done)
		call(changed, up)
	}
	<-done
}

func (f *testFeed) setUp(up bool) { f.do(func(_ func(gatehouse.Change), u func(bool)) { u(up) }) }

func (f *testFeed) send(changes ...gatehouse.Change) {
	f.do(func(changed func(gatehouse.Change), _ func(bool)) {
		for _, ch := range changes {
			changed(ch)
		}
	})
}

func (f *testFeed) Publish(_ context.Context, changes ...gatehouse.Change) error {
	f.mu.Lock()
	err := f.err
	if err == nil {
		f.published = append(f.published, changes...)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.send(changes...)
	return nil
}

func (f *testFeed) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// takePublished returns what was published since the last call.
func (f *testFeed) takePublished() []gatehouse.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.published
	f.published = nil
	return p
}

// start runs a Cache on feed until the test ends.
func start(t *testing.T, feed gatehouse.ChangeFeed, opts cache.Options) *cache.Cache {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	c := cache.New(feed, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
	return c
}

// startUp runs a Cache on a testFeed that is up, with a clock of its own
// and a TTL of a minute.
func startUp(t *testing.T) (*cache.Cache, *testFeed, *clock) {
	t.Helper()
	feed, clk := newTestFeed(), newClock()
	c := start(t, feed, cache.Options{TTL: time.Minute, Now: clk.Now})
	feed.setUp(true)
	return c, feed, clk
}

// waitFor polls cond until it holds, failing the test after a while: for
// what a LocalFeed delivers on another goroutine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// render prints an answer or its error's code, for comparing.
func render(v any, err error) string {
	if err != nil {
		return "error " + string(gatehouse.ErrorCode(err))
	}
	return fmt.Sprint(v)
}

// probe is one wrapper over a fake, as the tests common to all wrappers
// see it: a read, the fake's count of reads, and three ways of changing
// the answer.
type probe struct {
	read  func(ctx context.Context) string
	reads func() int
	// hold makes the fake's next read wait (see counter.hold).
	hold func() (asked <-chan struct{}, release func())
	// alter changes the answer in the fake, behind the cache's back;
	// change is the Change that announces it.
	alter  func()
	change gatehouse.Change
	// write changes the answer through the wrapper.
	write func(ctx context.Context) error
	// before, altered and written are the answers before and after alter
	// and write.
	before, altered, written string
}

// subject makes a fake with one thing in it and returns how to wrap it.
type subject struct {
	name  string
	setup func(clk *clock) func(c *cache.Cache) probe
}

var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

func subjects() []subject {
	return []subject{
		{"Revocations", func(clk *clock) func(*cache.Cache) probe {
			store := newFakeRevocations(clk.Now)
			return func(c *cache.Cache) probe {
				w := c.Revocations(store)
				return probe{
					read:  func(ctx context.Context) string { return render(w.Revoked(ctx, "jti")) },
					reads: store.reads, hold: store.hold,
					alter:  func() { _ = store.Revoke(context.Background(), "jti", farFuture) }, // the fake never fails
					change: gatehouse.Change{Kind: gatehouse.ChangeRevocation, Key: "jti"},
					write:  func(ctx context.Context) error { return w.Revoke(ctx, "jti", farFuture) },
					before: "false", altered: "true", written: "true",
				}
			}
		}},
		{"Users", func(*clock) func(*cache.Cache) probe {
			store := newFakeUsers()
			u := &gatehouse.User{Email: "a@example.com"}
			_ = store.CreateUser(context.Background(), u) // the fake never fails
			return func(c *cache.Cache) probe {
				w := c.Users(store)
				email := "c@example.com"
				return probe{
					read: func(ctx context.Context) string {
						got, err := w.FindUserByID(ctx, u.ID)
						if err != nil {
							return render(nil, err)
						}
						return got.Email
					},
					reads: store.reads, hold: store.hold,
					alter:  func() { store.set(u.ID, "b@example.com") },
					change: gatehouse.Change{Kind: gatehouse.ChangeUser, Key: u.ID.String()},
					write: func(ctx context.Context) error {
						_, err := w.UpdateUser(ctx, u.ID, gatehouse.UserUpdate{Email: &email})
						return err
					},
					before: "a@example.com", altered: "b@example.com", written: email,
				}
			}
		}},
		{"Sessions", func(clk *clock) func(*cache.Cache) probe {
			store := newFakeSessions()
			now := clk.Now()
			s := gatehouse.Session{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Backend: "jwt", CreatedAt: now,
				LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)}
			_ = store.CreateSession(context.Background(), s, "rt") // the fake never fails
			return func(c *cache.Cache) probe {
				w := c.Sessions(store)
				return probe{
					read: func(ctx context.Context) string {
						got, err := w.FindSession(ctx, s.ID, clk.Now())
						if err != nil {
							return render(nil, err)
						}
						return "live until " + got.IdleExpiresAt.Format(time.TimeOnly)
					},
					reads: store.reads, hold: store.hold,
					alter:  func() { store.end(s.ID) },
					change: gatehouse.Change{Kind: gatehouse.ChangeSession, Key: s.ID.String()},
					write:  func(ctx context.Context) error { return w.EndSession(ctx, s.ID) },
					before: "live until 04:04:05", altered: "error Not Found", written: "error Not Found",
				}
			}
		}},
		{"Tokens", func(clk *clock) func(*cache.Cache) probe {
			store := newFakeTokens(clk.Now)
			now := clk.Now()
			rec := gatehouse.TokenRecord{Hash: "h1", UserID: gatehouse.NewID(), CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
			_ = store.CreateToken(context.Background(), rec) // the fake never fails
			return func(c *cache.Cache) probe {
				w := c.Tokens(store)
				return probe{
					read: func(ctx context.Context) string {
						got, err := w.FindToken(ctx, rec.Hash)
						if err != nil {
							return render(nil, err)
						}
						return "token " + got.Hash
					},
					reads: store.reads, hold: store.hold,
					alter:  func() { _ = store.DeleteToken(context.Background(), rec.Hash) }, // the fake never fails
					change: gatehouse.Change{Kind: gatehouse.ChangeToken, Key: rec.Hash},
					write:  func(ctx context.Context) error { return w.DeleteToken(ctx, rec.Hash) },
					before: "token h1", altered: "error Not Found", written: "error Not Found",
				}
			}
		}},
		{"Roles", func(*clock) func(*cache.Cache) probe {
			store := newFakeRoles()
			user := gatehouse.NewID()
			store.set(user, "editor")
			store.set(gatehouse.NewID(), "viewer")
			return func(c *cache.Cache) probe {
				w := c.Roles(store)
				return probe{
					read: func(ctx context.Context) string {
						got, err := w.UserRoles(ctx, user)
						var names []string
						for _, r := range got {
							names = append(names, r.Name)
						}
						return render(names, err)
					},
					reads: store.reads, hold: store.hold,
					alter:  func() { store.set(user, "admin") },
					change: gatehouse.Change{Kind: gatehouse.ChangeUserRoles, Key: user.String()},
					write:  func(ctx context.Context) error { return w.SetUserRoles(ctx, user, []string{"viewer"}) },
					before: "[editor]", altered: "[admin]", written: "[viewer]",
				}
			}
		}},
		{"APIKeys", func(clk *clock) func(*cache.Cache) probe {
			store := newFakeAPIKeys()
			now := clk.Now()
			k := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Name: "ci", Hash: "k1",
				Scopes: []string{"articles:read"}, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
			_ = store.CreateAPIKey(context.Background(), k) // the fake never fails
			return func(c *cache.Cache) probe {
				w := c.APIKeys(store)
				return probe{
					read: func(ctx context.Context) string {
						got, err := w.FindAPIKey(ctx, k.Hash, clk.Now())
						if err != nil {
							return render(nil, err)
						}
						return "key " + got.Name
					},
					reads: store.reads, hold: store.hold,
					alter:  func() { store.delete(k.ID) },
					change: gatehouse.Change{Kind: gatehouse.ChangeAPIKey, Key: k.ID.String()},
					write:  func(ctx context.Context) error { return w.DeleteAPIKey(ctx, k.UserID, k.ID) },
					before: "key ci", altered: "error Not Found", written: "error Not Found",
				}
			}
		}},
	}
}

// wantRead checks p's answer and how many reads reached the fake so far.
func wantRead(t *testing.T, p probe, what, want string, reads int) {
	t.Helper()
	if got := p.read(t.Context()); got != want {
		t.Errorf("%s: read = %q, want %q", what, got, want)
	}
	if got := p.reads(); got != reads {
		t.Errorf("%s: the store was read %d times, want %d", what, got, reads)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
