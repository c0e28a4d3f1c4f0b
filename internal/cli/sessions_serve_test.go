package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// pair is what a bearer login or refresh answers.
type pair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    *int   `json:"expires_in"`
}

// loginPair logs in at a bearer backend and returns the whole answer.
func loginPair(t *testing.T, base, name, email, pw string) pair {
	t.Helper()
	resp, b := loginForm(t, base, name, email, pw, nil)
	var p pair
	if err := json.Unmarshal(b, &p); resp.StatusCode != http.StatusOK || err != nil || p.AccessToken == "" || p.TokenType != "bearer" {
		t.Fatalf("login at %s: %d %s: %v", name, resp.StatusCode, b, err)
	}
	return p
}

// refresh posts a refresh token as JSON to backend name and returns the
// status, the body and, on success, the new pair.
func refresh(t *testing.T, base, name, token string) (int, string, pair) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"refresh_token": token})
	resp, b := send(t, "POST", base+"/auth/"+name+"/refresh", strings.NewReader(string(body)),
		http.Header{"Content-Type": {"application/json"}})
	var p pair
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &p); err != nil || p.AccessToken == "" || p.RefreshToken == "" {
			t.Fatalf("refresh at %s: body %s: %v", name, b, err)
		}
	}
	return resp.StatusCode, string(b), p
}

// TestServeSessions checks the session wiring on SQLite: bearer and cookie
// logins hand out refresh tokens, refreshes rotate them, a reuse ends the
// session, and the settings reach the Sessions and the cookies.
func TestServeSessions(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL,
		"--backends", "jwt=bearer+jwt,cookie=cookie+jwt,db=bearer+database,dbc=cookie+database",
		"--refresh-grace", "0", "--refresh-idle-ttl", "48h", "--refresh-absolute-ttl", "720h")
	register(t, s.URL, "lee@example.com", testPassword)

	for _, name := range []string{"jwt", "db"} {
		t.Run("bearer "+name, func(t *testing.T) {
			p := loginPair(t, s.URL, name, "lee@example.com", testPassword)
			if !strings.HasPrefix(p.RefreshToken, "ghr_") || p.ExpiresIn == nil || *p.ExpiresIn != 900 {
				t.Fatalf("login: %+v, want a refresh token and expires_in 900", p)
			}
			status, body, next := refresh(t, s.URL, name, p.RefreshToken)
			if status != http.StatusOK || next.RefreshToken == p.RefreshToken || next.AccessToken == p.AccessToken {
				t.Fatalf("refresh: %d %s", status, body)
			}
			if status := meAs(t, s.URL, bearerHeader(next.AccessToken)); status != http.StatusOK {
				t.Errorf("GET /users/me with the refreshed token: %d", status)
			}
			// Without grace, a second use is a reuse: the session ends,
			// with every access token of it.
			status, body, _ = refresh(t, s.URL, name, p.RefreshToken)
			if status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_REUSED" {
				t.Errorf("reuse: %d %s, want 401 REFRESH_TOKEN_REUSED", status, body)
			}
			for i, tok := range []string{p.AccessToken, next.AccessToken} {
				if status := meAs(t, s.URL, bearerHeader(tok)); status != http.StatusUnauthorized {
					t.Errorf("access token %d after the reuse: %d, want 401", i, status)
				}
			}
			if status, body, _ := refresh(t, s.URL, name, next.RefreshToken); status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_INVALID" {
				t.Errorf("refresh of the ended session: %d %s, want 401 REFRESH_TOKEN_INVALID", status, body)
			}
			// Another backend's refresh token is invalid.
			other := "db"
			if name == "db" {
				other = "jwt"
			}
			p = loginPair(t, s.URL, name, "lee@example.com", testPassword)
			if status, body, _ := refresh(t, s.URL, other, p.RefreshToken); status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_INVALID" {
				t.Errorf("refresh at %s with a token of %s: %d %s", other, name, status, body)
			}
		})
	}

	for _, name := range []string{"cookie", "dbc"} {
		t.Run("cookie "+name, func(t *testing.T) {
			access, rc := loginCookies(t, s.URL, name, "lee@example.com", testPassword)
			if rc == nil || rc.Name != "gatehouse_auth_refresh" || rc.Path != "/auth/"+name+"/" || rc.MaxAge != 720*3600 ||
				!rc.HttpOnly || !rc.Secure || rc.SameSite != http.SameSiteLaxMode || !strings.HasPrefix(rc.Value, "ghr_") {
				t.Fatalf("refresh cookie %v, want gatehouse_auth_refresh; Path=/auth/%s/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax", rc, name)
			}
			if access.Path != "/" || access.MaxAge != 900 {
				t.Errorf("access cookie %v, want Path=/ and Max-Age=900 as without sessions", access)
			}
			same := http.Header{"Sec-Fetch-Site": {"same-origin"}}

			// Refresh by the cookie: 204 and both cookies renewed.
			resp, b := send(t, "POST", s.URL+"/auth/"+name+"/refresh", nil, with(same, "Cookie", rc.Name+"="+rc.Value))
			cs := resp.Cookies()
			if resp.StatusCode != http.StatusNoContent || len(cs) != 2 || cs[0].Value == access.Value || cs[1].Value == rc.Value {
				t.Fatalf("cookie refresh: %d %s, Set-Cookie %q", resp.StatusCode, b, resp.Header["Set-Cookie"])
			}
			if status := meAs(t, s.URL, cookieHeader(cs[0])); status != http.StatusOK {
				t.Errorf("GET /users/me with the refreshed cookie: %d", status)
			}
			// A forged refresh is refused.
			resp, _ = send(t, "POST", s.URL+"/auth/"+name+"/refresh", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Cookie": {cs[1].Name + "=" + cs[1].Value}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site cookie refresh: %d, want 403", resp.StatusCode)
			}

			// Logout clears both cookies and ends the session.
			both := with(same, "Cookie", cs[0].Name+"="+cs[0].Value+"; "+cs[1].Name+"="+cs[1].Value)
			resp, b = send(t, "POST", s.URL+"/auth/"+name+"/logout", nil, both)
			cleared := map[string]string{}
			for _, c := range resp.Cookies() {
				if c.Value == "" && c.MaxAge < 0 {
					cleared[c.Name] = c.Path
				}
			}
			if resp.StatusCode != http.StatusNoContent || cleared["gatehouse_auth"] != "/" || cleared["gatehouse_auth_refresh"] != "/auth/"+name+"/" {
				t.Errorf("logout: %d %s, Set-Cookie %q; want both cookies cleared", resp.StatusCode, b, resp.Header["Set-Cookie"])
			}
			resp, _ = send(t, "POST", s.URL+"/auth/"+name+"/refresh", nil, with(same, "Cookie", cs[1].Name+"="+cs[1].Value))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("refresh after logout: %d, want 401", resp.StatusCode)
			}
		})
	}

	t.Run("password change ends other sessions", func(t *testing.T) {
		register(t, s.URL, "max@example.com", testPassword)
		a := loginPair(t, s.URL, "jwt", "max@example.com", testPassword)
		b := loginPair(t, s.URL, "db", "max@example.com", testPassword)
		resp, body := send(t, "PATCH", s.URL+"/users/me", strings.NewReader(`{"password":"another-long-passphrase"}`),
			with(bearerHeader(a.AccessToken), "Content-Type", "application/json"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH /users/me: %d %s", resp.StatusCode, body)
		}
		if status := meAs(t, s.URL, bearerHeader(a.AccessToken)); status != http.StatusOK {
			t.Errorf("the session that changed the password: %d, want 200", status)
		}
		if status := meAs(t, s.URL, bearerHeader(b.AccessToken)); status != http.StatusUnauthorized {
			t.Errorf("another session after the password change: %d, want 401", status)
		}
	})

	// The sessions routes are mounted.
	p := loginPair(t, s.URL, "jwt", "lee@example.com", testPassword)
	resp, b := send(t, "GET", s.URL+"/users/me/sessions", nil, bearerHeader(p.AccessToken))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"current":true`) {
		t.Errorf("GET /users/me/sessions: %d %s", resp.StatusCode, b)
	}
}

// TestServeSessionSettings checks the settings that only shape sessions:
// the refresh cookie follows the public URL's path and lives as long as a
// session, at most 400 days; --keep-sessions-on-password-change keeps the
// other sessions.
func TestServeSessionSettings(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_KEEP_SESSIONS_ON_PASSWORD_CHANGE": "true"},
		"--database-url", dbURL, "--backends", "jwt=bearer+jwt,web=cookie+jwt,app=cookie+database",
		"--public-url", "https://auth.example.com/id/", "--refresh-absolute-ttl", "20000h", "--refresh-idle-ttl", "100h",
		"--cookie-name", "__Host-gh")
	register(t, s.URL, "ned@example.com", testPassword)
	for _, name := range []string{"web", "app"} {
		_, rc := loginCookies(t, s.URL, name, "ned@example.com", testPassword)
		if rc == nil || rc.Name != "__Secure-gh_refresh" || rc.Path != "/id/auth/"+name+"/" || rc.MaxAge != 400*24*3600 {
			t.Errorf("refresh cookie of %s: %v, want __Secure-gh_refresh; Path=/id/auth/%s/; Max-Age=34560000", name, rc, name)
		}
	}

	a := loginPair(t, s.URL, "jwt", "ned@example.com", testPassword)
	b := loginPair(t, s.URL, "jwt", "ned@example.com", testPassword)
	resp, body := send(t, "PATCH", s.URL+"/users/me", strings.NewReader(`{"password":"another-long-passphrase"}`),
		with(bearerHeader(a.AccessToken), "Content-Type", "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH /users/me: %d %s", resp.StatusCode, body)
	}
	if status := meAs(t, s.URL, bearerHeader(b.AccessToken)); status != http.StatusOK {
		t.Errorf("another session after the password change, sessions kept: %d, want 200", status)
	}
}

// TestServeSessionsOff checks that 0 for either refresh lifetime turns
// refresh tokens off: logins hand out none and no refresh or session route
// is mounted.
func TestServeSessionsOff(t *testing.T) {
	t.Parallel()
	for _, off := range []string{"--refresh-idle-ttl", "--refresh-absolute-ttl"} {
		t.Run(off, func(t *testing.T) {
			t.Parallel()
			dbURL, _ := sqliteURL(t)
			s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL, off, "0",
				"--backends", "jwt=bearer+jwt,cookie=cookie+jwt")
			register(t, s.URL, "ola@example.com", testPassword)
			resp, b := loginForm(t, s.URL, "jwt", "ola@example.com", testPassword, nil)
			var raw map[string]any
			if err := json.Unmarshal(b, &raw); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("login: %d %s", resp.StatusCode, b)
			}
			if _, ok := raw["refresh_token"]; ok || raw["access_token"] == nil {
				t.Errorf("login answer %s: want an access token and no refresh_token", b)
			}
			if _, rc := loginCookies(t, s.URL, "cookie", "ola@example.com", testPassword); rc != nil {
				t.Errorf("cookie login set a refresh cookie %v", rc)
			}
			for _, name := range []string{"jwt", "cookie"} {
				status, body, _ := refresh(t, s.URL, name, "ghr_"+strings.Repeat("A", 43))
				if status != http.StatusNotFound {
					t.Errorf("POST /auth/%s/refresh with sessions off: %d %s, want 404", name, status, body)
				}
			}
			token := raw["access_token"].(string)
			if resp, _ := send(t, "GET", s.URL+"/users/me/sessions", nil, bearerHeader(token)); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET /users/me/sessions with sessions off: %d, want 404", resp.StatusCode)
			}
			if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusOK {
				t.Errorf("GET /users/me: %d", status)
			}
		})
	}
}

// TestServeTwoInstances runs two servers on one PostgreSQL database, once
// with sessions there and once with one Redis, and checks that what one
// instance ends, the other refuses at once.
func TestServeTwoInstances(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		name := "postgres"
		if withRedis {
			name = "postgres+redis"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := env{"GATEHOUSE_SECRET": testSecret}
			backends := "jwt=bearer+jwt,db=bearer+database"
			var rdb *redis.DB
			if withRedis {
				rdb = redistest.New(t) // a random prefix, deleted afterwards
				e["GATEHOUSE_REDIS_URL"] = os.Getenv("GATEHOUSE_TEST_REDIS_URL")
				e["GATEHOUSE_REDIS_PREFIX"] = rdb.Prefix
				backends += ",r=bearer+redis"
			}
			dbURL := freshPostgres(t)
			args := []string{"--database-url", dbURL, "--backends", backends, "--refresh-grace", "0", "--jwt-algorithm", "ES256"}
			var reloads []func(context.Context) error
			o := opts(e)
			o.KeyReloader = func(r func(context.Context) error) { reloads = append(reloads, r) }
			// The servers' clock moves ahead for the key rotation below.
			var ahead atomic.Int64
			o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
			a := startServerWith(t, o, args...)
			b := startServerWith(t, o, args...)
			register(t, a.URL, "pia@example.com", testPassword)
			if withRedis {
				// The sessions are in Redis, under the prefix.
				p := loginPair(t, a.URL, "jwt", "pia@example.com", testPassword)
				_, m := me(t, b.URL, p.AccessToken)
				id, err := gatehouse.ParseID(fmt.Sprint(m["id"]))
				if err != nil {
					t.Fatalf("GET /users/me: %v", m)
				}
				list, err := redis.NewSessionStore(rdb).ListSessions(context.Background(), id, time.Now())
				if err != nil || len(list) != 1 || list[0].Backend != "jwt" {
					t.Fatalf("sessions in Redis: %+v, %v; want the login's", list, err)
				}
			}

			for _, backend := range strings.Split(backends, ",") {
				backend, _, _ = strings.Cut(backend, "=")
				t.Run(backend, func(t *testing.T) {
					// Logout on A is honoured by B at once.
					p := loginPair(t, a.URL, backend, "pia@example.com", testPassword)
					if status := meAs(t, b.URL, bearerHeader(p.AccessToken)); status != http.StatusOK {
						t.Fatalf("GET /users/me on B with A's token: %d", status)
					}
					if resp, body := send(t, "POST", a.URL+"/auth/"+backend+"/logout", nil, bearerHeader(p.AccessToken)); resp.StatusCode != http.StatusNoContent {
						t.Fatalf("logout on A: %d %s", resp.StatusCode, body)
					}
					if status := meWithin(t, b.URL, bearerHeader(p.AccessToken), http.StatusUnauthorized); status != http.StatusUnauthorized {
						t.Errorf("GET /users/me on B after logout on A: %d, want 401 within a second", status)
					}
					if status, body, _ := refresh(t, b.URL, backend, p.RefreshToken); status != http.StatusUnauthorized {
						t.Errorf("refresh on B after logout on A: %d %s, want 401", status, body)
					}

					// A refresh on B of A's token works; its reuse on A ends
					// the session, which B then refuses.
					p = loginPair(t, a.URL, backend, "pia@example.com", testPassword)
					status, body, next := refresh(t, b.URL, backend, p.RefreshToken)
					if status != http.StatusOK {
						t.Fatalf("refresh on B of A's token: %d %s", status, body)
					}
					if status := meAs(t, a.URL, bearerHeader(next.AccessToken)); status != http.StatusOK {
						t.Errorf("GET /users/me on A with B's refreshed token: %d", status)
					}
					status, body, _ = refresh(t, a.URL, backend, p.RefreshToken)
					if status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_REUSED" {
						t.Errorf("reuse on A: %d %s, want 401 REFRESH_TOKEN_REUSED", status, body)
					}
					for i, tok := range []string{next.AccessToken, p.AccessToken} {
						if status := meWithin(t, b.URL, bearerHeader(tok), http.StatusUnauthorized); status != http.StatusUnauthorized {
							t.Errorf("GET /users/me on B with access token %d of the reused session: %d, want 401 within a second", i, status)
						}
					}
					if status, body, _ := refresh(t, b.URL, backend, next.RefreshToken); status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_INVALID" {
						t.Errorf("refresh on B of the reused session: %d %s, want 401 REFRESH_TOKEN_INVALID", status, body)
					}
				})
			}

			// A key rotated by the CLI reaches both instances at their
			// next reload, and signs once it is old enough for every
			// instance to have loaded it: A signs with it, B accepts it.
			before := loginPair(t, a.URL, "jwt", "pia@example.com", testPassword)
			kid := strings.TrimSpace(mustRun(t, opts(e), "keys", "rotate", "--database-url", dbURL, "--jwt-algorithm", "ES256"))
			reloadAll := func() {
				t.Helper()
				for _, reload := range reloads {
					if err := reload(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			reloadAll()
			if h := jwtHeader(t, loginPair(t, a.URL, "jwt", "pia@example.com", testPassword).AccessToken); strings.Contains(string(h), kid) {
				t.Errorf("right after keys rotate and a reload, A signs with the new key (header %s)", h)
			}
			ahead.Store(int64(90*time.Second + time.Second))
			reloadAll()
			after := loginPair(t, a.URL, "jwt", "pia@example.com", testPassword)
			if !strings.Contains(string(jwtHeader(t, after.AccessToken)), `"kid":"`+kid+`"`) {
				t.Errorf("after keys rotate and a reload, A signs with header %s, want kid %s", jwtHeader(t, after.AccessToken), kid)
			}
			for i, tok := range []string{before.AccessToken, after.AccessToken} {
				if status := meAs(t, b.URL, bearerHeader(tok)); status != http.StatusOK {
					t.Errorf("GET /users/me on B with token %d of A: %d, want 200", i, status)
				}
			}

			// "Log out everywhere" on B ends A's sessions too.
			p1 := loginPair(t, a.URL, "jwt", "pia@example.com", testPassword)
			p2 := loginPair(t, a.URL, "db", "pia@example.com", testPassword)
			if resp, body := send(t, "DELETE", b.URL+"/users/me/sessions", nil, bearerHeader(p1.AccessToken)); resp.StatusCode/100 != 2 {
				t.Fatalf("DELETE /users/me/sessions on B: %d %s", resp.StatusCode, body)
			}
			if status := meWithin(t, a.URL, bearerHeader(p2.AccessToken), http.StatusUnauthorized); status != http.StatusUnauthorized {
				t.Errorf("another session on A after DELETE /users/me/sessions on B: %d, want 401 within a second", status)
			}
			if status := meAs(t, a.URL, bearerHeader(p1.AccessToken)); status != http.StatusOK {
				t.Errorf("the current session after DELETE /users/me/sessions: %d, want 200", status)
			}
		})
	}
}

// jwtHeader returns the decoded header of a JWT.
func jwtHeader(t *testing.T, token string) []byte {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWT header %q: %v", h, err)
	}
	return b
}

// meWithin asks GET /users/me until it answers want, for up to a second,
// and returns the last status: an instance hears of another's logout
// through the change feed, within milliseconds but not in the same instant.
func meWithin(t *testing.T, base string, h http.Header, want int) int {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	status := meAs(t, base, h)
	for status != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		status = meAs(t, base, h)
	}
	return status
}
