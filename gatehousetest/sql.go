package gatehousetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// SQLDB is a new, migrated, empty database of an SQL engine, as the SQL
// suites use it: its stores, their Sweep methods, and its Ping and Close.
// An engine's tests can open one for the other suites too.
type SQLDB struct {
	Users         gatehouse.UserStore
	Tokens        gatehouse.TokenStore
	Sessions      gatehouse.SessionStore
	Revocations   gatehouse.Revocations
	Keys          gatehouse.KeyStore
	Roles         gatehouse.RoleStore
	APIKeys       gatehouse.APIKeyStore
	OAuthAccounts gatehouse.OAuthAccountStore
	SweepTokens   func(context.Context) (int64, error)
	SweepSessions func(context.Context) (int64, error)
	Ping          func(context.Context) error
	Close         func() error
}

// TestSQLSessionStore runs TestSessionStore on a session store whose
// sessions reference users by a foreign key, as the SQL stores' do, and
// checks that key and Sweep:
//
//   - a session of a user that does not exist is refused with
//     CodeNotFound;
//   - deleting a user deletes its sessions and their refresh tokens, whose
//     hashes are then free again;
//   - Sweep deletes the sessions expired by the store's clock, ended or
//     not, with their refresh tokens, counts them, and keeps the others.
//
// open must return a new database whose clock is now. For
// TestSessionStore, which makes up user ids, the suite creates the user a
// session names before the session.
func TestSQLSessionStore(t *testing.T, open func(t *testing.T, now func() time.Time) SQLDB) {
	TestSessionStore(t, func(t *testing.T) gatehouse.SessionStore {
		db := open(t, time.Now)
		return sessionUsersFirst{db.Sessions, db.Users}
	})
	t.Run("FollowUsers", func(t *testing.T) {
		t.Parallel()
		testSQLSessionsFollowUsers(t, open(t, time.Now))
	})
	t.Run("Sweep", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		clk.Set(time.Now())
		testSQLSessionSweep(t, open(t, clk.Now), clk)
	})
}

// sessionUsersFirst makes TestSessionStore's made-up user ids real before
// their sessions are stored.
type sessionUsersFirst struct {
	gatehouse.SessionStore
	users gatehouse.UserStore
}

func (s sessionUsersFirst) CreateSession(ctx context.Context, sess gatehouse.Session, refreshHash string) error {
	if err := createUserOnce(ctx, s.users, sess.UserID); err != nil {
		return err
	}
	return s.SessionStore.CreateSession(ctx, sess, refreshHash)
}

// createUserOnce creates the user id unless it exists.
func createUserOnce(ctx context.Context, users gatehouse.UserStore, id gatehouse.ID) error {
	err := users.CreateUser(ctx, &gatehouse.User{ID: id, Email: id.String() + "@example.com", HashedPassword: "h"})
	if err != nil && code(err) != gatehouse.CodeConflict {
		return err
	}
	return nil
}

// hourSession is a session of user that began at now and lasts an hour.
func hourSession(user gatehouse.ID, now time.Time) gatehouse.Session {
	return gatehouse.Session{ID: gatehouse.NewID(), UserID: user, Backend: "jwt", CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
}

func testSQLSessionsFollowUsers(t *testing.T, db SQLDB) {
	ctx, users, sessions := t.Context(), db.Users, db.Sessions
	now := time.Now()

	err := sessions.CreateSession(ctx, hourSession(gatehouse.NewID(), now), "orphan")
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("CreateSession for a user that does not exist: %v, want a %q error", err, gatehouse.CodeNotFound)
	}

	u := &gatehouse.User{Email: "fk@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := hourSession(u.ID, now)
	if err := sessions.CreateSession(ctx, sess, "rt1"); err != nil {
		t.Fatal(err)
	}
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.FindSession(ctx, sess.ID, now); code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindSession after DeleteUser: %v, want a %q error", err, gatehouse.CodeNotFound)
	}
	_, err = sessions.Rotate(ctx, gatehouse.Rotation{Hash: "rt1", NextHash: "rt2", Backend: "jwt", Now: now, IdleTTL: time.Hour})
	if code(err) != gatehouse.CodeRefreshTokenInvalid {
		t.Errorf("Rotate after DeleteUser: %v, want a %q error", err, gatehouse.CodeRefreshTokenInvalid)
	}
	// The token row went with the session: its hash is free again.
	u2 := &gatehouse.User{Email: "fk2@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u2); err != nil {
		t.Fatal(err)
	}
	if err := sessions.CreateSession(ctx, hourSession(u2.ID, now), "rt1"); err != nil {
		t.Errorf("CreateSession reusing the hash of a deleted session: %v", err)
	}
}

func testSQLSessionSweep(t *testing.T, db SQLDB, clk *clock) {
	ctx, users, sessions := t.Context(), db.Users, db.Sessions
	now := clk.Now()
	u := &gatehouse.User{Email: "sweep@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	soon, ended, later := hourSession(u.ID, now), hourSession(u.ID, now), hourSession(u.ID, now)
	soon.ExpiresAt = now.Add(time.Minute)
	later.IdleExpiresAt, later.ExpiresAt = now.Add(2*time.Hour), now.Add(2*time.Hour)
	for i, sess := range []gatehouse.Session{soon, ended, later} {
		if err := sessions.CreateSession(ctx, sess, string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := sessions.EndSession(ctx, ended.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := db.SweepSessions(ctx); err != nil || n != 0 {
		t.Errorf("Sweep before anything expired = %d, %v; want 0, nil", n, err)
	}
	clk.Add(time.Hour)
	now = clk.Now()
	if n, err := db.SweepSessions(ctx); err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want 2, nil", n, err)
	}
	if _, err := sessions.FindSession(ctx, later.ID, now); err != nil {
		t.Errorf("FindSession(later) after Sweep: %v", err)
	}
	// The ended session's token went with it: no longer a reuse, unknown.
	_, err := sessions.Rotate(ctx, gatehouse.Rotation{Hash: "b", NextHash: "b2", Backend: "jwt", Now: now, IdleTTL: time.Hour})
	if code(err) != gatehouse.CodeRefreshTokenInvalid {
		t.Errorf("Rotate of a swept session's token: %v, want a %q error", err, gatehouse.CodeRefreshTokenInvalid)
	}
}

// TestSQLTokenStore runs TestTokenStore, Sweep included, on a token store
// whose tokens reference users by a foreign key, as the SQL stores' do, and
// checks that key: a token of a user that does not exist is refused with
// CodeNotFound, and deleting a user deletes its tokens.
//
// open must return a new database whose clock is now. For TestTokenStore,
// which makes up user ids, the suite creates the user a token names before
// the token.
func TestSQLTokenStore(t *testing.T, open func(t *testing.T, now func() time.Time) SQLDB) {
	TestTokenStore(t, func(t *testing.T, now func() time.Time) gatehouse.TokenStore {
		db := open(t, now)
		return tokenUsersFirst{db.Tokens, db.Users, db.SweepTokens}
	})
	t.Run("FollowUsers", func(t *testing.T) {
		t.Parallel()
		testSQLTokensFollowUsers(t, open(t, time.Now))
	})
}

// tokenUsersFirst makes TestTokenStore's made-up user ids real before their
// tokens are stored, and keeps the store's Sweep for the suite to find.
type tokenUsersFirst struct {
	gatehouse.TokenStore
	users gatehouse.UserStore
	sweep func(context.Context) (int64, error)
}

func (s tokenUsersFirst) CreateToken(ctx context.Context, r gatehouse.TokenRecord) error {
	if err := createUserOnce(ctx, s.users, r.UserID); err != nil {
		return err
	}
	return s.TokenStore.CreateToken(ctx, r)
}

func (s tokenUsersFirst) Sweep(ctx context.Context) (int64, error) { return s.sweep(ctx) }

func testSQLTokensFollowUsers(t *testing.T, db SQLDB) {
	ctx, users, tokens := t.Context(), db.Users, db.Tokens
	expires := time.Now().Add(time.Hour)

	err := tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "orphan", UserID: gatehouse.NewID(), ExpiresAt: expires})
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("CreateToken for a user that does not exist: %v, want a %q error", err, gatehouse.CodeNotFound)
	}

	u := &gatehouse.User{Email: "fk@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"t1", "t2"} {
		if err := tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: h, UserID: u.ID, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"t1", "t2"} {
		if _, err := tokens.FindToken(ctx, h); code(err) != gatehouse.CodeNotFound {
			t.Errorf("FindToken(%q) after DeleteUser: %v, want a %q error", h, err, gatehouse.CodeNotFound)
		}
	}
	if n, err := tokens.DeleteUserTokens(ctx, u.ID); err != nil || n != 0 {
		t.Errorf("DeleteUserTokens after DeleteUser = %d, %v; want 0, nil", n, err)
	}
}

// TestSQLUnavailable checks that a database that cannot answer fails with
// CodeUnavailable, which the server turns into a 503, not a 500: a call
// with a cancelled context (the error wrapping context.Canceled), and,
// once the database is closed, CreateUser and Ping.
//
// open must return a new database whose clock is now.
func TestSQLUnavailable(t *testing.T, open func(t *testing.T, now func() time.Time) SQLDB) {
	db := open(t, time.Now)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := db.Users.FindUserByID(ctx, gatehouse.NewID())
	if code(err) != gatehouse.CodeUnavailable || !errors.Is(err, context.Canceled) {
		t.Errorf("FindUserByID with a cancelled context: %v, want %q wrapping context.Canceled", err, gatehouse.CodeUnavailable)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = db.Users.CreateUser(t.Context(), &gatehouse.User{Email: "x@example.com"})
	if code(err) != gatehouse.CodeUnavailable {
		t.Errorf("CreateUser on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
	if err := db.Ping(t.Context()); code(err) != gatehouse.CodeUnavailable {
		t.Errorf("Ping on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
}
