package redis_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

func TestSessionStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSessionStore(t, func(t *testing.T) gatehouse.SessionStore {
		return redis.NewSessionStore(redistest.New(t))
	})
}

// hashTag is the part of a key Redis Cluster hashes to find its slot.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// Session keys hold hashes and ids only, each has a TTL ending with the
// session, and the keys Rotate's script touches share one hash tag, so
// they live in one slot of a Cluster.
func TestSessionKeys(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	ctx := t.Context()
	sessions := redis.NewSessionStore(db)
	now := time.Now()
	user := gatehouse.NewID()
	sess := gatehouse.Session{ID: gatehouse.NewID(), UserID: user, Backend: "jwt", CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(10 * time.Hour), UserAgent: "ua", IP: "192.0.2.1"}
	const rt1, rt2 = "aaaa", "bbbb"
	if err := sessions.CreateSession(ctx, sess, rt1); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Rotate(ctx, gatehouse.Rotation{Hash: rt1, NextHash: rt2, Backend: "jwt", Now: now, IdleTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}

	raw := rawClient(t)
	keys, err := raw.Keys(ctx, db.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	id, p := sess.ID.String(), regexp.QuoteMeta(db.Prefix)
	layout := regexp.MustCompile(`^` + p + `(session:\{` + id + `\}(:refresh:(aaaa|bbbb))?|refresh:(aaaa|bbbb)|sessions:` + user.String() + `)$`)
	if len(keys) != 6 {
		t.Errorf("keys %q, want a session, 2 token records, 2 pointers, 1 user set", keys)
	}
	for _, k := range keys {
		if !layout.MatchString(k) {
			t.Errorf("unexpected key %q", k)
		}
		ttl := raw.PTTL(ctx, k).Val()
		if ttl <= 9*time.Hour || ttl > 10*time.Hour+2*time.Second {
			t.Errorf("key %q: TTL %v, want the session's 10 h", k, ttl)
		}
		if strings.HasPrefix(k, db.Prefix+"session:") && hashTag(k) != id {
			t.Errorf("key %q: hash tag %q, want the session id", k, hashTag(k))
		}
	}
}

// When Redis goes away, Rotate fails closed and consumes nothing: once
// Redis is back, the same token rotates.
func TestSessionFailClosed(t *testing.T) {
	t.Parallel()
	db, proxy := proxied(t)
	ctx := t.Context()
	sessions := redis.NewSessionStore(db)
	now := time.Now()
	sess := gatehouse.Session{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Backend: "jwt", CreatedAt: now, LastUsedAt: now,
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
		{"CreateSession", func() error {
			s := sess
			s.ID = gatehouse.NewID()
			return sessions.CreateSession(ctx, s, "other")
		}},
		{"FindSession", func() error { _, err := sessions.FindSession(ctx, sess.ID, now); return err }},
		{"ListSessions", func() error { _, err := sessions.ListSessions(ctx, sess.UserID, now); return err }},
		{"EndSession", func() error { return sessions.EndSession(ctx, gatehouse.NewID()) }},
		{"EndUserSessions", func() error { _, err := sessions.EndUserSessions(ctx, sess.UserID, sess.ID); return err }},
	}
	for _, c := range calls {
		if err := c.call(); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			t.Errorf("%s with Redis down: %v, want %q", c.name, err, gatehouse.CodeUnavailable)
		}
	}
	proxy.Start()
	start := time.Now()
	for db.Ping(ctx) != nil {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no reconnection %v after Redis came back", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := sessions.Rotate(ctx, r); err != nil {
		t.Errorf("Rotate after Redis came back: %v", err)
	}
}
