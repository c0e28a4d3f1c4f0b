package redis_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/internal/tcpproxy"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

const envURL = "GATEHOUSE_TEST_REDIS_URL"

func TestTokenStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestTokenStore(t, func(t *testing.T, now func() time.Time) gatehouse.TokenStore {
		db := redistest.New(t)
		db.Now = now
		return redis.NewTokenStore(db)
	})
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	gatehousetest.TestRevocations(t, func(t *testing.T, now func() time.Time) gatehouse.Revocations {
		db := redistest.New(t)
		db.Now = now
		return redis.NewRevocations(db)
	})
}

// rawClient is a plain client on the test server, to look at keys the way
// an operator (or an attacker with a dump) would.
func rawClient(t *testing.T) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(os.Getenv(envURL))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// Keys hold hashes and ids only, and a user's set of tokens lives at least
// as long as the longest-lived of them, whatever the order of creation.
func TestKeys(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	ctx := t.Context()
	tokens := redis.NewTokenStore(db)
	user := gatehouse.NewID()
	const hashA, hashB, hashC = "aaaa", "bbbb", "cccc"
	now := time.Now()
	for _, tok := range []struct {
		hash string
		life time.Duration
	}{{hashA, time.Hour}, {hashB, 10 * time.Hour}, {hashC, 30 * time.Minute}} {
		if err := tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: tok.hash, UserID: user, ExpiresAt: now.Add(tok.life)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := redis.NewRevocations(db).Revoke(ctx, "jti-1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	raw := rawClient(t)
	keys, err := raw.Keys(ctx, db.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	layout := regexp.MustCompile(`^` + regexp.QuoteMeta(db.Prefix) + `(token:(aaaa|bbbb|cccc)|user:` + user.String() + `|revoked:jti-1)$`)
	if len(keys) != 5 {
		t.Errorf("keys %q, want 3 tokens, 1 user set, 1 revocation", keys)
	}
	for _, k := range keys {
		if !layout.MatchString(k) {
			t.Errorf("unexpected key %q", k)
		}
	}

	longest := raw.PTTL(ctx, db.Prefix+"token:"+hashB).Val()
	userTTL := raw.PTTL(ctx, db.Prefix+"user:"+user.String()).Val()
	if longest < 10*time.Hour-time.Minute || userTTL < longest {
		t.Errorf("user set TTL %v, longest token TTL %v; want the set to outlive the token", userTTL, longest)
	}
	for _, h := range []string{hashA, hashC} {
		if ttl := raw.PTTL(ctx, db.Prefix+"token:"+h).Val(); ttl <= 0 || ttl > 10*time.Hour {
			t.Errorf("token %s TTL %v", h, ttl)
		}
	}
	if ttl := raw.PTTL(ctx, db.Prefix+"revoked:jti-1").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("revocation TTL %v, want at most a minute", ttl)
	}
}

// A closed DB answers CodeUnavailable, as a server shutting down should.
func TestClosed(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := redis.NewTokenStore(db).FindToken(t.Context(), "x"); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("FindToken on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
	if err := db.Ping(t.Context()); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Ping on a closed DB: %v, want %q", err, gatehouse.CodeUnavailable)
	}
}

// Open of a server that is not there fails fast with CodeUnavailable.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = redis.Open(t.Context(), "redis://"+addr)
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Open of a closed port: %v, want %q", err, gatehouse.CodeUnavailable)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open of a closed port took %v", d)
	}
}

// proxied returns a DB that reaches the test server through a proxy the
// test can stop and start.
func proxied(t *testing.T) (*redis.DB, *tcpproxy.Proxy) {
	t.Helper()
	env := os.Getenv(envURL)
	if env == "" {
		t.Skip("set " + envURL + "=redis://127.0.0.1:6379/0 to run Redis tests")
	}
	u, err := url.Parse(env)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		t.Skipf("%s is not a redis:// or rediss:// URL: cannot put a proxy in front of it", envURL)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "6379")
	}
	p := tcpproxy.New(t, target)
	u.Host = p.Addr()
	return redistest.NewAt(t, u.String()), p
}

// When Redis goes away, the stores fail closed: every call answers
// CodeUnavailable, within the client's short timeouts, rather than
// hanging or passing a revoked or deleted token. When it comes back, the
// client reconnects by itself.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	db, proxy := proxied(t)
	ctx := t.Context()
	tokens, revocations := redis.NewTokenStore(db), redis.NewRevocations(db)
	user := gatehouse.NewID()
	rec := gatehouse.TokenRecord{Hash: "f00d", UserID: user, ExpiresAt: time.Now().Add(time.Hour)}
	if err := tokens.CreateToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := revocations.Revoke(ctx, "jti", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	works := func() {
		t.Helper()
		if _, err := tokens.FindToken(ctx, rec.Hash); err != nil {
			t.Errorf("FindToken: %v", err)
		}
		if revoked, err := revocations.Revoked(ctx, "jti"); err != nil || !revoked {
			t.Errorf("Revoked = %v, %v; want true, nil", revoked, err)
		}
	}
	// recovers waits for the client to reconnect by itself. After a pool's
	// worth of failed dials, go-redis stops dialing on each command and
	// probes the server once a second instead, so that may take a moment.
	recovers := func() {
		t.Helper()
		start := time.Now()
		for db.Ping(ctx) != nil {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("no reconnection %v after Redis came back", time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
		works()
	}
	works()

	for round := range 2 {
		proxy.Stop()
		calls := []struct {
			name string
			call func() error
		}{
			{"FindToken", func() error { _, err := tokens.FindToken(ctx, rec.Hash); return err }},
			{"Revoked", func() error { _, err := revocations.Revoked(ctx, "jti"); return err }},
			{"CreateToken", func() error {
				return tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "beef", UserID: user, ExpiresAt: time.Now().Add(time.Hour)})
			}},
			{"TouchToken", func() error { return tokens.TouchToken(ctx, rec.Hash, time.Now()) }},
			{"DeleteToken", func() error { return tokens.DeleteToken(ctx, "beef") }},
			{"DeleteUserTokens", func() error { _, err := tokens.DeleteUserTokens(ctx, user); return err }},
			{"Revoke", func() error { return revocations.Revoke(ctx, "jti2", time.Now().Add(time.Hour)) }},
			{"Ping", func() error { return db.Ping(ctx) }},
		}
		for _, c := range calls {
			start := time.Now()
			err := c.call()
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("round %d: %s with Redis down took %v", round, c.name, d)
			}
			if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
				t.Errorf("round %d: %s with Redis down: %v, want %q", round, c.name, err, gatehouse.CodeUnavailable)
			}
		}
		proxy.Start()
		recovers()
	}
}

// Close leaves no goroutine behind, even after the client has seen its
// server vanish and come back. Not parallel: it counts the goroutines of
// the whole process.
func TestNoGoroutineLeak(t *testing.T) {
	if os.Getenv(envURL) == "" {
		t.Skip("set " + envURL + "=redis://127.0.0.1:6379/0 to run Redis tests")
	}
	base := runtime.NumGoroutine()
	t.Run("Use", func(t *testing.T) {
		db, proxy := proxied(t)
		tokens := redis.NewTokenStore(db)
		for range 3 {
			if _, err := tokens.FindToken(t.Context(), "missing"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
				t.Fatal(err)
			}
			proxy.Stop()
			tokens.FindToken(t.Context(), "missing")
			proxy.Start()
		}
	}) // the subtest's cleanups close the DB and the proxy
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before Open:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// Contexts bound every call, whatever the client's own timeouts.
func TestContextDeadline(t *testing.T) {
	t.Parallel()
	db := redistest.New(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := redis.NewRevocations(db).Revoked(ctx, "x")
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Revoked with a cancelled context: %v, want %q", err, gatehouse.CodeUnavailable)
	}
}
