package cache_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
	"github.com/gatehouse/gatehouse/sqlite"
)

// A Cache wraps the stores a server asks on every request. A single
// process needs only a LocalFeed; servers sharing the stores need a feed
// between them (Redis or PostgreSQL), and must all write through a Cache
// on it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gatehouse-cache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	store := sqlite.NewUserStore(db)
	u := &gatehouse.User{Email: "ann@example.com", HashedPassword: "h", IsActive: true}
	if err := store.CreateUser(ctx, u); err != nil {
		log.Fatal(err)
	}

	c := cache.New(cache.NewLocalFeed(), cache.Options{TTL: 10 * time.Second})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() { stop(); <-done }()
	// Until the feed is up every read goes to the store. A server need
	// not wait; the example does, to show answers being kept.
	for !c.Stats().Up {
		time.Sleep(time.Millisecond)
	}

	users := c.Users(store) // give this to gatehouse.NewAuthenticator
	for range 3 {
		if _, err := users.FindUserByID(ctx, u.ID); err != nil {
			log.Fatal(err)
		}
	}
	s := c.Stats()
	fmt.Printf("store reads: %d, from memory: %d\n", s.Misses, s.Hits)

	// A write through the wrapper is seen at once, here and by every
	// Cache on the feed.
	email := "ann@example.org"
	if _, err := users.UpdateUser(ctx, u.ID, gatehouse.UserUpdate{Email: &email}); err != nil {
		log.Fatal(err)
	}
	got, err := users.FindUserByID(ctx, u.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Email)
	// Output:
	// store reads: 1, from memory: 2
	// ann@example.org
}
