package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

func TestUserStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestUserStore(t, func(t *testing.T, now func() time.Time) gatehouse.UserStore {
		db := sqlitetest.New(t)
		db.Now = now
		return sqlite.NewUserStore(db)
	})
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	gatehousetest.TestRevocations(t, func(t *testing.T, now func() time.Time) gatehouse.Revocations {
		db := sqlitetest.New(t)
		db.Now = now
		return sqlite.NewRevocations(db)
	})
}

func TestKeyStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestKeyStore(t, func(t *testing.T) gatehouse.KeyStore {
		return sqlite.NewKeyStore(sqlitetest.New(t))
	})
}

// migrationNames lists the migration files of an engine's source directory.
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

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if want := migrationNames(t, "migrations"); !slices.Equal(applied, want) {
		t.Errorf("first Migrate applied %q, want %q", applied, want)
	}
	applied, err = db.Migrate(ctx)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate = %q, %v; want nothing applied", applied, err)
	}
}

// Both engines share one migration history, so a database can be moved
// from one to the other and "0002_revoked_tokens" means the same schema
// everywhere.
func TestMigrationsMatchPostgres(t *testing.T) {
	t.Parallel()
	lite, pg := migrationNames(t, "migrations"), migrationNames(t, filepath.Join("..", "postgres", "migrations"))
	if !slices.Equal(lite, pg) {
		t.Errorf("sqlite migrations %q, postgres migrations %q; want the same names", lite, pg)
	}
}

// Processes that open one file and migrate it at once apply each migration
// once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	const n = 4
	results := make(chan []string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			db, err := sqlite.Open(path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			applied, err := db.Migrate(t.Context())
			if err != nil {
				errs <- err
				return
			}
			results <- applied
		}()
	}
	var all []string
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case applied := <-results:
			all = append(all, applied...)
		}
	}
	slices.Sort(all)
	if want := migrationNames(t, "migrations"); !slices.Equal(all, want) {
		t.Errorf("concurrent Migrate calls applied %q in all, want each of %q once", all, want)
	}
}

func TestOpenPaths(t *testing.T) {
	t.Parallel()
	// Characters that mean something in a URI must not change the file.
	dir := filepath.Join(t.TempDir(), "a dir?#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x?y#z%20.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}

	if _, err := sqlite.Open(""); err == nil {
		t.Error(`Open("") succeeded`)
	}
	if _, err := sqlite.Open(filepath.Join(t.TempDir(), "missing", "x.db")); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Open in a missing directory: %v, want a %q error", err, gatehouse.CodeUnavailable)
	}
}

func TestMemory(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	users := sqlite.NewUserStore(db)
	u := &gatehouse.User{Email: "mem@example.com", HashedPassword: "h"}
	if err := users.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := users.FindUserByEmail(t.Context(), "MEM@example.com"); err != nil {
		t.Fatal(err)
	}
}

// A store that cannot answer in time fails with CodeUnavailable, which the
// server turns into a 503, not a 500.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := sqlite.NewUserStore(db).FindUserByID(ctx, gatehouse.NewID())
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("FindUserByID with a cancelled context: %v, want %q wrapping context.Canceled", err, gatehouse.CodeUnavailable)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = sqlite.NewUserStore(db).CreateUser(t.Context(), &gatehouse.User{Email: "x@example.com"})
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("CreateUser on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
	if err := db.Ping(t.Context()); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Ping on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
}

func TestAddSigningKeyDefaultsCreatedAt(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)
	db.Now = func() time.Time { return now }
	keys := sqlite.NewKeyStore(db)
	if err := keys.AddSigningKey(t.Context(), gatehouse.SigningKey{ID: "k", Algorithm: "EdDSA", Private: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	got, err := keys.SigningKeys(t.Context())
	if err != nil || len(got) != 1 || !got[0].CreatedAt.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("SigningKeys = %v, %v; want one key created at %v", got, err, now)
	}
}

// A relative path names a file in the working directory, as the server's
// default sqlite://gatehouse.db does.
func TestOpenRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	db, err := sqlite.Open("gatehouse.db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); err != nil {
		t.Errorf("database not in the working directory: %v", err)
	}
}
