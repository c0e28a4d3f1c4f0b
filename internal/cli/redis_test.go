package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/tcpproxy"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// readyz returns the status and the checks of GET /readyz.
func readyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	resp, b := send(t, "GET", base+"/readyz", nil, nil)
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET /readyz: %d %s: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, body.Checks
}

// TestServeRedis runs the server with Redis: the redis strategy keeps its
// tokens there, and JWT revocations move there from the database. The
// server's keys go under the random prefix of redistest, which deletes them
// when the test ends.
func TestServeRedis(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t) // skips without GATEHOUSE_TEST_REDIS_URL
	redisURL := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	tokens := redis.NewTokenStore(rdb)
	ctx := context.Background()

	dbURL, _ := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_REDIS_URL": redisURL, "GATEHOUSE_REDIS_PREFIX": rdb.Prefix}
	args := []string{"--database-url", dbURL, "--backends", "jwt=bearer+jwt,r=bearer+redis,rc=cookie+redis"}
	s := startServer(t, e, args...)

	if status, checks := readyz(t, s.URL); status != http.StatusOK || checks["database"] != "ok" || checks["redis"] != "ok" {
		t.Errorf("GET /readyz: %d %v, want 200 with database and redis ok", status, checks)
	}
	register(t, s.URL, "fay@example.com", testPassword)

	// The redis strategy: the token's hash is a key under the prefix.
	token := loginBearer(t, s.URL, "r", "fay@example.com", testPassword)
	rec, err := tokens.FindToken(ctx, tokenHash(t, token))
	if err != nil {
		t.Fatalf("the token is not in Redis under %q: %v", rdb.Prefix, err)
	}
	if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusOK {
		t.Fatalf("GET /users/me: %d", status)
	}
	if resp, b := send(t, "POST", s.URL+"/auth/r/logout", nil, bearerHeader(token)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, b)
	}
	if _, err := tokens.FindToken(ctx, tokenHash(t, token)); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("the token after logout: %v, want not found", err)
	}
	if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me after logout: %d, want 401", status)
	}

	// The cookie transport with the redis strategy.
	c := loginCookie(t, s.URL, "rc", "fay@example.com", testPassword)
	if status := meAs(t, s.URL, cookieHeader(c)); status != http.StatusOK {
		t.Fatalf("GET /users/me with the cookie: %d", status)
	}
	if resp, b := send(t, "POST", s.URL+"/auth/rc/logout", nil, with(cookieHeader(c), "Sec-Fetch-Site", "cross-site")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site logout: %d %s, want 403", resp.StatusCode, b)
	}
	if resp, b := send(t, "POST", s.URL+"/auth/rc/logout", nil, with(cookieHeader(c), "Sec-Fetch-Site", "same-origin")); resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d %s", resp.StatusCode, b)
	}
	if _, err := tokens.FindToken(ctx, tokenHash(t, c.Value)); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("the cookie's token after logout: %v, want not found", err)
	}

	// Deleting a user deletes their Redis tokens.
	var stdout strings.Builder
	err = cli.RunWith(ctx, []string{"users", "create", "--database-url", dbURL, "--email", "root@example.com", "--superuser"},
		strings.NewReader(testPassword+"\n"), &stdout, io.Discard, opts(e))
	if err != nil {
		t.Fatalf("users create: %v", err)
	}
	root := loginBearer(t, s.URL, "jwt", "root@example.com", testPassword)
	token = loginBearer(t, s.URL, "r", "fay@example.com", testPassword)
	if resp, b := send(t, "DELETE", s.URL+"/users/"+rec.UserID.String(), nil, bearerHeader(root)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /users/%s: %d %s", rec.UserID, resp.StatusCode, b)
	}
	if _, err := tokens.FindToken(ctx, tokenHash(t, token)); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("the token of a deleted user: %v, want not found", err)
	}

	// A JWT logout is remembered in Redis, not in the database: a server
	// on the same database without Redis still accepts the token, one with
	// Redis does not. (Sessions live in Redis too, so that server runs
	// without them: with them it would not find the token's session.)
	if resp, b := send(t, "POST", s.URL+"/auth/jwt/logout", nil, bearerHeader(root)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("jwt logout: %d %s", resp.StatusCode, b)
	}
	if status := meAs(t, s.URL, bearerHeader(root)); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me after jwt logout: %d, want 401", status)
	}
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Log.String(), redisURL) && strings.Contains(redisURL, "@") {
		t.Error("the log shows the Redis URL with its password")
	}

	noRedis := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL, "--refresh-idle-ttl", "0")
	if status := meAs(t, noRedis.URL, bearerHeader(root)); status != http.StatusOK {
		t.Errorf("without Redis, GET /users/me with the token revoked in Redis: %d, want 200", status)
	}
	if status, checks := readyz(t, noRedis.URL); status != http.StatusOK || checks["redis"] != "" {
		t.Errorf("GET /readyz without Redis: %d %v, want 200 without a redis check", status, checks)
	}
	if err := noRedis.Stop(t); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, e, args...)
	if status := meAs(t, s.URL, bearerHeader(root)); status != http.StatusUnauthorized {
		t.Errorf("with Redis again, GET /users/me with the revoked token: %d, want 401", status)
	}
}

// TestServeRedisDown checks that the server fails closed while Redis is
// unreachable: requests it cannot check get 503, never a pass, and /readyz
// says which dependency is down. It recovers when Redis is back.
func TestServeRedisDown(t *testing.T) {
	t.Parallel()
	base := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if base == "" {
		t.Skip("set GATEHOUSE_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to run Redis tests")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	proxy := tcpproxy.New(t, u.Host)
	u.Host = proxy.Addr()
	rdb := redistest.NewAt(t, u.String())

	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_REDIS_URL": u.String(), "GATEHOUSE_REDIS_PREFIX": rdb.Prefix},
		"--database-url", dbURL, "--backends", "jwt=bearer+jwt,r=bearer+redis")
	register(t, s.URL, "gus@example.com", testPassword)
	jwtToken := loginBearer(t, s.URL, "jwt", "gus@example.com", testPassword)
	redisToken := loginBearer(t, s.URL, "r", "gus@example.com", testPassword)

	proxy.Stop()
	for name, token := range map[string]string{"jwt": jwtToken, "redis": redisToken} {
		if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusServiceUnavailable {
			t.Errorf("Redis down, GET /users/me with the %s token: %d, want 503", name, status)
		}
	}
	if status, checks := readyz(t, s.URL); status != http.StatusServiceUnavailable || checks["redis"] != "unavailable" || checks["database"] != "ok" {
		t.Errorf("Redis down, GET /readyz: %d %v, want 503 with redis unavailable, database ok", status, checks)
	}
	healthz(t, s.URL) // the process itself is fine

	proxy.Start()
	for name, token := range map[string]string{"jwt": jwtToken, "redis": redisToken} {
		if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusOK {
			t.Errorf("Redis back, GET /users/me with the %s token: %d, want 200", name, status)
		}
	}
	if status, _ := readyz(t, s.URL); status != http.StatusOK {
		t.Errorf("Redis back, GET /readyz: %d, want 200", status)
	}
}
