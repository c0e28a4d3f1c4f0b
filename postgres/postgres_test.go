package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

func TestUserStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestUserStore(t, func(t *testing.T, now func() time.Time) gatehouse.UserStore {
		db := postgrestest.New(t)
		db.Now = now
		return postgres.NewUserStore(db)
	})
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	gatehousetest.TestRevocations(t, func(t *testing.T, now func() time.Time) gatehouse.Revocations {
		db := postgrestest.New(t)
		db.Now = now
		return postgres.NewRevocations(db)
	})
}

func TestKeyStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestKeyStore(t, func(t *testing.T) gatehouse.KeyStore {
		return postgres.NewKeyStore(postgrestest.New(t))
	})
}

func migrationNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations (%v)", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".sql"))
	}
	return names
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	// postgrestest.New has migrated already.
	db := postgrestest.New(t)
	applied, err := db.Migrate(t.Context())
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate = %q, %v; want nothing applied", applied, err)
	}
}

// Servers that start together and migrate one database at once apply each
// migration once: the advisory lock makes them take turns.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	// Start over on the same database, from nothing.
	if err := db.ExecForTest(t.Context(), `DROP TABLE refresh_tokens, sessions, access_tokens, users, revoked_tokens, signing_keys, schema_migrations`); err != nil {
		t.Fatal(err)
	}

	const n = 4
	var (
		mu  sync.Mutex
		all []string
		wg  sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			// A pool of its own, as another server would have.
			server, err := postgres.Open(t.Context(), db.ConnStringForTest())
			if err != nil {
				t.Error(err)
				return
			}
			defer server.Close()
			applied, err := server.Migrate(t.Context())
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			mu.Lock()
			all = append(all, applied...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	if want := migrationNames(t); !slices.Equal(all, want) {
		t.Errorf("concurrent Migrate calls applied %q in all, want each of %q once", all, want)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	if os.Getenv("GATEHOUSE_TEST_POSTGRES_URL") == "" {
		t.Skip("set GATEHOUSE_TEST_POSTGRES_URL=postgres://... to run PostgreSQL tests")
	}
	// Nothing listens on port 1.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=5")
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Open of an unreachable server: %v, want %q", err, gatehouse.CodeUnavailable)
	}

	db := postgrestest.New(t)
	users := postgres.NewUserStore(db)
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = users.FindUserByID(cctx, gatehouse.NewID())
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("FindUserByID with a cancelled context: %v, want %q wrapping context.Canceled", err, gatehouse.CodeUnavailable)
	}
	db.Close()
	if err := db.Ping(t.Context()); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Ping on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
	err = users.CreateUser(t.Context(), &gatehouse.User{Email: "x@example.com"})
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("CreateUser on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
}
