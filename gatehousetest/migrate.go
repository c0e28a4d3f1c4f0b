package gatehousetest

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Migrator is a database of an SQL engine, which brings its schema up to
// date with Migrate, returning the names of the migrations it applied.
type Migrator interface {
	Migrate(ctx context.Context) ([]string, error)
	Close() error
}

// TestSQLMigrate checks Migrate on an empty database: the first call
// applies every migration of dir, in order, and a second applies nothing.
// The migrations of dir are its .sql files, named without the suffix.
//
// open must open one new, empty database, the same on every call.
func TestSQLMigrate(t *testing.T, dir string, open func(context.Context) (Migrator, error)) {
	ctx := t.Context()
	db, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if want := migrationNames(t, dir); !slices.Equal(applied, want) {
		t.Errorf("first Migrate applied %q, want %q", applied, want)
	}
	applied, err = db.Migrate(ctx)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate = %q, %v; want nothing applied", applied, err)
	}
}

// TestSQLMigrateConcurrently checks that servers that start together and
// migrate one empty database at once apply each migration of dir once
// between them. The migrations of dir are its .sql files, named without
// the suffix.
//
// open must open one new, empty database, the same on every call, with
// connections of its own, as another server would; it is called from
// several goroutines at once.
func TestSQLMigrateConcurrently(t *testing.T, dir string, open func(context.Context) (Migrator, error)) {
	const n = 4
	var (
		mu  sync.Mutex
		all []string
		wg  sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			db, err := open(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			applied, err := db.Migrate(t.Context())
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
	if want := migrationNames(t, dir); !slices.Equal(all, want) {
		t.Errorf("concurrent Migrate calls applied %q in all, want each of %q once", all, want)
	}
}

// migrationNames lists the migrations of dir.
func migrationNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in %s (%v)", dir, err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".sql"))
	}
	return names
}
