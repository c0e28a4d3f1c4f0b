package cli_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// send sends a request and returns the response, whose body is read into
// the second result.
func send(t *testing.T, method, u string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// loginForm posts the login form to backend name with the extra header.
func loginForm(t *testing.T, base, name, email, pw string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for k, v := range header {
		h[k] = v
	}
	form := url.Values{"username": {email}, "password": {pw}}
	return send(t, "POST", base+"/auth/"+name+"/login", strings.NewReader(form.Encode()), h)
}

// loginBearer logs in at a bearer backend and returns the access token.
func loginBearer(t *testing.T, base, name, email, pw string) string {
	t.Helper()
	resp, b := loginForm(t, base, name, email, pw, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login at %s: %d %s", name, resp.StatusCode, b)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "bearer" {
		t.Fatalf("login at %s: body %s: %v", name, b, err)
	}
	return tok.AccessToken
}

// loginCookie logs in at a cookie backend as a same-origin browser page
// would, and returns the access cookie the server set.
func loginCookie(t *testing.T, base, name, email, pw string) *http.Cookie {
	t.Helper()
	access, _ := loginCookies(t, base, name, email, pw)
	return access
}

// loginCookies logs in at a cookie backend as a same-origin browser page
// would, and returns the access cookie and the refresh cookie (nil when
// sessions are off) the server set.
func loginCookies(t *testing.T, base, name, email, pw string) (access, refresh *http.Cookie) {
	t.Helper()
	resp, b := loginForm(t, base, name, email, pw, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("login at %s: %d %s, want 204 and no body", name, resp.StatusCode, b)
	}
	bad := false
	for _, c := range resp.Cookies() {
		p := &access
		if strings.HasSuffix(c.Name, "_refresh") {
			p = &refresh
		}
		bad = bad || *p != nil || c.Value == ""
		*p = c
	}
	if bad || access == nil {
		t.Fatalf("login at %s: Set-Cookie %q, want one access cookie with the token (and a refresh cookie)", name, resp.Header["Set-Cookie"])
	}
	return access, refresh
}

// cookieHeader is the Cookie request header that carries c. It is sent by
// hand: a cookie jar does not send Secure cookies over http://.
func cookieHeader(c *http.Cookie) http.Header {
	return http.Header{"Cookie": {c.Name + "=" + c.Value}}
}

func with(h http.Header, kv ...string) http.Header {
	h = h.Clone()
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// meAs returns the status of GET /users/me with the given credentials.
func meAs(t *testing.T, base string, h http.Header) int {
	t.Helper()
	resp, _ := send(t, "GET", base+"/users/me", nil, h)
	return resp.StatusCode
}

// tokenHash is how opaque token stores key a token: the hex SHA-256 of the
// 32 bytes the token encodes.
func tokenHash(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("opaque token %.8q...: %v", token, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// TestServeBackends logs in, reads /users/me and logs out through a bearer
// JWT backend, a cookie JWT backend and a bearer database backend.
func TestServeBackends(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL,
		"--backends", "jwt=bearer+jwt,cookie=cookie+jwt,db=bearer+database")
	register(t, s.URL, "dora@example.com", testPassword)

	t.Run("bearer jwt", func(t *testing.T) {
		token := loginBearer(t, s.URL, "jwt", "dora@example.com", testPassword)
		if strings.Count(token, ".") != 2 {
			t.Errorf("jwt backend token %.12q... is not a JWT", token)
		}
		if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusOK {
			t.Fatalf("GET /users/me: %d", status)
		}
		if resp, b := send(t, "POST", s.URL+"/auth/jwt/logout", nil, bearerHeader(token)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, b)
		}
		if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusUnauthorized {
			t.Errorf("GET /users/me after logout: %d, want 401", status)
		}
	})

	t.Run("bearer database", func(t *testing.T) {
		token := loginBearer(t, s.URL, "db", "dora@example.com", testPassword)
		if len(token) != 43 || strings.Contains(token, ".") {
			t.Errorf("database backend token is %d characters, want 43 (opaque, base64url)", len(token))
		}
		if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusOK {
			t.Fatalf("GET /users/me: %d", status)
		}
		if resp, b := send(t, "POST", s.URL+"/auth/db/logout", nil, bearerHeader(token)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, b)
		}
		if status := meAs(t, s.URL, bearerHeader(token)); status != http.StatusUnauthorized {
			t.Errorf("GET /users/me after logout: %d, want 401", status)
		}
	})

	t.Run("cookie jwt", func(t *testing.T) {
		c := loginCookie(t, s.URL, "cookie", "dora@example.com", testPassword)
		if c.Name != "gatehouse_auth" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
			c.Path != "/" || c.Domain != "" || c.MaxAge != 15*60 {
			t.Errorf("cookie %q, want gatehouse_auth; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=900", c.String())
		}
		h := cookieHeader(c)
		if status := meAs(t, s.URL, h); status != http.StatusOK {
			t.Fatalf("GET /users/me with the cookie: %d", status)
		}
		// A safe request is never checked for its origin.
		if status := meAs(t, s.URL, with(h, "Sec-Fetch-Site", "cross-site")); status != http.StatusOK {
			t.Errorf("cross-site GET /users/me: %d, want 200", status)
		}
		// A forged logout is refused, whether the browser sends Fetch
		// metadata or only an Origin.
		for _, forged := range []http.Header{
			with(h, "Sec-Fetch-Site", "cross-site"),
			with(h, "Sec-Fetch-Site", "same-site", "Origin", "https://evil.example.com"),
			with(h, "Origin", "https://evil.example.com"),
		} {
			if resp, b := send(t, "POST", s.URL+"/auth/cookie/logout", nil, forged); resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site logout %v: %d %s, want 403", forged, resp.StatusCode, b)
			}
		}
		// So is a forged PATCH of the account.
		patch := with(h, "Sec-Fetch-Site", "cross-site", "Content-Type", "application/json")
		if resp, b := send(t, "PATCH", s.URL+"/users/me", strings.NewReader(`{"email":"mallory@example.com"}`), patch); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site PATCH /users/me: %d %s, want 403", resp.StatusCode, b)
		}
		if status := meAs(t, s.URL, h); status != http.StatusOK {
			t.Fatalf("the cookie stopped working after refused forgeries: %d", status)
		}

		// A same-origin logout works: by Fetch metadata...
		resp, b := send(t, "POST", s.URL+"/auth/cookie/logout", nil, with(h, "Sec-Fetch-Site", "same-origin"))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("same-origin logout: %d %s", resp.StatusCode, b)
		}
		if cs := resp.Cookies(); len(cs) != 1 || cs[0].Name != "gatehouse_auth" || cs[0].Value != "" || cs[0].MaxAge >= 0 {
			t.Errorf("logout Set-Cookie %q, want gatehouse_auth cleared", resp.Header["Set-Cookie"])
		}
		if status := meAs(t, s.URL, h); status != http.StatusUnauthorized {
			t.Errorf("GET /users/me with the cookie after logout: %d, want 401", status)
		}

		// ... or by an Origin equal to the host.
		h = cookieHeader(loginCookie(t, s.URL, "cookie", "dora@example.com", testPassword))
		resp, b = send(t, "POST", s.URL+"/auth/cookie/logout", nil, with(h, "Origin", s.URL))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout with Origin %s: %d %s", s.URL, resp.StatusCode, b)
		}
		if status := meAs(t, s.URL, h); status != http.StatusUnauthorized {
			t.Errorf("GET /users/me with the cookie after logout: %d, want 401", status)
		}

		// A request with neither Sec-Fetch-Site nor Origin comes from no
		// browser (browsers send one of them with every POST), so it is
		// not refused: net/http.CrossOriginProtection lets it through.
		h = cookieHeader(loginCookie(t, s.URL, "cookie", "dora@example.com", testPassword))
		if resp, b := send(t, "POST", s.URL+"/auth/cookie/logout", nil, h); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout without Fetch metadata or Origin: %d %s", resp.StatusCode, b)
		}

		// A forged login is refused too.
		resp, b = loginForm(t, s.URL, "cookie", "dora@example.com", testPassword, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("cross-site login: %d %s, Set-Cookie %q; want 403 without a cookie", resp.StatusCode, b, resp.Header["Set-Cookie"])
		}
	})

	t.Run("backends are tried in order", func(t *testing.T) {
		// A request with a bad bearer token and a good cookie passes by
		// the cookie, the second backend.
		c := loginCookie(t, s.URL, "cookie", "dora@example.com", testPassword)
		h := with(cookieHeader(c), "Authorization", "Bearer not-a-token")
		if status := meAs(t, s.URL, h); status != http.StatusOK {
			t.Errorf("bad bearer token and a good cookie: %d, want 200", status)
		}
	})
}

// TestServeCookieSettings checks that the cookie settings reach the cookie
// and that trusted origins may send unsafe requests with it.
func TestServeCookieSettings(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	const app = "https://app.example.com"
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_COOKIE_SECURE": "false"}, "--database-url", dbURL,
		"--backends", "web=cookie+database", "--cookie-name", "sid", "--cookie-path", "/", "--cookie-samesite", "strict",
		"--cookie-max-age", "0", "--trusted-origins", app+",http://localhost:3000")
	register(t, s.URL, "erin@example.com", testPassword)
	if !strings.Contains(s.Log.String(), "GATEHOUSE_COOKIE_SECURE") {
		t.Errorf("no warning about the cookie without Secure in the log:\n%s", s.Log)
	}

	c := loginCookie(t, s.URL, "web", "erin@example.com", testPassword)
	if c.Name != "sid" || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 0 || len(c.Value) != 43 {
		t.Errorf("cookie %q, want sid=<43 characters>; HttpOnly; SameSite=Strict; no Secure, no Max-Age", c.String())
	}
	h := cookieHeader(c)
	if status := meAs(t, s.URL, h); status != http.StatusOK {
		t.Fatalf("GET /users/me: %d", status)
	}
	if resp, b := send(t, "POST", s.URL+"/auth/web/logout", nil, with(h, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example.com")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout from an untrusted origin: %d %s, want 403", resp.StatusCode, b)
	}
	resp, b := send(t, "POST", s.URL+"/auth/web/logout", nil, with(h, "Sec-Fetch-Site", "cross-site", "Origin", app))
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout from the trusted origin %s: %d %s, want 204", app, resp.StatusCode, b)
	}
	if status := meAs(t, s.URL, h); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me after logout: %d, want 401", status)
	}

	// The opaque token of the database strategy works in a cookie too, and
	// a bearer header is not read by a cookie-only server.
	c = loginCookie(t, s.URL, "web", "erin@example.com", testPassword)
	if status := meAs(t, s.URL, bearerHeader(c.Value)); status != http.StatusUnauthorized {
		t.Errorf("the cookie's token as a bearer token: %d, want 401", status)
	}
}
