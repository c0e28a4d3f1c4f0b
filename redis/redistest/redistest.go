// Package redistest gives tests a Redis key space of their own: a DB on the
// server named by GATEHOUSE_TEST_REDIS_URL whose keys start with a random
// prefix, deleted when the test ends. Tests never flush a database, so
// they can share a server with each other and with anything else.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/redis"
)

// envURL names the environment variable holding the URL of a Redis server
// tests may write to, such as redis://127.0.0.1:6379/0.
const envURL = "GATEHOUSE_TEST_REDIS_URL"

// New returns a DB on the server of GATEHOUSE_TEST_REDIS_URL with a prefix
// of its own. Without the variable the test is skipped; with it, a server
// that cannot be reached fails the test, so a broken CI setup is not
// mistaken for a pass.
func New(tb testing.TB) *redis.DB {
	tb.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		tb.Skip("set " + envURL + "=redis://127.0.0.1:6379/0 to run Redis tests")
	}
	return NewAt(tb, u)
}

// NewAt is New for an explicit redis://, rediss:// or unix:// URL, such as
// one through a proxy; it never skips. Its keys are deleted through the
// same URL, so a test that stops a proxy should start it again before it
// ends.
func NewAt(tb testing.TB, url string) *redis.DB {
	tb.Helper()
	var b [8]byte
	rand.Read(b[:])
	prefix := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"

	// A client of its own deletes the keys: DB does not expose its client,
	// and must be closed by then anyway.
	opts, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	cleaner := goredis.NewClient(opts)
	tb.Cleanup(func() {
		defer cleaner.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deletePrefix(ctx, cleaner, prefix); err != nil {
			tb.Errorf("redistest: delete keys %s*: %v", prefix, err)
		}
	})

	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	db, err := redis.Open(ctx, url)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	db.Prefix = prefix
	tb.Cleanup(func() { _ = db.Close() }) // runs before the keys are deleted
	return db
}

// deletePrefix deletes every key that starts with prefix. The prefix is
// random hex and colons, so it needs no escaping in a MATCH pattern.
func deletePrefix(ctx context.Context, c *goredis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return c.Del(ctx, keys...).Err()
}
