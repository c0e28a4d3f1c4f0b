package cache_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// The conformance suites run on the wrappers around SQLite stores: a
// Cache must answer as a store does. The suites write only through the
// wrappers, as every instance must. Revocations are left out: a
// "revoked" answer is kept for the TTL, past the revocation's end (see
// Cache.Revocations).

// cachedDB opens a database whose stores are wrapped by one Cache on a
// LocalFeed, with now as the clock of both.
func cachedDB(t *testing.T, now func() time.Time) gatehousetest.SQLDB {
	t.Helper()
	db := sqlitetest.New(t)
	db.Now = now
	c := start(t, cache.NewLocalFeed(), cache.Options{TTL: time.Hour, Now: now})
	waitFor(t, "the cache to be up", func() bool { return c.Stats().Up })
	tokens, sessions := sqlite.NewTokenStore(db), sqlite.NewSessionStore(db)
	return gatehousetest.SQLDB{
		Users: c.Users(sqlite.NewUserStore(db)), Tokens: c.Tokens(tokens), Sessions: c.Sessions(sessions),
		Revocations: c.Revocations(sqlite.NewRevocations(db)), Keys: sqlite.NewKeyStore(db),
		Roles: c.Roles(sqlite.NewRoleStore(db)), APIKeys: c.APIKeys(sqlite.NewAPIKeyStore(db)),
		OAuthAccounts: sqlite.NewOAuthAccountStore(db), SweepTokens: tokens.Sweep,
		SweepSessions: sessions.Sweep, Ping: db.Ping, Close: db.Close,
	}
}

func TestConformanceUsers(t *testing.T) {
	gatehousetest.TestUserStore(t, func(t *testing.T, now func() time.Time) gatehouse.UserStore {
		return cachedDB(t, now).Users
	})
}

func TestConformanceTokens(t *testing.T) {
	gatehousetest.TestSQLTokenStore(t, cachedDB)
}

func TestConformanceSessions(t *testing.T) {
	gatehousetest.TestSQLSessionStore(t, cachedDB)
}

func TestConformanceRoles(t *testing.T) {
	gatehousetest.TestRoleStore(t, func(t *testing.T) (gatehouse.UserStore, gatehouse.RoleStore) {
		db := cachedDB(t, time.Now)
		return db.Users, db.Roles
	})
}

func TestConformanceAPIKeys(t *testing.T) {
	gatehousetest.TestAPIKeyStore(t, func(t *testing.T) (gatehouse.UserStore, gatehouse.APIKeyStore) {
		db := cachedDB(t, time.Now)
		return db.Users, db.APIKeys
	})
}
