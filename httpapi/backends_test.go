package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/tcpproxy"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// credential is how a client presents a token: a bearer header or a
// cookie, sent by hand since the cookies are Secure and the test server
// speaks plain HTTP.
type credential struct {
	header, value string
}

func (c credential) apply(r *http.Request) {
	if c.header != "" {
		r.Header.Set(c.header, c.value)
	}
}

// send makes a request with a credential and extra headers.
func (s *server) send(method, path string, c credential, headers ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	c.apply(req)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return s.doRequest(req)
}

// loginAs logs in through backend name and returns the credential its
// transport handed out.
func (s *server) loginAs(name, email, pw string) credential {
	s.t.Helper()
	res := s.form("/auth/"+name+"/login", url.Values{"username": {email}, "password": {pw}})
	switch res.status {
	case http.StatusOK:
		return credential{"Authorization", "Bearer " + res.json(s.t)["access_token"].(string)}
	case http.StatusNoContent:
		cookies := res.header.Values("Set-Cookie")
		if len(cookies) != 1 {
			s.t.Fatalf("login via %s: %d Set-Cookie headers", name, len(cookies))
		}
		c, err := http.ParseSetCookie(cookies[0])
		if err != nil || c.Value == "" || res.body != "" {
			s.t.Fatalf("login via %s: cookie %q, body %q (%v)", name, cookies[0], res.body, err)
		}
		return credential{"Cookie", c.Name + "=" + c.Value}
	}
	s.t.Fatalf("login via %s: %d %s", name, res.status, res.body)
	return credential{}
}

var combos = []string{"bearer+jwt", "bearer+database", "bearer+redis", "cookie+jwt", "cookie+database", "cookie+redis"}

// TestEveryTransportWithEveryStrategy runs one life of a token through each
// of the six backends, on each engine: login, use, logout, reuse, expiry.
func TestEveryTransportWithEveryStrategy(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		for _, combo := range combos {
			t.Run(combo, func(t *testing.T) {
				t.Parallel()
				st := e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)})
				if strings.HasSuffix(combo, "redis") {
					st.useRedis(t, redistest.New(t), false)
				}
				s := start(t, st, options{backends: []string{"b=" + combo}})
				s.register("alice@example.com", "password123")
				// Browsers send this on same-origin requests; a cookie logout
				// without it (or a matching Origin) is refused, see below.
				sameOrigin := []string{"Sec-Fetch-Site", "same-origin"}

				c := s.loginAs("b", "alice@example.com", "password123")
				if res := s.send("GET", "/users/me", c); res.status != 200 || !strings.Contains(res.body, `"email":"alice@example.com"`) {
					t.Fatalf("use: %d %s", res.status, res.body)
				}
				res := s.send("POST", "/auth/b/logout", c, sameOrigin...)
				if res.status != 204 || res.body != "" {
					t.Fatalf("logout: %d %s", res.status, res.body)
				}
				if strings.HasPrefix(combo, "cookie") {
					cleared, err := http.ParseSetCookie(res.header.Get("Set-Cookie"))
					if err != nil || cleared.MaxAge != -1 || cleared.Value != "" || !cleared.Secure || !cleared.HttpOnly || cleared.Path != "/" {
						t.Fatalf("logout cookie %q (%v)", res.header.Get("Set-Cookie"), err)
					}
				}
				if res := s.send("GET", "/users/me", c); res.status != 401 || res.body != unauthorized {
					t.Fatalf("reuse after logout: %d %s", res.status, res.body)
				}
				if res := s.send("POST", "/auth/b/logout", c, sameOrigin...); res.status != 401 {
					t.Fatalf("second logout: %d %s", res.status, res.body)
				}

				c = s.loginAs("b", "alice@example.com", "password123")
				s.clock.Add(lifetime - time.Second)
				if res := s.send("GET", "/users/me", c); res.status != 200 {
					t.Fatalf("just before expiry: %d %s", res.status, res.body)
				}
				s.clock.Add(time.Second)
				if res := s.send("GET", "/users/me", c); res.status != 401 || res.body != unauthorized {
					t.Fatalf("after expiry: %d %s", res.status, res.body)
				}
			})
		}
	})
}

// TestSeveralBackends mounts backends side by side: each has its own
// routes, the first whose transport finds a token and whose strategy
// yields a user wins, and logout destroys the token that authenticated.
func TestSeveralBackends(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{backends: []string{"jwt=bearer+jwt", "cookie=cookie+database", "db=bearer+database"}})
		s.register("alice@example.com", "password123")
		jwtTok := s.loginAs("jwt", "alice@example.com", "password123")
		cookieTok := s.loginAs("cookie", "alice@example.com", "password123")
		dbTok := s.loginAs("db", "alice@example.com", "password123")
		if !strings.HasPrefix(jwtTok.value, "Bearer eyJ") || len(dbTok.value) != len("Bearer ")+43 {
			t.Fatalf("tokens %q, %q", jwtTok.value, dbTok.value)
		}
		for _, c := range []credential{jwtTok, cookieTok, dbTok} {
			if res := s.send("GET", "/users/me", c); res.status != 200 {
				t.Fatalf("%s: %d", c.header, res.status)
			}
		}
		// The database token, sent as a bearer token, is not a JWT: the
		// jwt backend refuses it, the db backend accepts it.
		// Logging it out through the cookie route (the contract's quirk)
		// destroys it and clears the cookie.
		res := s.send("POST", "/auth/cookie/logout", dbTok)
		if res.status != 204 || !strings.Contains(res.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("logout: %d %q", res.status, res.header.Get("Set-Cookie"))
		}
		if res := s.send("GET", "/users/me", dbTok); res.status != 401 {
			t.Fatalf("destroyed token: %d", res.status)
		}
		if res := s.send("GET", "/users/me", cookieTok); res.status != 200 {
			t.Fatalf("the other session ended too: %d", res.status)
		}
		// An invalid cookie does not hide a valid bearer token behind it.
		both := s.send("GET", "/users/me", jwtTok, "Cookie", "gatehouse_auth=garbage")
		if both.status != 200 {
			t.Fatalf("bearer behind a bad cookie: %d", both.status)
		}
	})
}

// TestCrossSiteCookieRequestsAreRefused: a cross-site unsafe request that
// carries a valid cookie gets 403 and changes nothing; the same request
// with a bearer token works, as no browser attaches one on its own.
func TestCrossSiteCookieRequestsAreRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{backends: []string{"jwt=bearer+jwt", "cookie=cookie+jwt"}})
		s.register("alice@example.com", "password123")
		bearerTok := s.loginAs("jwt", "alice@example.com", "password123")
		cookieTok := s.loginAs("cookie", "alice@example.com", "password123")
		patch := func(c credential, body string, headers ...string) response {
			req, _ := http.NewRequest("PATCH", s.URL+"/users/me", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			c.apply(req)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			return s.doRequest(req)
		}
		for _, tc := range []struct {
			name    string
			c       credential
			headers []string
			status  int
		}{
			{"cookie, cross-site", cookieTok, []string{"Sec-Fetch-Site", "cross-site"}, 403},
			{"cookie, same-site is not same-origin", cookieTok, []string{"Sec-Fetch-Site", "same-site"}, 403},
			{"cookie, foreign Origin", cookieTok, []string{"Origin", "https://evil.example"}, 403},
			{"cookie, same-origin", cookieTok, []string{"Sec-Fetch-Site", "same-origin"}, 200},
			{"cookie, no browser headers (not a browser)", cookieTok, nil, 200},
			{"bearer, cross-site", bearerTok, []string{"Sec-Fetch-Site", "cross-site"}, 200},
		} {
			email := "alice@example.com"
			res := patch(tc.c, `{"email":"`+email+`"}`, tc.headers...)
			if res.status != tc.status {
				t.Fatalf("%s: %d %s", tc.name, res.status, res.body)
			}
			if tc.status == 403 {
				if res.body != forbidden {
					t.Fatalf("%s: body %s", tc.name, res.body)
				}
				// Nothing changed: the refused request tried a new e-mail.
				patch(tc.c, `{"email":"mallory@example.com"}`, tc.headers...)
				u, err := s.users.FindUserByEmail(context.Background(), "alice@example.com")
				if err != nil || u.Email != "alice@example.com" {
					t.Fatalf("%s: the refused request changed the user: %v", tc.name, err)
				}
			}
		}
		// GET stays allowed cross-site: it changes nothing.
		if res := s.send("GET", "/users/me", cookieTok, "Sec-Fetch-Site", "cross-site"); res.status != 200 {
			t.Fatalf("cross-site GET: %d", res.status)
		}
		// Login CSRF: a cross-site form may not log the victim into the
		// attacker's account.
		req, _ := http.NewRequest("POST", s.URL+"/auth/cookie/login", strings.NewReader("username=alice@example.com&password=password123"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if res := s.doRequest(req); res.status != 403 || res.header.Get("Set-Cookie") != "" {
			t.Fatalf("cross-site cookie login: %d %q", res.status, res.header.Get("Set-Cookie"))
		}
	})
}

// TestRedisOutageFailsClosed stops Redis mid-test (a proxy in front of it
// closes its listener and connections): Redis-backed tokens and JWT
// revocation checks answer 503, never 200, then recover on their own.
func TestRedisOutageFailsClosed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		raw := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
		if raw == "" {
			t.Skip("set GATEHOUSE_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to run Redis tests")
		}
		target, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		proxy := tcpproxy.New(t, target.Host)
		target.Host = proxy.Addr()
		st := e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)})
		st.useRedis(t, redistest.NewAt(t, target.String()), true)
		s := start(t, st, options{backends: []string{"jwt=bearer+jwt", "redis=bearer+redis"}})
		s.register("alice@example.com", "password123")
		jwtTok := s.loginAs("jwt", "alice@example.com", "password123")
		redisTok := s.loginAs("redis", "alice@example.com", "password123")
		for _, c := range []credential{jwtTok, redisTok} {
			if res := s.send("GET", "/users/me", c); res.status != 200 {
				t.Fatalf("before: %d %s", res.status, res.body)
			}
		}
		proxy.Stop()
		for _, c := range []credential{jwtTok, redisTok} {
			if res := s.send("GET", "/users/me", c); res.status != 503 || res.body != `{"detail":"SERVICE_UNAVAILABLE"}` {
				t.Fatalf("during the outage: %d %s", res.status, res.body)
			}
		}
		proxy.Start()
		for _, c := range []credential{jwtTok, redisTok} {
			if res := s.send("GET", "/users/me", c); res.status != 200 {
				t.Fatalf("after recovery: %d %s", res.status, res.body)
			}
		}
	})
}

// TestDatabaseOutageFailsClosed cuts PostgreSQL off behind a proxy: tokens
// that need the database (opaque tokens, and JWTs, whose revocation and
// user are looked up there) answer 503, then work again once it is back.
func TestDatabaseOutageFailsClosed(t *testing.T) {
	t.Parallel()
	target, err := url.Parse(postgrestest.URL(t)) // skips without GATEHOUSE_TEST_POSTGRES_URL
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.New(t, target.Host)
	target.Host = proxy.Addr()
	db, err := postgres.Open(t.Context(), target.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	db.Now = clk.Now
	st := &stack{users: postgres.NewUserStore(db), revs: postgres.NewRevocations(db), tokens: postgres.NewTokenStore(db),
		sessions: postgres.NewSessionStore(db), roles: postgres.NewRoleStore(db), apikeys: postgres.NewAPIKeyStore(db), clock: clk}
	s := start(t, st, options{backends: []string{"jwt=bearer+jwt", "db=bearer+database"}})
	s.register("alice@example.com", "password123")
	creds := []credential{s.loginAs("jwt", "alice@example.com", "password123"), s.loginAs("db", "alice@example.com", "password123")}
	proxy.Stop()
	for _, c := range creds {
		if res := s.send("GET", "/users/me", c); res.status != 503 || res.body != `{"detail":"SERVICE_UNAVAILABLE"}` {
			t.Fatalf("during the outage: %d %s", res.status, res.body)
		}
	}
	res := s.form("/auth/db/login", url.Values{"username": {"alice@example.com"}, "password": {"password123"}})
	if res.status != 503 {
		t.Fatalf("login during the outage: %d %s", res.status, res.body)
	}
	proxy.Start()
	for _, c := range creds {
		if res := s.send("GET", "/users/me", c); res.status != 200 {
			t.Fatalf("after recovery: %d %s", res.status, res.body)
		}
	}
}
