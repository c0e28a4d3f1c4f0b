package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

// openDB is a new database for the SQL suites, its clock now.
func openDB(t *testing.T, now func() time.Time) gatehousetest.SQLDB {
	db := postgrestest.New(t)
	db.Now = now
	tokens, sessions := postgres.NewTokenStore(db), postgres.NewSessionStore(db)
	return gatehousetest.SQLDB{
		Users: postgres.NewUserStore(db), Tokens: tokens, Sessions: sessions,
		Revocations: postgres.NewRevocations(db), Keys: postgres.NewKeyStore(db),
		Roles: postgres.NewRoleStore(db), APIKeys: postgres.NewAPIKeyStore(db),
		OAuthAccounts: postgres.NewOAuthAccountStore(db), SweepTokens: tokens.Sweep,
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

// emptyDB makes a database with nothing in it, not even the migrations
// table, and returns how a server opens it, with a pool of its own.
func emptyDB(t *testing.T) func(context.Context) (gatehousetest.Migrator, error) {
	db := postgrestest.New(t)
	// Start over on the same database, from nothing.
	if err := db.ExecForTest(t.Context(), `DROP TABLE used_nonces, settings, mfa_challenges, passkeys, recovery_codes, user_totp, audit_events, oauth_accounts, api_keys, user_roles, roles, refresh_tokens, sessions, access_tokens, users, revoked_tokens, signing_keys, schema_migrations`); err != nil {
		t.Fatal(err)
	}
	connString := db.ConnStringForTest()
	return func(ctx context.Context) (gatehousetest.Migrator, error) {
		server, err := postgres.Open(ctx, connString)
		return server, err
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLMigrate(t, "migrations", emptyDB(t))
}

// Servers that start together and migrate one database at once apply each
// migration once: the advisory lock makes them take turns.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSQLMigrateConcurrently(t, "migrations", emptyDB(t))
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

	gatehousetest.TestSQLUnavailable(t, openDB)
}
