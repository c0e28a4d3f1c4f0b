package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// sessionUsersFirst makes the suite's made-up user ids real before their
// sessions are stored: sessions references users by a foreign key.
type sessionUsersFirst struct {
	*sqlite.SessionStore
	users *sqlite.UserStore
}

func (s sessionUsersFirst) CreateSession(ctx context.Context, sess gatehouse.Session, refreshHash string) error {
	err := s.users.CreateUser(ctx, &gatehouse.User{ID: sess.UserID, Email: sess.UserID.String() + "@example.com", HashedPassword: "h"})
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		return err
	}
	return s.SessionStore.CreateSession(ctx, sess, refreshHash)
}

func TestSessionStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSessionStore(t, func(t *testing.T) gatehouse.SessionStore {
		db := sqlitetest.New(t)
		return sessionUsersFirst{sqlite.NewSessionStore(db), sqlite.NewUserStore(db)}
	})
}

// testSession is a session of user that began at now and lasts an hour.
func testSession(user gatehouse.ID, now time.Time) gatehouse.Session {
	return gatehouse.Session{ID: gatehouse.NewID(), UserID: user, Backend: "jwt", CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
}

// Sessions belong to users: the foreign key refuses a session of an unknown
// user, and deleting the user deletes its sessions and their refresh
// tokens.
func TestSessionsFollowUsers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := sqlitetest.New(t)
	users, sessions := sqlite.NewUserStore(db), sqlite.NewSessionStore(db)
	now := time.Now()

	err := sessions.CreateSession(ctx, testSession(gatehouse.NewID(), now), "orphan")
	if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("CreateSession for a user that does not exist: %v, want a %q error", err, gatehouse.CodeNotFound)
	}

	u := &gatehouse.User{Email: "fk@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := testSession(u.ID, now)
	if err := sessions.CreateSession(ctx, sess, "rt1"); err != nil {
		t.Fatal(err)
	}
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.FindSession(ctx, sess.ID, now); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("FindSession after DeleteUser: %v, want a %q error", err, gatehouse.CodeNotFound)
	}
	_, err = sessions.Rotate(ctx, gatehouse.Rotation{Hash: "rt1", NextHash: "rt2", Backend: "jwt", Now: now, IdleTTL: time.Hour})
	if gatehouse.ErrorCode(err) != gatehouse.CodeRefreshTokenInvalid {
		t.Errorf("Rotate after DeleteUser: %v, want a %q error", err, gatehouse.CodeRefreshTokenInvalid)
	}
	// The token row went with the session: its hash is free again.
	u2 := &gatehouse.User{Email: "fk2@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u2); err != nil {
		t.Fatal(err)
	}
	if err := sessions.CreateSession(ctx, testSession(u2.ID, now), "rt1"); err != nil {
		t.Errorf("CreateSession reusing the hash of a deleted session: %v", err)
	}
}

// Sweep deletes the sessions that have expired by the DB's clock, ended
// or not, and keeps the others.
func TestSessionSweep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := sqlitetest.New(t)
	now := time.Now()
	db.Now = func() time.Time { return now }
	users, sessions := sqlite.NewUserStore(db), sqlite.NewSessionStore(db)
	u := &gatehouse.User{Email: "sweep@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	soon, ended, later := testSession(u.ID, now), testSession(u.ID, now), testSession(u.ID, now)
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
	if n, err := sessions.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("Sweep before anything expired = %d, %v; want 0, nil", n, err)
	}
	now = now.Add(time.Hour)
	if n, err := sessions.Sweep(ctx); err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want 2, nil", n, err)
	}
	if _, err := sessions.FindSession(ctx, later.ID, now); err != nil {
		t.Errorf("FindSession(later) after Sweep: %v", err)
	}
	// The ended session's token went with it: no longer a reuse, unknown.
	_, err := sessions.Rotate(ctx, gatehouse.Rotation{Hash: "b", NextHash: "b2", Backend: "jwt", Now: now, IdleTTL: time.Hour})
	if gatehouse.ErrorCode(err) != gatehouse.CodeRefreshTokenInvalid {
		t.Errorf("Rotate of a swept session's token: %v, want a %q error", err, gatehouse.CodeRefreshTokenInvalid)
	}
}
