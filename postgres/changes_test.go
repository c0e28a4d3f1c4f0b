package postgres_test

import (
	"context"
	"log"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

// Two pools on one database are two processes of one application.
func TestChangeFeed(t *testing.T) {
	t.Parallel()
	gatehousetest.TestChangeFeed(t, func(t *testing.T) (a, b gatehouse.ChangeFeed) {
		dbA := postgrestest.New(t)
		return postgres.NewChangeFeed(dbA), postgres.NewChangeFeed(openAgain(t, dbA.ConnStringForTest()))
	})
}

// openAgain opens a pool of its own on connString, closed when t ends.
func openAgain(t *testing.T, connString string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// testLogger sends a feed's log to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// A change NOTIFY cannot carry is refused before anything is sent, so the
// valid changes of the same call are not published either; the longest
// payload NOTIFY takes goes through.
func TestChangeFeedPayloads(t *testing.T) {
	t.Parallel()
	feed := postgres.NewChangeFeed(postgrestest.New(t))
	l := gatehousetest.ListenFeed(t, feed)
	l.WaitUp(true)
	valid := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "valid"}
	for _, bad := range []gatehouse.Change{
		{Kind: gatehouse.ChangeUser, Key: strings.Repeat("x", 8000-len("user:"))},
		{Kind: gatehouse.ChangeUser, Key: "nul\x00byte"},
		{Kind: gatehouse.ChangeUser, Key: "invalid \xff UTF-8"},
	} {
		err := feed.Publish(t.Context(), valid, bad)
		if gatehouse.ErrorCode(err) != gatehouse.CodeBadRequest {
			t.Errorf("Publish of a %d-byte change = %v, want %q", len(bad.String()), err, gatehouse.CodeBadRequest)
		}
	}
	longest := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: strings.Repeat("y", 7999-len("user:"))}
	if err := feed.Publish(t.Context(), longest); err != nil {
		t.Fatalf("Publish of a 7999-byte change: %v", err)
	}
	l.WaitChanges(longest)
}

// A notification on the channel that is not a change is skipped, and what
// follows it still arrives.
func TestChangeFeedMalformed(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	feed := postgres.NewChangeFeed(db)
	feed.Logger = testLogger(t)
	l := gatehousetest.ListenFeed(t, feed)
	l.WaitUp(true)
	if err := db.ExecForTest(t.Context(), `NOTIFY gatehouse_changes; NOTIFY gatehouse_changes, 'no-colon'; NOTIFY gatehouse_changes, ':no-kind'`); err != nil {
		t.Fatal(err)
	}
	c := gatehouse.Change{Kind: gatehouse.ChangeSession, Key: "s"}
	if err := feed.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	l.WaitChanges(c)
}

// When the server ends the listener's session (an administrator, a
// failover, a restart), the feed reports up(false) once, listens again on
// a new connection, reports up(true), and delivers again.
func TestChangeFeedTerminated(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	// The listener's pool gets a name of its own, so the test ends its
	// sessions only.
	const app = "gatehouse-change-listener"
	listener := postgres.NewChangeFeed(openAgain(t, withParam(t, db.ConnStringForTest(), "application_name", app)))
	listener.Logger = testLogger(t)
	publisher := postgres.NewChangeFeed(db)
	l := gatehousetest.ListenFeed(t, listener)
	l.WaitUp(true)
	for round := range 2 {
		before := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "before-" + strconv.Itoa(round)}
		if err := publisher.Publish(t.Context(), before); err != nil {
			t.Fatal(err)
		}
		l.WaitChange(before)

		err := db.ExecForTest(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = '`+app+`'`)
		if err != nil {
			t.Fatal(err)
		}
		l.WaitUp(false)
		l.WaitUp(true)
		after := gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "after-" + strconv.Itoa(round)}
		if err := publisher.Publish(t.Context(), after); err != nil {
			t.Fatal(err)
		}
		l.WaitChange(after)
	}
	if got, want := l.Ups(), []bool{true, false, true, false, true}; !slices.Equal(got, want) {
		t.Errorf("up was given %v, want %v: once per outage", got, want)
	}
}

// The listener's pool goes through a proxy; the publisher's, on the same
// database, reaches the server directly.
func TestChangeFeedOutages(t *testing.T) {
	t.Parallel()
	gatehousetest.TestChangeFeedOutages(t, func(t *testing.T, heartbeat time.Duration) gatehousetest.FeedOutage {
		connString := postgrestest.URL(t)
		proxied, proxy := throughProxy(t, connString)
		listener := postgres.NewChangeFeed(openAgain(t, proxied))
		listener.Heartbeat = heartbeat
		listener.Logger = testLogger(t)
		publisher := postgres.NewChangeFeed(openAgain(t, connString))
		return gatehousetest.FeedOutage{Listener: listener, Publisher: publisher, Link: proxy}
	})
}

// withParam returns connString with one more connection parameter.
func withParam(t *testing.T, connString, key, value string) string {
	t.Helper()
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			t.Fatal("bad URL")
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return connString + " " + key + "='" + value + "'"
}

// A server process listens to the feed to keep its caches true, and
// whatever changes a store publishes it.
func ExampleChangeFeed() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	feed := postgres.NewChangeFeed(db)

	go func() {
		_ = feed.Listen(ctx, func(c gatehouse.Change) {
			log.Printf("drop %s from the caches", c)
		}, func(up bool) {
			log.Printf("feed up: %v (while down, caches must not be trusted)", up)
		})
	}()

	err = feed.Publish(ctx, gatehouse.Change{Kind: gatehouse.ChangeUserRoles, Key: "0190a1b2-..."})
	if err != nil {
		log.Print(err) // CodeUnavailable: other processes may not have heard
	}
}
