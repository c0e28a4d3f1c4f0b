package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "gatehouse-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sqlite.Open(filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Migrate at every start: it applies only what the file lacks.
	ctx := context.Background()
	applied, err := db.Migrate(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first applied:", applied[0])
	applied, err = db.Migrate(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("then:", len(applied))

	users := sqlite.NewUserStore(db)
	_, total, err := users.FindUsers(ctx, gatehouse.UserFilter{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("users:", total)
	// Output:
	// first applied: 0001_users
	// then: 0
	// users: 0
}
