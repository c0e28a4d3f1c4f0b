package redis_test

import (
	"context"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/internal/tcpproxy"
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

// When the listener's connection is cut (Redis restarted, a proxy or
// firewall dropped it), the feed reports up(false) once, subscribes again
// when Redis is back, reports up(true), and delivers again.
func TestChangeFeedReconnect(t *testing.T) {
	t.Parallel()
	db, proxy := proxied(t)
	listener := redis.NewChangeFeed(db)
	listener.Logger = testLogger(t)
	publisherDB := redistest.New(t)
	publisherDB.Prefix = db.Prefix
	publisher := redis.NewChangeFeed(publisherDB)

	l := gatehousetest.ListenFeed(t, listener)
	l.WaitUp(true)
	for round := range 2 {
		before := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "before-" + string(rune('0'+round))}
		if err := publisher.Publish(t.Context(), before); err != nil {
			t.Fatal(err)
		}
		l.WaitChange(before)

		proxy.Stop()
		l.WaitUp(false)
		// Not a wait for anything: an outage long enough for several
		// attempts to subscribe again to fail, each of which must not
		// report up(false) again.
		time.Sleep(500 * time.Millisecond)
		proxy.Start()
		l.WaitUp(true)
		after := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "after-" + string(rune('0'+round))}
		if err := publisher.Publish(t.Context(), after); err != nil {
			t.Fatal(err)
		}
		l.WaitChange(after)
	}
	if got, want := l.Ups(), []bool{true, false, true, false, true}; !slices.Equal(got, want) {
		t.Errorf("up was given %v, want %v: once per outage", got, want)
	}
}

// A healthy feed that carries nothing stays up: its heartbeats are
// answered.
func TestChangeFeedQuiet(t *testing.T) {
	t.Parallel()
	feed := redis.NewChangeFeed(redistest.New(t))
	feed.Heartbeat = 200 * time.Millisecond
	feed.Logger = testLogger(t)
	l := gatehousetest.ListenFeed(t, feed)
	l.WaitUp(true)
	// Not a wait for anything: seeing that nothing happens takes time, here
	// several heartbeats.
	time.Sleep(10 * feed.Heartbeat)
	c := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "still-here"}
	if err := feed.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	l.WaitChanges(c)
	if got := l.Ups(); !slices.Equal(got, []bool{true}) {
		t.Errorf("up was given %v while the server was there, want [true]", got)
	}
}

// A connection that goes silent without closing, as after a network
// partition, is noticed by the heartbeat within about 2×Heartbeat.
func TestChangeFeedSilentConnection(t *testing.T) {
	t.Parallel()
	u := proxiedURL(t)
	silencer := tcpproxy.New(t, u.Host)
	u.Host = silencer.Addr()
	db := redistest.NewAt(t, u.String())
	listener := redis.NewChangeFeed(db)
	listener.Heartbeat = 250 * time.Millisecond
	listener.Logger = testLogger(t)
	publisherDB := redistest.New(t)
	publisherDB.Prefix = db.Prefix
	publisher := redis.NewChangeFeed(publisherDB)

	l := gatehousetest.ListenFeed(t, listener)
	l.WaitUp(true)
	silencer.Silence(true)
	start := time.Now()
	l.WaitUp(false)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a silent connection was noticed after %v, with a heartbeat of %v", d, listener.Heartbeat)
	}
	silencer.Silence(false)
	l.WaitUp(true)
	c := gatehouse.Change{Kind: gatehouse.ChangeToken, Key: "after"}
	if err := publisher.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	l.WaitChange(c)
}

// testLogger sends a feed's log to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// proxiedURL is the test server's URL, for tests that put something of
// their own in front of it.
func proxiedURL(t *testing.T) *url.URL {
	t.Helper()
	env := os.Getenv(envURL)
	if env == "" {
		t.Skip("set " + envURL + "=redis://127.0.0.1:6379/0 to run Redis tests")
	}
	u, err := url.Parse(env)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		t.Skipf("%s is not a redis:// or rediss:// URL: cannot put a proxy in front of it", envURL)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "6379")
	}
	return u
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
