package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/gatehouse/gatehouse/postgres"
)

// Open connects a pool and Migrate brings the schema up to date; several
// servers may migrate one database at once.
func ExampleOpen() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, os.Getenv("DATABASE_URL")) // postgres://user@host:5432/db?sslmode=disable
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	users := postgres.NewUserStore(db)
	_ = users // a gatehouse.UserStore, the same as sqlite's
}
