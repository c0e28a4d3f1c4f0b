package redis_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// Two DBs on one prefix are two processes of one application.
func TestChangeFeed(t *testing.T) {
	t.Parallel()
	gatehousetest.TestChangeFeed(t, func(t *testing.T) (a, b gatehouse.ChangeFeed) {
		dbA := redistest.New(t)
		dbB := redistest.NewAt(t, os.Getenv(envURL))
		dbB.Prefix = dbA.Prefix
		return redis.NewChangeFeed(dbA), redis.NewChangeFeed(dbB)
	})
}

// Feeds on different prefixes do not hear each other.
func TestChangeFeedPrefix(t *testing.T) {
	t.Parallel()
	mine, other := redis.NewChangeFeed(redistest.New(t)), redis.NewChangeFeed(redistest.New(t))
	l := gatehousetest.ListenFeed(t, mine)
	l.WaitUp(true)
	theirs := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "theirs"}
	if err := other.Publish(t.Context(), theirs); err != nil {
		t.Fatal(err)
	}
	ours := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "ours"}
	if err := mine.Publish(t.Context(), ours); err != nil {
		t.Fatal(err)
	}
	l.WaitChanges(ours)
}

// A message on the channel that is not a change is skipped, and what
// follows it still arrives.
func TestChangeFeedMalformed(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	feed := redis.NewChangeFeed(db)
	feed.Logger = testLogger(t)
	l := gatehousetest.ListenFeed(t, feed)
	l.WaitUp(true)
	raw := rawClient(t)
	for _, m := range []string{"", "no-colon", ":no-kind"} {
		if err := raw.Publish(t.Context(), db.Prefix+"changes", m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c := gatehouse.Change{Kind: gatehouse.ChangeSession, Key: "s"}
	if err := feed.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	l.WaitChanges(c)
}

// Publishing with Redis gone answers CodeUnavailable.
func TestChangeFeedPublishUnavailable(t *testing.T) {
	t.Parallel()
	db, proxy := proxied(t)
	feed := redis.NewChangeFeed(db)
	proxy.Stop()
	defer proxy.Start() // redistest deletes the keys through the proxy
	for _, n := range []int{1, 3} {
		err := feed.Publish(t.Context(), make([]gatehouse.Change, n)...)
		if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			t.Errorf("Publish of %d changes with Redis down: %v, want %q", n, err, gatehouse.CodeUnavailable)
		}
	}
}

// The listener's connection goes through a proxy; the publisher, on the
// same prefix, reaches Redis directly.
func TestChangeFeedOutages(t *testing.T) {
	t.Parallel()
	gatehousetest.TestChangeFeedOutages(t, func(t *testing.T, heartbeat time.Duration) gatehousetest.FeedOutage {
		db, proxy := proxied(t)
		listener := redis.NewChangeFeed(db)
		listener.Heartbeat = heartbeat
		listener.Logger = testLogger(t)
		publisherDB := redistest.New(t)
		publisherDB.Prefix = db.Prefix
		return gatehousetest.FeedOutage{Listener: listener, Publisher: redis.NewChangeFeed(publisherDB), Link: proxy}
	})
}

// testLogger sends a feed's log to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// A server process listens to the feed to keep its caches true, and
// whatever changes a store publishes it.
func ExampleChangeFeed() {
	ctx := context.Background()
	db, err := redis.Open(ctx, os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	feed := redis.NewChangeFeed(db)

	go func() {
		_ = feed.Listen(ctx, func(c gatehouse.Change) {
			log.Printf("drop %s from the caches", c)
		}, func(up bool) {
			log.Printf("feed up: %v (while down, caches must not be trusted)", up)
		})
	}()

	err = feed.Publish(ctx, gatehouse.Change{Kind: gatehouse.ChangeRevocation, Key: "jti-123"})
	if err != nil {
		log.Print(err) // CodeUnavailable: other processes may not have heard
	}
}
