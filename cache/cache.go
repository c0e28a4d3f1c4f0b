// Package cache keeps the answers of the stores in memory, so that checking
// a request's token costs no store round trip, while every server instance
// still refuses a token the moment any instance revoked it.
//
// A Cache wraps the stores asked on every request (Revocations, UserStore,
// SessionStore, TokenStore, RoleStore, APIKeyStore) and listens to a
// gatehouse.ChangeFeed: Redis pub/sub or PostgreSQL LISTEN/NOTIFY between
// processes, or a LocalFeed within one. A write through a wrapper goes to
// the store, then to the feed, and every Cache on the feed drops what the
// change makes stale.
//
// A feed loses messages while its subscription is down, so a Cache trusts
// what it holds only while the feed has been up since the answer was read:
// before Run's subscription is in place, and whenever the feed reports it
// lost, every read goes to the store and nothing is kept; each change of
// state drops everything. No entry is trusted longer than Options.TTL
// either, which bounds changes made behind the feed's back (a manual SQL
// update, a store written by a program without a Cache).
//
//	feed := cache.NewLocalFeed() // or a Redis or PostgreSQL feed
//	c := cache.New(feed, cache.Options{})
//	go c.Run(ctx)
//	users := c.Users(sqlite.NewUserStore(db))
//
// Every instance sharing the stores must write through a Cache on the same
// feed: an instance writing to the stores directly leaves the others
// trusting stale answers until their TTL ends.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Defaults of Options.
const (
	DefaultTTL  = 10 * time.Second
	DefaultSize = 100_000
)

// publishTimeout bounds a Publish after a write. It does not follow the
// request's context: a client hanging up right after a logout must not keep
// the other instances from hearing of it.
const publishTimeout = 5 * time.Second

// Options configure a Cache. The zero value is usable.
type Options struct {
	// TTL is the longest any answer is trusted, default DefaultTTL. It
	// bounds how long a change made behind the feed's back goes unseen.
	TTL time.Duration
	// Size is how many answers each wrapper keeps at most, default
	// DefaultSize. A full wrapper forgets an arbitrary answer for each new
	// one.
	Size int
	// Now is the clock entries expire by, default time.Now.
	Now func() time.Time
	// Logger hears of the feed going up and down and of failed publishes;
	// default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Cache did, for metrics and tests.
type Stats struct {
	Hits   uint64 // reads answered from memory
	Misses uint64 // reads that went to a store
	Up     bool   // whether the feed is up, so that answers are kept
	// Entries is how many answers are held, all wrappers together,
	// expired ones not yet overwritten included.
	Entries int
}

// Cache holds answers of the stores while its feed is up. Its wrappers
// (Revocations, Users, Sessions, Tokens, Roles, APIKeys) are safe for
// concurrent use; answers are kept only while Run is running.
type Cache struct {
	feed gatehouse.ChangeFeed
	ttl  time.Duration
	size int
	now  func() time.Time
	log  *slog.Logger

	running      atomic.Bool
	up           atomic.Bool
	hits, misses atomic.Uint64

	mu     sync.RWMutex
	tables []invalidator // one for each wrapper made
}

// invalidator is what each wrapper does with the changes it hears of.
type invalidator interface {
	// changed drops what ch makes stale, or everything if it cannot tell.
	changed(ch gatehouse.Change)
	// reset drops everything.
	reset()
	// len is how many answers are held.
	len() int
}

// New returns a Cache listening to feed once Run is called. It panics if
// feed is nil: without a feed nothing could ever be trusted.
func New(feed gatehouse.ChangeFeed, opts Options) *Cache {
	if feed == nil {
		panic("cache: New: nil ChangeFeed")
	}
	c := &Cache{feed: feed, ttl: opts.TTL, size: opts.Size, now: opts.Now, log: opts.Logger}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.size <= 0 {
		c.size = DefaultSize
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// Run listens to the feed until ctx ends, and then returns ctx's error.
// Until the feed first reports it is up, and after Run returns, the Cache
// keeps nothing and every read goes to the store. Only one Run may run at
// a time: two would interleave their feeds' states.
func (c *Cache) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("cache: Run is already running")
	}
	defer c.running.Store(false)
	// Once Listen has returned no change is heard any more. Not through
	// setUp: stopping is no outage to warn of.
	defer func() {
		c.up.Store(false)
		c.each(invalidator.reset)
	}()
	return c.feed.Listen(ctx, c.changed, c.setUp)
}

// Stats returns the counts so far.
func (c *Cache) Stats() Stats {
	s := Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Up: c.up.Load()}
	c.each(func(t invalidator) { s.Entries += t.len() })
	return s
}

// setUp is the feed's up callback. Changes may have been missed before
// either transition (while down, or before the subscription was in place),
// so everything held is dropped both ways.
func (c *Cache) setUp(up bool) {
	// The flag is stored before the tables are reset: an answer inserted
	// in between is dropped by the reset, and one inserted afterwards
	// meets the new flag and the new epochs.
	was := c.up.Swap(up)
	c.each(invalidator.reset)
	switch {
	case up && !was:
		c.log.LogAttrs(context.Background(), slog.LevelInfo, "cache: change feed up; keeping answers")
	case !up && was:
		c.log.LogAttrs(context.Background(), slog.LevelWarn, "cache: change feed down; every read goes to the stores")
	}
}

// changed is the feed's changed callback, and applies this instance's own
// writes before they are published.
func (c *Cache) changed(ch gatehouse.Change) {
	c.each(func(t invalidator) { t.changed(ch) })
}

func (c *Cache) each(f func(invalidator)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, t := range c.tables {
		f(t)
	}
}

func (c *Cache) register(t invalidator) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tables = append(c.tables, t)
}

// expiry is when an answer read now stops being trusted: after the TTL, or
// at limit (the thing's own expiry) if that is sooner.
func (c *Cache) expiry(limit time.Time) time.Time {
	e := c.now().Add(c.ttl)
	if !limit.IsZero() && limit.Before(e) {
		return limit
	}
	return e
}

func (c *Cache) hit()  { c.hits.Add(1) }
func (c *Cache) miss() { c.misses.Add(1) }

// publish applies changes made by this instance here, then tells the other
// instances. An error (CodeUnavailable) means some of them may trust stale
// answers until their TTL ends.
func (c *Cache) publish(ctx context.Context, changes ...gatehouse.Change) error {
	if len(changes) == 0 {
		return nil
	}
	for _, ch := range changes {
		c.changed(ch)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := c.feed.Publish(pctx, changes...); err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "cache: cannot publish a change; other instances trust what it changed until their TTL ends",
			slog.String("change", changes[0].String()), slog.Int("changes", len(changes)), slog.Any("error", err))
		return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: fmt.Errorf("cache: publish %s: %w", changes[0], err)}
	}
	return nil
}

// wrote finishes a write the store answered with err. Unless err's code is
// one of unchanged (the store documents that nothing changed), changes are
// applied and published, also after other errors: a write that timed out
// may have been committed. The store's error wins; after a successful
// write, a failed publish is the error, since the caller must not believe
// every instance knows.
func (c *Cache) wrote(ctx context.Context, err error, unchanged []gatehouse.Code, changes ...gatehouse.Change) error {
	if err != nil && slices.Contains(unchanged, gatehouse.ErrorCode(err)) {
		return err
	}
	perr := c.publish(ctx, changes...)
	if err != nil {
		return err
	}
	return perr
}

func notFound() error { return &gatehouse.Error{Code: gatehouse.CodeNotFound} }

// changeID parses the key of a change that names an ID. ok is false for a
// malformed one, which the caller answers by dropping everything.
func changeID(ch gatehouse.Change) (gatehouse.ID, bool) {
	id, err := gatehouse.ParseID(ch.Key)
	return id, err == nil
}
