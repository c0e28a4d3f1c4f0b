package redis_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/redis"
)

// A Limiter shares its counts between every server instance using the
// same Redis; keys expire by themselves once their allowance is whole.
func ExampleNewLimiter() {
	ctx := context.Background()
	db, err := redis.Open(ctx, os.Getenv("REDIS_URL")) // redis://127.0.0.1:6379/0
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	limiter := redis.NewLimiter(db) // a gatehouse.Limiter, on the Redis server's clock
	d, err := limiter.Allow(ctx, "forgot:ip:192.0.2.1/32", gatehouse.Rate{Limit: 5, Period: time.Minute, Burst: 10})
	if err != nil {
		log.Fatal(err) // CodeUnavailable: refuse the request (503), never skip the limit
	}
	if !d.Allowed {
		log.Printf("429, Retry-After: %v", d.RetryAfter)
	}
}
