package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

const tooMany = `{"detail":"TOO_MANY_REQUESTS"}`

// clientHeader carries the client address in throttling tests, which play
// many clients over one connection; testClientIP reads it.
const clientHeader = "X-Test-Client"

func testClientIP(r *http.Request) netip.Addr {
	a, _ := netip.ParseAddr(r.Header.Get(clientHeader))
	return a
}

// limiterKind makes a Limiter on a test's clock.
type limiterKind struct {
	name string
	open func(t *testing.T, now func() time.Time) gatehouse.Limiter
}

// limiters are the Limiters throttling tests run on: in memory always, in
// Redis when GATEHOUSE_TEST_REDIS_URL is set.
var limiters = []limiterKind{
	{"memory", func(t *testing.T, now func() time.Time) gatehouse.Limiter {
		m := ratelimit.NewMemory(0)
		m.Now = now
		return m
	}},
	{"redis", func(t *testing.T, now func() time.Time) gatehouse.Limiter {
		l := redis.NewLimiter(redistest.New(t))
		l.Now = now
		return l
	}},
}

// forEachLimiter runs f once per engine and limiter, in parallel.
func forEachLimiter(t *testing.T, f func(t *testing.T, e engine, l limiterKind)) {
	forEachEngine(t, func(t *testing.T, e engine) {
		for _, l := range limiters {
			t.Run(l.name, func(t *testing.T) {
				t.Parallel()
				f(t, e, l)
			})
		}
	})
}

// throttledServer starts an API throttled by a limiter of kind l on the
// stores' clock, its clients told apart by clientHeader.
func throttledServer(t *testing.T, e engine, l limiterKind, opt options) *server {
	t.Helper()
	st := e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)})
	opt.limiter = l.open(t, st.clock.Now)
	if opt.clientIP == nil {
		opt.clientIP = testClientIP
	}
	return start(t, st, opt)
}

// from sends a request as the client at ip.
func (s *server) from(ip, method, path, contentType, body, token string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set(clientHeader, ip)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.doRequest(req)
}

func (s *server) loginFrom(ip, email, pw string) response {
	s.t.Helper()
	return s.from(ip, "POST", "/auth/jwt/login", "application/x-www-form-urlencoded",
		url.Values{"username": {email}, "password": {pw}}.Encode(), "")
}

// TestThrottledRoutes: every throttled route answers 429 with Retry-After
// once a client has spent its burst, and lets it in again when the wait
// is over.
func TestThrottledRoutes(t *testing.T) {
	hourly := gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 2}
	perClient := ratelimit.Rules{IP: hourly}
	limits := httpapi.Limits{
		Login: perClient, Register: perClient, Mail: perClient, FlowToken: perClient, Refresh: perClient,
		BadCredential: hourly,
	}
	const (
		form = "application/x-www-form-urlencoded"
		js   = "application/json"
	)
	cases := []struct {
		name, method, path, contentType string
		body                            func(i int) string
		token                           string
		status                          int // of the allowed requests
	}{
		{"login", "POST", "/auth/jwt/login", form, func(int) string { return "username=alice%40example.com&password=wrong" }, "", 400},
		{"register", "POST", "/auth/register", js, func(i int) string {
			return fmt.Sprintf(`{"email":"new%d@example.com","password":"password123"}`, i)
		}, "", 201},
		{"forgot-password", "POST", "/auth/forgot-password", js, func(int) string { return `{"email":"alice@example.com"}` }, "", 202},
		{"request-verify-token", "POST", "/auth/request-verify-token", js, func(int) string { return `{"email":"alice@example.com"}` }, "", 202},
		{"verify", "POST", "/auth/verify", js, func(int) string { return `{"token":"guess"}` }, "", 400},
		{"reset-password", "POST", "/auth/reset-password", js, func(int) string { return `{"token":"guess","password":"password456"}` }, "", 400},
		{"refresh", "POST", "/auth/jwt/refresh", js, func(int) string { return `{"refresh_token":"ghr_guess"}` }, "", 401},
		{"bad token", "GET", "/users/me", "", func(int) string { return "" }, "not-a-token", 401},
	}
	forEachLimiter(t, func(t *testing.T, e engine, l limiterKind) {
		s := throttledServer(t, e, l, options{limits: limits, sessions: true})
		_, token := s.user("alice@example.com", false, true, true)
		for i, c := range cases {
			ip := fmt.Sprintf("198.51.100.%d", i+1)
			send := func(n int) response {
				return s.from(ip, c.method, c.path, c.contentType, c.body(n), c.token)
			}
			for n := range 2 {
				if res := send(n); res.status != c.status {
					t.Fatalf("%s #%d: %d %s, want %d", c.name, n+1, res.status, res.body, c.status)
				}
			}
			for n := 2; n < 4; n++ {
				res := send(n)
				if res.status != 429 || res.body != tooMany || res.header.Get("Retry-After") != "3600" {
					t.Errorf("%s #%d: %d %s Retry-After %q, want 429 after an hour", c.name, n+1, res.status, res.body, res.header.Get("Retry-After"))
				}
			}
			if c.name == "bad token" {
				// Over the limit, even a valid token waits: answering it
				// would tell a guess from a hit. Elsewhere it works.
				if res := s.from(ip, "GET", "/users/me", "", "", token); res.status != 429 {
					t.Errorf("valid token from a throttled client: %d", res.status)
				}
				if res := s.from("198.51.100.200", "GET", "/users/me", "", "", token); res.status != 200 {
					t.Errorf("valid token from another client: %d %s", res.status, res.body)
				}
			}
		}
		s.wait()
		s.clock.Add(time.Hour)
		for i, c := range cases {
			ip := fmt.Sprintf("198.51.100.%d", i+1)
			if res := s.from(ip, c.method, c.path, c.contentType, c.body(10), c.token); res.status != c.status {
				t.Errorf("%s an hour later: %d %s, want %d", c.name, res.status, res.body, c.status)
			}
		}
		s.wait()
	})
}

// TestBadCredentialsOnlyFailuresCount: a valid token's requests spend
// nothing, however many; only failed ones count.
func TestBadCredentialsOnlyFailuresCount(t *testing.T) {
	forEachLimiter(t, func(t *testing.T, e engine, l limiterKind) {
		s := throttledServer(t, e, l, options{limits: httpapi.Limits{BadCredential: gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 3}}})
		_, token := s.user("alice@example.com", false, true, true)
		const ip = "192.0.2.44"
		for n := range 20 {
			if res := s.from(ip, "GET", "/users/me", "", "", token); res.status != 200 {
				t.Fatalf("valid request %d: %d %s", n+1, res.status, res.body)
			}
		}
		// Requests without any credential are not guesses either.
		for range 5 {
			if res := s.from(ip, "GET", "/users/me", "", "", ""); res.status != 401 {
				t.Fatalf("no credential: %d %s", res.status, res.body)
			}
		}
		for n := range 3 {
			if res := s.from(ip, "GET", "/users/me", "", "", token+"x"); res.status != 401 {
				t.Fatalf("bad token %d: %d %s", n+1, res.status, res.body)
			}
		}
		if res := s.from(ip, "GET", "/users/me", "", "", token+"x"); res.status != 429 || res.header.Get("Retry-After") != "3600" {
			t.Errorf("fourth bad token: %d %s Retry-After %q", res.status, res.body, res.header.Get("Retry-After"))
		}
	})
}

// TestLoginThrottlingPerAccount: guesses at one account from ever new
// addresses are throttled per account (checklist 23), alike for unknown
// accounts, while the owner at a trusted address still logs in; success
// clears the owner's own failures (checklist 25); a client's forwarding
// headers change nothing (checklist 26, with the default ClientIP).
func TestLoginThrottlingPerAccount(t *testing.T) {
	forEachLimiter(t, func(t *testing.T, e engine, l limiterKind) {
		s := throttledServer(t, e, l, options{})
		s.register("alice@example.com", "password123")
		s.register("bob@example.com", "password123")
		const home = "192.0.2.10"
		if res := s.loginFrom(home, "alice@example.com", "password123"); res.status != 200 {
			t.Fatalf("alice at home: %d %s", res.status, res.body)
		}
		bad := `{"detail":"LOGIN_BAD_CREDENTIALS"}`
		// The account rule allows 10 attempts from untrusted clients;
		// alice's first login, before home was trusted, was one.
		for account, allowed := range map[string]int{"alice@example.com": 9, "nobody@example.com": 10} {
			for i := range allowed {
				res := s.loginFrom(fmt.Sprintf("203.0.113.%d", i), account, "guess")
				if res.status != 400 || res.body != bad {
					t.Fatalf("%s guess %d: %d %s", account, i+1, res.status, res.body)
				}
			}
			for _, pw := range []string{"guess", "password123"} {
				res := s.loginFrom("203.0.113.99", account, pw)
				if res.status != 429 || res.body != tooMany || res.header.Get("Retry-After") != "900" {
					t.Errorf("%s from a new address: %d %s Retry-After %q, want 429 for 15 minutes", account, res.status, res.body, res.header.Get("Retry-After"))
				}
			}
		}
		if res := s.loginFrom(home, "alice@example.com", "password123"); res.status != 200 {
			t.Errorf("alice at home while strangers are throttled: %d %s", res.status, res.body)
		}

		// Bob's own mistakes: 9, a success, then a whole burst again.
		const bobs = "192.0.2.20"
		s.loginFrom(bobs, "bob@example.com", "password123")
		for i := range 9 {
			if res := s.loginFrom(bobs, "bob@example.com", "typo"); res.status != 400 {
				t.Fatalf("bob's typo %d: %d", i+1, res.status)
			}
		}
		if res := s.loginFrom(bobs, "bob@example.com", "password123"); res.status != 200 {
			t.Fatalf("bob after 9 typos: %d %s", res.status, res.body)
		}
		for i := range 10 {
			if res := s.loginFrom(bobs, "bob@example.com", "typo"); res.status != 400 {
				t.Fatalf("bob's typo %d after a success: %d %s", i+1, res.status, res.body)
			}
		}
		if res := s.loginFrom(bobs, "bob@example.com", "typo"); res.status != 429 {
			t.Errorf("bob's 11th typo in a row: %d", res.status)
		}
	})
}

// TestForwardingHeadersAreIgnored: with the default ClientIP, a client
// rotating X-Forwarded-For is still one client (checklist 26).
func TestForwardingHeadersAreIgnored(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		st := e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)})
		mem := ratelimit.NewMemory(0)
		mem.Now = st.clock.Now
		s := start(t, st, options{limiter: mem, limits: httpapi.Limits{
			Register: ratelimit.Rules{IP: gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 2}},
		}})
		for i := range 3 {
			req, _ := http.NewRequest("POST", s.URL+"/auth/register",
				strings.NewReader(fmt.Sprintf(`{"email":"u%d@example.com","password":"password123"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
			res := s.doRequest(req)
			if want := map[bool]int{true: 201, false: 429}[i < 2]; res.status != want {
				t.Errorf("registration %d: %d %s, want %d", i+1, res.status, res.body, want)
			}
		}
	})
}

// breakable is a Limiter that fails while down.
type breakable struct {
	gatehouse.Limiter
	down atomic.Bool
}

var errLimiterDown = errors.New("limiter store unreachable")

func (b *breakable) Allow(ctx context.Context, key string, r gatehouse.Rate) (gatehouse.Decision, error) {
	if b.down.Load() {
		return gatehouse.Decision{}, errLimiterDown
	}
	return b.Limiter.Allow(ctx, key, r)
}

func (b *breakable) Peek(ctx context.Context, key string, r gatehouse.Rate) (gatehouse.Decision, error) {
	if b.down.Load() {
		return gatehouse.Decision{}, errLimiterDown
	}
	return b.Limiter.Peek(ctx, key, r)
}

// countingHasher counts the hashes computed and checked.
type countingHasher struct {
	password.Hasher
	calls atomic.Int64
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.calls.Add(1)
	return h.Hasher.Hash(ctx, pw)
}

func (h *countingHasher) Verify(ctx context.Context, pw, hash string) (bool, string, error) {
	h.calls.Add(1)
	return h.Hasher.Verify(ctx, pw, hash)
}

// TestLimiterDownFailsClosed: a limiter that cannot decide refuses every
// throttled request with 503, before any password is hashed, and never
// lets one through.
func TestLimiterDownFailsClosed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		lim := &breakable{Limiter: ratelimit.NewMemory(0)}
		hasher := &countingHasher{Hasher: password.Hasher{Params: cheap}}
		out := newOutbox()
		s := newServer(t, e, options{limiter: lim, hasher: hasher, hooks: out, sessions: true})
		_, token := s.user("alice@example.com", false, true, true)
		lim.down.Store(true)
		hasher.calls.Store(0)
		const unavailable = `{"detail":"SERVICE_UNAVAILABLE"}`
		for _, r := range []struct{ method, path, contentType, body, token string }{
			{"POST", "/auth/jwt/login", "application/x-www-form-urlencoded", "username=alice%40example.com&password=password123", ""},
			{"POST", "/auth/jwt/login", "application/x-www-form-urlencoded", "username=nobody%40example.com&password=password123", ""},
			{"POST", "/auth/register", "application/json", `{"email":"new@example.com","password":"password123"}`, ""},
			{"POST", "/auth/forgot-password", "application/json", `{"email":"alice@example.com"}`, ""},
			{"POST", "/auth/request-verify-token", "application/json", `{"email":"alice@example.com"}`, ""},
			{"POST", "/auth/verify", "application/json", `{"token":"x"}`, ""},
			{"POST", "/auth/reset-password", "application/json", `{"token":"x","password":"password456"}`, ""},
			{"POST", "/auth/jwt/refresh", "application/json", `{"refresh_token":"ghr_x"}`, ""},
			{"GET", "/users/me", "", "", token},
		} {
			if res := s.do(r.method, r.path, r.contentType, r.body, r.token); res.status != 503 || res.body != unavailable {
				t.Errorf("%s %s with the limiter down: %d %s", r.method, r.path, res.status, res.body)
			}
		}
		s.wait()
		if n := hasher.calls.Load(); n != 0 {
			t.Errorf("%d password hashes computed while the limiter was down", n)
		}
		if n := out.count(); n != 0 {
			t.Errorf("%d mails sent while the limiter was down", n)
		}
		if _, err := s.users.FindUserByEmail(context.Background(), "new@example.com"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			t.Errorf("registration went through: %v", err)
		}
		// Validation still comes first: a bad body is a 422, limiter or not.
		if res := s.do("POST", "/auth/jwt/login", "application/x-www-form-urlencoded", "username=alice%40example.com", ""); res.status != 422 {
			t.Errorf("login without a password: %d %s", res.status, res.body)
		}
	})
}

// TestBadLimitsAreRefused: a rate a Limiter cannot apply fails New.
func TestBadLimitsAreRefused(t *testing.T) {
	st := engines[0].open(t, &clock{now: time.Now().UTC()})
	auth, err := gatehouse.NewAuthenticator(st.users, gatehouse.Backend{
		Name: "jwt", Transport: newTransport(t, "bearer", st.clock), Strategy: newStrategy(t, "jwt", st),
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &gatehouse.Manager{Users: st.users, Hasher: &password.Hasher{Params: cheap}}
	for _, lim := range []httpapi.Limits{
		{Login: ratelimit.Rules{IP: gatehouse.Rate{Limit: 0, Period: time.Minute, Burst: 1}}},
		{Refresh: ratelimit.Rules{TrustFor: -time.Hour}},
		{BadCredential: gatehouse.Rate{Limit: 1, Burst: 1}},
	} {
		if _, err := httpapi.New(httpapi.Config{Manager: m, Authenticator: auth, Limiter: ratelimit.NewMemory(0), Limits: lim}); err == nil {
			t.Errorf("New accepted %+v", lim)
		}
	}
}
