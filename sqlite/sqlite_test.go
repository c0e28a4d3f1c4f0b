package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// openDB is a new database for the SQL suites, its clock now.
func openDB(t *testing.T, now func() time.Time) gatehousetest.SQLDB {
	db := sqlitetest.New(t)
	db.Now = now
	return sqlDB(db)
}

func sqlDB(db *sqlite.DB) gatehousetest.SQLDB {
	tokens, sessions := sqlite.NewTokenStore(db), sqlite.NewSessionStore(db)
	return gatehousetest.SQLDB{
		Users: sqlite.NewUserStore(db), Tokens: tokens, Sessions: sessions,
		Revocations: sqlite.NewRevocations(db), Keys: sqlite.NewKeyStore(db),
		Roles: sqlite.NewRoleStore(db), APIKeys: sqlite.NewAPIKeyStore(db),
		OAuthAccounts: sqlite.NewOAuthAccountStore(db), SweepTokens: tokens.Sweep,
		SweepSessions: sessions.Sweep, Ping: db.Ping, Close: db.Close,
	}
}

func TestUserStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestUserStore(t, func(t *testing.T, now func() time.Time) gatehouse.UserStore {
		return openDB(t, now).Users
	})
}

func TestTokenStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLTokenStore(t, openDB)
}

// The foreign keys only hold when the writer connection has foreign_keys
// on, and ":memory:" has a connection set up of its own: the token suite
// runs on it too.
func TestTokenStoreMemory(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLTokenStore(t, func(t *testing.T, now func() time.Time) gatehousetest.SQLDB {
		db, err := sqlite.Open(":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		db.Now = now
		return sqlDB(db)
	})
}

func TestSessionStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLSessionStore(t, openDB)
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	gatehousetest.TestRevocations(t, func(t *testing.T, now func() time.Time) gatehouse.Revocations {
		return openDB(t, now).Revocations
	})
}

func TestKeyStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestKeyStore(t, func(t *testing.T) gatehouse.KeyStore {
		return openDB(t, time.Now).Keys
	})
}

func TestRoleStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestRoleStore(t, func(t *testing.T) (gatehouse.UserStore, gatehouse.RoleStore) {
		db := openDB(t, time.Now)
		return db.Users, db.Roles
	})
}

func TestAPIKeyStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestAPIKeyStore(t, func(t *testing.T) (gatehouse.UserStore, gatehouse.APIKeyStore) {
		db := openDB(t, time.Now)
		return db.Users, db.APIKeys
	})
}

func TestOAuthAccountStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestOAuthAccountStore(t, func(t *testing.T) (gatehouse.UserStore, gatehouse.OAuthAccountStore) {
		db := openDB(t, time.Now)
		return db.Users, db.OAuthAccounts
	})
}

// emptyDB makes an empty database file and returns how a process opens it.
func emptyDB(t *testing.T) func(context.Context) (gatehousetest.Migrator, error) {
	path := filepath.Join(t.TempDir(), "m.db")
	return func(context.Context) (gatehousetest.Migrator, error) {
		db, err := sqlite.Open(path)
		return db, err
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLMigrate(t, "migrations", emptyDB(t))
}

// Both engines share one migration history, so a database can be moved
// from one to the other and "0002_revoked_tokens" means the same schema
// everywhere.
func TestMigrationsMatchPostgres(t *testing.T) {
	t.Parallel()
	lite, _ := filepath.Glob(filepath.Join("migrations", "*.sql"))
	pg, _ := filepath.Glob(filepath.Join("..", "postgres", "migrations", "*.sql"))
	if len(lite) == 0 {
		t.Fatal("no sqlite migrations")
	}
	for i, f := range lite {
		lite[i] = filepath.Base(f)
	}
	for i, f := range pg {
		pg[i] = filepath.Base(f)
	}
	if !slices.Equal(lite, pg) {
		t.Errorf("sqlite migrations %q, postgres migrations %q; want the same names", lite, pg)
	}
}

// Processes that open one file and migrate it at once apply each migration
// once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLMigrateConcurrently(t, "migrations", emptyDB(t))
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

func TestUnavailable(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLUnavailable(t, openDB)
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
