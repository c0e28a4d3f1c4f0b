package redis_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/redis"
)

// Open connects to Redis; the stores it makes share the connections. A URL
// may name one server, a Sentinel-managed master
// (redis-sentinel://s1:26379,s2:26379/mymaster) or a Cluster
// (redis-cluster://n1:6379,n2:6379).
func ExampleOpen() {
	ctx := context.Background()
	db, err := redis.Open(ctx, os.Getenv("REDIS_URL")) // redis://127.0.0.1:6379/0
	if err != nil {
		log.Fatal(err) // CodeUnavailable if Redis does not answer
	}
	defer db.Close()
	db.Prefix = "myapp:auth:" // keys of several applications apart

	tokens := redis.NewTokenStore(db) // a gatehouse.TokenStore
	err = tokens.CreateToken(ctx, gatehouse.TokenRecord{
		Hash:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", // SHA-256 of the token, never the token
		UserID:    gatehouse.NewID(),
		ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}

	revocations := redis.NewRevocations(db) // a gatehouse.Revocations, for JWTs
	_ = revocations
}
