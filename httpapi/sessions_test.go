package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// sessionEngines adds, to each engine, a variant whose sessions (and
// revocations) live in Redis.
func forEachSessionStore(t *testing.T, f func(t *testing.T, open func(t *testing.T) *stack)) {
	for _, e := range engines {
		for _, inRedis := range []bool{false, true} {
			name := e.name
			if inRedis {
				name += "+redis"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f(t, func(t *testing.T) *stack {
					st := e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)})
					if inRedis {
						st.useRedis(t, redistest.New(t), true)
					}
					return st
				})
			})
		}
	}
}

// pair is what a bearer login or refresh hands out.
type pair struct{ access, refresh string }

func (s *server) loginPair(backend, email string) pair {
	s.t.Helper()
	res := s.form("/auth/"+backend+"/login", url.Values{"username": {email}, "password": {"password123"}})
	return s.pairFrom(res)
}

func (s *server) pairFrom(res response) pair {
	s.t.Helper()
	if res.status != 200 {
		s.t.Fatalf("want a token pair: %d %s", res.status, res.body)
	}
	body := res.json(s.t)
	p := pair{access: body["access_token"].(string)}
	p.refresh, _ = body["refresh_token"].(string)
	if !strings.HasPrefix(p.refresh, "ghr_") || body["token_type"] != "bearer" || body["expires_in"] != float64(900) {
		s.t.Fatalf("token pair body %s", res.body)
	}
	return p
}

func (s *server) refresh(backend, token string) response {
	s.t.Helper()
	return s.json("POST", "/auth/"+backend+"/refresh", fmt.Sprintf(`{"refresh_token":%q}`, token), "")
}

func (s *server) me(access string) int {
	s.t.Helper()
	return s.do("GET", "/users/me", "", "", access).status
}

const (
	invalidRT = `{"detail":"REFRESH_TOKEN_INVALID"}`
	reusedRT  = `{"detail":"REFRESH_TOKEN_REUSED"}`
)

func TestRefreshRotation(t *testing.T) {
	forEachSessionStore(t, func(t *testing.T, open func(t *testing.T) *stack) {
		st := open(t)
		s := start(t, st, options{sessions: true, backends: []string{"jwt=bearer+jwt", "db=bearer+database"}})
		s.register("alice@example.com", "password123")
		for _, backend := range []string{"jwt", "db"} {
			p1 := s.loginPair(backend, "alice@example.com")
			p2 := s.pairFrom(s.refresh(backend, p1.refresh))
			if p2.refresh == p1.refresh || p2.access == p1.access {
				t.Fatalf("%s: refresh did not rotate", backend)
			}
			// The form of the OAuth token endpoint works too.
			res := s.form("/auth/"+backend+"/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p2.refresh}})
			p3 := s.pairFrom(res)
			if s.me(p3.access) != 200 || s.me(p1.access) != 200 {
				t.Fatalf("%s: access tokens of a live session must work", backend)
			}
			// p1 was rotated long ago (no grace): reuse ends the session.
			if res := s.refresh(backend, p1.refresh); res.status != 401 || res.body != reusedRT {
				t.Fatalf("%s: reuse: %d %s", backend, res.status, res.body)
			}
			if res := s.refresh(backend, p3.refresh); res.status != 401 || res.body != invalidRT {
				t.Fatalf("%s: the newest token after reuse: %d %s", backend, res.status, res.body)
			}
			for _, access := range []string{p1.access, p2.access, p3.access} {
				if s.me(access) != 401 {
					t.Fatalf("%s: an access token of the ended session still works", backend)
				}
			}
		}

		// Tokens of one kind never pass for another.
		p := s.loginPair("jwt", "alice@example.com")
		db := s.loginPair("db", "alice@example.com")
		for _, tc := range []struct {
			name, backend, token string
		}{
			{"access token as refresh token", "jwt", p.access},
			{"opaque access token as refresh token", "db", db.access},
			{"another backend's refresh token", "db", p.refresh},
			{"garbage", "jwt", "ghr_garbage"},
			{"unknown", "jwt", "ghr_" + strings.Repeat("A", 43)},
		} {
			if res := s.refresh(tc.backend, tc.token); res.status != 401 || res.body != invalidRT {
				t.Errorf("%s: %d %s", tc.name, res.status, res.body)
			}
		}
		if s.me(p.refresh) != 401 {
			t.Error("a refresh token passed as an access token")
		}
		// The rejected attempts above changed nothing.
		s.pairFrom(s.refresh("jwt", p.refresh))

		for _, tc := range []struct{ ct, body string }{
			{"application/json", `{}`},
			{"application/json", `{"refresh_token":7}`},
			{"application/json", `{`},
			{"application/x-www-form-urlencoded", "grant_type=password&refresh_token=x"},
			{"application/x-www-form-urlencoded", "grant_type=refresh_token"},
		} {
			if res := s.do("POST", "/auth/jwt/refresh", tc.ct, tc.body, ""); res.status != 422 {
				t.Errorf("%s: %d %s", tc.body, res.status, res.body)
			}
		}
	})
}

func TestRefreshLifetimes(t *testing.T) {
	forEachSessionStore(t, func(t *testing.T, open func(t *testing.T) *stack) {
		s := start(t, open(t), options{sessions: true})
		s.register("alice@example.com", "password123")

		p := s.loginPair("jwt", "alice@example.com")
		s.clock.Add(idleTTL)
		if res := s.refresh("jwt", p.refresh); res.status != 401 || res.body != invalidRT {
			t.Fatalf("idle: %d %s", res.status, res.body)
		}
		// Refreshing within the idle time keeps a session going, up to the
		// absolute lifetime and not beyond.
		p = s.loginPair("jwt", "alice@example.com")
		for range 3 {
			s.clock.Add(idleTTL - time.Hour)
			p = s.pairFrom(s.refresh("jwt", p.refresh))
		}
		s.clock.Add(absoluteTTL - 3*(idleTTL-time.Hour))
		if res := s.refresh("jwt", p.refresh); res.status != 401 || res.body != invalidRT {
			t.Fatalf("absolute: %d %s", res.status, res.body)
		}

		// A deactivated user cannot refresh.
		p = s.loginPair("jwt", "alice@example.com")
		s.set("alice@example.com", gatehouse.UserUpdate{IsActive: ptr(false)})
		if res := s.refresh("jwt", p.refresh); res.status != 401 || res.body != invalidRT {
			t.Fatalf("deactivated: %d %s", res.status, res.body)
		}
	})
}

// TestConcurrentRefresh: 50 refreshes with one token at once. Inside the
// grace window they all get the same successor and the session lives; with
// no grace exactly one wins and the rest are reuse, which ends the session.
func TestConcurrentRefresh(t *testing.T) {
	forEachSessionStore(t, func(t *testing.T, open func(t *testing.T) *stack) {
		for _, grace := range []time.Duration{10 * time.Second, 0} {
			s := start(t, open(t), options{sessions: true, grace: grace})
			s.register("alice@example.com", "password123")
			p := s.loginPair("jwt", "alice@example.com")
			const n = 50
			results := make([]response, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { results[i] = s.refresh("jwt", p.refresh) })
			}
			wg.Wait()
			ok, reused, children := 0, 0, map[string]bool{}
			for _, res := range results {
				switch {
				case res.status == 200:
					ok++
					children[s.pairFrom(res).refresh] = true
				case res.status == 401 && res.body == reusedRT:
					reused++
				default:
					t.Fatalf("grace %v: %d %s", grace, res.status, res.body)
				}
			}
			if grace > 0 {
				if ok != n || len(children) != 1 {
					t.Fatalf("grace %v: %d ok, %d distinct successors", grace, ok, len(children))
				}
				var child string
				for c := range children {
					child = c
				}
				s.pairFrom(s.refresh("jwt", child)) // the session lives
				continue
			}
			if ok != 1 || reused != n-1 {
				t.Fatalf("grace 0: %d ok, %d reused", ok, reused)
			}
			for c := range children {
				if res := s.refresh("jwt", c); res.status != 401 {
					t.Fatalf("grace 0: the session survived reuse: %d", res.status)
				}
			}
		}
	})
}

func TestSessionRoutes(t *testing.T) {
	forEachSessionStore(t, func(t *testing.T, open func(t *testing.T) *stack) {
		s := start(t, open(t), options{sessions: true})
		_, admin := s.user("admin@example.com", true, true, true)
		aliceID := s.register("alice@example.com", "password123")["id"].(string)
		s.register("bob@example.com", "password123")
		s.clock.Add(time.Second)
		laptop := s.loginPair("jwt", "alice@example.com")
		s.clock.Add(time.Second)
		phone := s.loginPair("jwt", "alice@example.com")
		bob := s.loginPair("jwt", "bob@example.com")

		res := s.do("GET", "/users/me/sessions", "", "", phone.access)
		var list []map[string]any
		if res.status != 200 {
			t.Fatalf("list: %d %s", res.status, res.body)
		}
		if err := jsonUnmarshal(res.body, &list); err != nil || len(list) != 2 || list[0]["current"] != true || list[1]["current"] != false ||
			list[0]["backend"] != "jwt" || list[0]["ip"] != "127.0.0.1" || list[0]["user_agent"] != "Go-http-client/1.1" {
			t.Fatalf("list: %s", res.body)
		}
		laptopID := list[1]["id"].(string)
		for _, tc := range []struct {
			name, method, path, token string
			status                    int
		}{
			{"no token", "GET", "/users/me/sessions", "", 401},
			{"another user's session", "DELETE", "/users/me/sessions/" + laptopID, bob.access, 404},
			{"not a session id", "DELETE", "/users/me/sessions/nope", phone.access, 404},
			{"a user's sessions, not a superuser", "GET", "/users/" + aliceID + "/sessions", bob.access, 403},
			{"a user's sessions", "GET", "/users/" + aliceID + "/sessions", admin, 200},
			{"end the laptop", "DELETE", "/users/me/sessions/" + laptopID, phone.access, 204},
			{"again", "DELETE", "/users/me/sessions/" + laptopID, phone.access, 404},
		} {
			if res := s.do(tc.method, tc.path, "", "", tc.token); res.status != tc.status {
				t.Fatalf("%s: %d %s", tc.name, res.status, res.body)
			}
		}
		if s.me(laptop.access) != 401 || s.refresh("jwt", laptop.refresh).status != 401 {
			t.Fatal("the ended session's tokens still work")
		}
		if s.me(phone.access) != 200 || s.me(bob.access) != 200 {
			t.Fatal("other sessions ended too")
		}

		// Log out everywhere else; then a superuser ends the rest.
		tablet := s.loginPair("jwt", "alice@example.com")
		if res := s.do("DELETE", "/users/me/sessions", "", "", phone.access); res.status != 204 {
			t.Fatalf("end others: %d", res.status)
		}
		if s.me(tablet.access) != 401 || s.me(phone.access) != 200 {
			t.Fatal("log out everywhere else")
		}
		if res := s.do("DELETE", "/users/"+aliceID+"/sessions", "", "", admin); res.status != 204 || s.me(phone.access) != 401 {
			t.Fatalf("admin ends all: %d", res.status)
		}
		// Logout ends the session, refresh token included.
		p := s.loginPair("jwt", "alice@example.com")
		if res := s.do("POST", "/auth/jwt/logout", "", "", p.access); res.status != 204 {
			t.Fatalf("logout: %d", res.status)
		}
		if res := s.refresh("jwt", p.refresh); res.status != 401 || res.body != invalidRT {
			t.Fatalf("refresh after logout: %d %s", res.status, res.body)
		}
	})
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	forEachSessionStore(t, func(t *testing.T, open func(t *testing.T) *stack) {
		box := newOutbox()
		s := start(t, open(t), options{sessions: true, hooks: box})
		s.register("alice@example.com", "password123")
		here := s.loginPair("jwt", "alice@example.com")
		there := s.loginPair("jwt", "alice@example.com")
		if res := s.json("PATCH", "/users/me", `{"password":"a new passphrase"}`, here.access); res.status != 200 {
			t.Fatalf("change: %d %s", res.status, res.body)
		}
		if s.me(here.access) != 200 || s.me(there.access) != 401 || s.refresh("jwt", there.refresh).status != 401 {
			t.Fatal("a password change must end the other sessions and only them")
		}
		// A reset ends them all.
		s.json("POST", "/auth/forgot-password", `{"email":"alice@example.com"}`, "")
		s.wait()
		token := box.take(box.reset, "alice@example.com")[0]
		if res := s.json("POST", "/auth/reset-password", fmt.Sprintf(`{"token":%q,"password":"yet another passphrase"}`, token), ""); res.status != 200 {
			t.Fatalf("reset: %d %s", res.status, res.body)
		}
		if s.me(here.access) != 401 {
			t.Fatal("a reset must end every session")
		}
	})
}

func TestCookieRefresh(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := start(t, e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)}), options{sessions: true, backends: []string{"cookie=cookie+jwt"}})
		s.register("alice@example.com", "password123")
		res := s.form("/auth/cookie/login", url.Values{"username": {"alice@example.com"}, "password": {"password123"}})
		cookies := res.header.Values("Set-Cookie")
		if res.status != 204 || len(cookies) != 2 {
			t.Fatalf("login: %d %q", res.status, cookies)
		}
		jar := map[string]string{}
		for _, raw := range cookies {
			c, err := http.ParseSetCookie(raw)
			if err != nil || !c.HttpOnly || !c.Secure {
				t.Fatalf("cookie %q: %v", raw, err)
			}
			jar[c.Name] = c.Value
		}
		header := "gatehouse_auth=" + jar["gatehouse_auth"] + "; gatehouse_auth_refresh=" + jar["gatehouse_auth_refresh"]
		refresh := func(headers ...string) response {
			req, _ := http.NewRequest("POST", s.URL+"/auth/cookie/refresh", nil)
			req.Header.Set("Cookie", header)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			return s.doRequest(req)
		}
		if res := refresh("Sec-Fetch-Site", "cross-site"); res.status != 403 || res.header.Get("Set-Cookie") != "" {
			t.Fatalf("cross-site refresh: %d", res.status)
		}
		res = refresh("Sec-Fetch-Site", "same-origin")
		if res.status != 204 || len(res.header.Values("Set-Cookie")) != 2 || res.body != "" {
			t.Fatalf("refresh: %d %q %s", res.status, res.header.Values("Set-Cookie"), res.body)
		}
		if res := refresh("Sec-Fetch-Site", "same-origin"); res.status != 401 || res.body != reusedRT {
			t.Fatalf("the old refresh cookie again: %d %s", res.status, res.body)
		}
	})
}
