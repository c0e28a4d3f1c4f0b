package postgres_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

// When PostgreSQL goes away, Rotate fails closed and consumes nothing: the
// transaction is rolled back, and once the database is back the same token
// rotates.
func TestSessionFailClosed(t *testing.T) {
	t.Parallel()
	connString, proxy := throughProxy(t, postgrestest.URL(t))
	ctx := t.Context()
	db, err := postgres.Open(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	users, sessions := postgres.NewUserStore(db), postgres.NewSessionStore(db)
	u := &gatehouse.User{Email: "down@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sess := gatehouse.Session{ID: gatehouse.NewID(), UserID: u.ID, Backend: "jwt", CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
	if err := sessions.CreateSession(ctx, sess, "rt1"); err != nil {
		t.Fatal(err)
	}
	r := gatehouse.Rotation{Hash: "rt1", NextHash: "rt2", Backend: "jwt", Now: now, IdleTTL: time.Hour}

	proxy.Stop()
	calls := []struct {
		name string
		call func() error
	}{
		{"Rotate", func() error { _, err := sessions.Rotate(ctx, r); return err }},
		{"FindSession", func() error { _, err := sessions.FindSession(ctx, sess.ID, now); return err }},
		{"ListSessions", func() error { _, err := sessions.ListSessions(ctx, u.ID, now); return err }},
		{"EndSession", func() error { return sessions.EndSession(ctx, sess.ID) }},
		{"EndUserSessions", func() error { _, err := sessions.EndUserSessions(ctx, u.ID, gatehouse.ID{}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			t.Errorf("%s with PostgreSQL down: %v, want %q", c.name, err, gatehouse.CodeUnavailable)
		}
	}
	proxy.Start()
	start := time.Now()
	for db.Ping(ctx) != nil {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no reconnection %v after PostgreSQL came back", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := sessions.Rotate(ctx, r); err != nil {
		t.Errorf("Rotate after PostgreSQL came back: %v", err)
	}
}
