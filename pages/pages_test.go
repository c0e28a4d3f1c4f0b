package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/pages"
)

const (
	wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	// wantScriptCSP is the policy of the pages that load the passkeys'
	// script.
	wantScriptCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// checkHeaders checks the headers every answer carries.
func checkHeaders(t *testing.T, h http.Header) {
	t.Helper()
	checkPolicy(t, h, wantCSP)
}

// checkPageHeaders checks the headers of the page p: its policy allows
// the passkeys' script if, and only if, the page loads it.
func checkPageHeaders(t *testing.T, p page) {
	t.Helper()
	csp := wantCSP
	if strings.Contains(p.body, passkeyScript) {
		csp = wantScriptCSP
	}
	checkPolicy(t, p.header, csp)
}

func checkPolicy(t *testing.T, h http.Header, csp string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": csp,
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

var (
	inputID    = regexp.MustCompile(`<(?:input|select) id="([^"]+)"`)
	inlineCode = regexp.MustCompile(`<script|<style|\sstyle=|\son[a-z]+=`)
)

// passkeyScript is the only script a page may have: the passkeys' file.
const passkeyScript = `<script src="/pages/passkey.js" defer></script>`

// inline returns the first inline script or style of a page, or a script
// other than the passkeys' file.
func inline(body string) string {
	return inlineCode.FindString(strings.Replace(body, passkeyScript, "", 1))
}

func TestPagesRender(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true, keys: true, oauth: true, mfa: true})
	s.register("ann@example.com")
	loggedIn := s.browser()
	loggedIn.login("ann@example.com")
	for _, tc := range []struct {
		path  string
		b     *browser
		title string
		want  []string
	}{
		{"/login", s.browser(), "Log in", []string{
			`<label for="email">E-mail address</label>`, `autocomplete="username"`, `autocomplete="current-password"`,
			`href="/auth/acme/authorize?redirect=true&amp;return_to=https%3A%2F%2Fauth.example%2Faccount"`, "Log in with Acme",
			passkeyScript, `id="passkey-login" data-passkey="get"`, "Log in with a passkey",
		}},
		{"/login/mfa?mfa_token=ghm_x", s.browser(), "Two-step verification", []string{
			`<input type="hidden" name="mfa_token" value="ghm_x">`, passkeyScript, `id="passkey-step" data-passkey="get"`, "Use a passkey",
		}},
		{"/login/mfa?mfa_token=ghm_x&setup=1", s.browser(), "Set up two-step verification", []string{
			`<input type="hidden" name="mfa_token" value="ghm_x">`, `<input type="hidden" name="step" value="begin">`,
			passkeyScript, `id="setup-passkey" data-passkey="create"`, "Add a passkey instead",
		}},
		{"/register", s.browser(), "Create an account", []string{`<label for="password-confirm">`, `autocomplete="new-password"`}},
		{"/forgot-password", s.browser(), "Forgot your password?", []string{`action="/forgot-password"`}},
		{"/reset-password?token=tok.en-1", s.browser(), "Choose a new password", []string{`<input type="hidden" name="token" value="tok.en-1">`}},
		{"/reset-password", s.browser(), "Choose a new password", []string{"open the link from the e-mail"}},
		{"/verify?token=tok.en-2", s.browser(), "Confirm your e-mail address", []string{
			`<input type="hidden" name="token" value="tok.en-2">`, "Confirm my e-mail"}},
		{"/verify", s.browser(), "Confirm your e-mail address", []string{"Send me a new link"}},
		{"/logout", s.browser(), "Log out", []string{`action="/logout"`}},
		{"/account", loggedIn, "Your account", []string{"ann@example.com", "Two-step verification", "Where you are logged in", "API keys", "Linked accounts",
			passkeyScript, "<h3 id=\"passkeys-title\">Passkeys</h3>", `id="passkey-add" data-passkey="create"`}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := tc.b.get(tc.path)
			wantPage(t, p, http.StatusOK, append([]string{
				"<!doctype html>", `<html lang="en">`, "<title>" + tc.title + " – Acme</title>",
				`<link rel="stylesheet" href="/pages/app.css">`, `<main id="main">`, "<h1>" + tc.title + "</h1>",
			}, tc.want...)...)
			if strings.Contains(p.body, "<form") && !strings.Contains(p.body, `<input type="hidden" name="csrf_token" value="`) {
				t.Error("a form lacks the CSRF token")
			}
			checkPageHeaders(t, p)
			for k, want := range map[string]string{"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"} {
				if got := p.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, m := range inputID.FindAllStringSubmatch(p.body, -1) {
				if !strings.Contains(p.body, `<label for="`+m[1]+`">`) {
					t.Errorf("input %q has no label", m[1])
				}
			}
			if m := inline(p.body); m != "" {
				t.Errorf("page has a script or inline style %q", m)
			}
		})
	}

	// The first GET sets the CSRF cookie: Secure, HttpOnly, SameSite=Strict, host-only.
	p := s.browser().get("/login")
	c := p.header.Get("Set-Cookie")
	for _, w := range []string{"__Host-gatehouse_csrf=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(c, w) {
			t.Errorf("CSRF cookie %q lacks %s", c, w)
		}
	}
	if strings.Contains(c, "Domain=") || strings.Contains(c, "Max-Age") {
		t.Errorf("CSRF cookie %q must be a host-only session cookie", c)
	}
}

func TestStaticAndRoutes(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{})
	b := s.browser()
	css := b.get("/pages/app.css")
	if css.status != http.StatusOK || css.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(css.body, ":focus-visible") {
		t.Fatalf("GET /pages/app.css: %d %q", css.status, css.header.Get("Content-Type"))
	}
	checkHeaders(t, css.header)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/pages/app.css", nil)
	req.Header.Set("If-None-Match", css.header.Get("ETag"))
	if p := b.do(req); p.status != http.StatusNotModified {
		t.Errorf("GET with If-None-Match: %d, want 304", p.status)
	}
	req, _ = http.NewRequest(http.MethodHead, s.URL+"/login", nil)
	if p := b.do(req); p.status != http.StatusOK || p.body != "" {
		t.Errorf("HEAD /login: %d %q", p.status, p.body)
	}

	// The handler alone: 404 pages for what it does not serve.
	h := pages.Handler(pages.Config{API: http.NotFoundHandler(), CSRFKey: []byte(csrfKey)})
	for _, path := range []string{"/pages/", "/pages/layout.html", "/", "/login", "/account"} {
		rec := httptestRecorder(h, http.MethodGet, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s without a cookie backend: %d, want 404", path, rec.Code)
		}
		checkHeaders(t, rec.Header())
	}
	if got := pages.Patterns(pages.Config{}); strings.Contains(strings.Join(got, ","), "/login") {
		t.Errorf("Patterns without a cookie backend = %v, want no /login", got)
	}
}

func TestConfigPanics(t *testing.T) {
	t.Parallel()
	ok := pages.Config{API: http.NotFoundHandler(), CSRFKey: []byte(csrfKey)}
	for name, mod := range map[string]func(*pages.Config){
		"no API":             func(c *pages.Config) { c.API = nil },
		"short key":          func(c *pages.Config) { c.CSRFKey = []byte("short") },
		"relative prefix":    func(c *pages.Config) { c.PathPrefix = "api" },
		"host prefix":        func(c *pages.Config) { c.PathPrefix = "//evil.example" },
		"dot prefix":         func(c *pages.Config) { c.PathPrefix = "/a/../b" },
		"backslash prefix":   func(c *pages.Config) { c.PathPrefix = `/a\b` },
		"query prefix":       func(c *pages.Config) { c.PathPrefix = "/a?b" },
		"bad backend":        func(c *pages.Config) { c.CookieBackend = "a/b" },
		"bad provider":       func(c *pages.Config) { c.CookieBackend, c.OAuthProviders = "cookie", []string{"x y"} },
		"provider, no login": func(c *pages.Config) { c.OAuthProviders = []string{"acme"} },
		"relative return":    func(c *pages.Config) { c.CookieBackend, c.OAuthReturnURL = "cookie", "/account" },
	} {
		cfg := ok
		mod(&cfg)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Handler did not panic", name)
				}
			}()
			pages.Handler(cfg)
		}()
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true})
	s.register("ann@example.com")
	victim := s.browser()
	victim.login("ann@example.com")
	token := victim.csrf("/account")
	for _, tc := range []struct {
		name   string
		b      *browser
		form   url.Values
		header http.Header
	}{
		{"no token", victim, url.Values{"action": {"end-all-sessions"}}, nil},
		{"wrong token", victim, url.Values{"action": {"end-all-sessions"}, "csrf_token": {token + "x"}}, nil},
		{"another browser's token", s.browser(), url.Values{"action": {"end-all-sessions"}, "csrf_token": {token}}, nil},
		{"cross-site with the token", victim, url.Values{"action": {"end-all-sessions"}, "csrf_token": {token}},
			http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"foreign origin with the token", victim, url.Values{"action": {"end-all-sessions"}, "csrf_token": {token}},
			http.Header{"Origin": {"https://evil.example"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.b.post("/account", tc.form, tc.header)
			wantPage(t, p, http.StatusForbidden, "This form has expired", "Nothing was changed")
			checkHeaders(t, p.header)
			// Still logged in: the form did nothing.
			wantPage(t, victim.get("/account"), http.StatusOK, "ann@example.com")
		})
	}
	// Pages without a login check it too: no account comes of a forged form.
	for _, path := range []string{"/register", "/login", "/forgot-password", "/verify", "/reset-password", "/logout"} {
		p := s.browser().post(path, url.Values{"email": {"mallory@example.com"}, "password": {pw}, "password_confirm": {pw}}, nil)
		if p.status != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", path, p.status)
		}
	}
	if _, err := s.users.FindUserByEmail(context.Background(), "mallory@example.com"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("a forged registration made a user (%v)", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true})
	s.register("ann@example.com")

	t.Run("success", func(t *testing.T) {
		t.Parallel()
		b := s.browser()
		p := b.submit("/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
		wantRedirect(t, p, "/account")
		var names []string
		for _, c := range p.header.Values("Set-Cookie") {
			names = append(names, c[:strings.Index(c, "=")])
		}
		if got := strings.Join(names, ","); got != "gatehouse_auth,gatehouse_auth_refresh" {
			t.Errorf("cookies set: %s, want the API's auth and refresh cookies", got)
		}
		wantPage(t, b.get("/account"), http.StatusOK, "ann@example.com")
	})

	for _, tc := range []struct{ next, want string }{
		{"/account?tab=keys", "/account?tab=keys"},
		{"/somewhere/else", "/somewhere/else"},
		{"//evil.example/", "/account"},
		{`/\evil.example/`, "/account"},
		{"https://evil.example/", "/account"},
		{"javascript:alert(1)", "/account"},
		{"evil.example", "/account"},
		{"/%0d%0aSet-Cookie:x=y", "/%0d%0aSet-Cookie:x=y"},
		{"/a\r\nSet-Cookie: x=y", "/account"},
		{"/a\\b", "/account"},
	} {
		t.Run("next="+tc.next, func(t *testing.T) {
			t.Parallel()
			b := s.browser()
			page := b.get("/login?next=" + url.QueryEscape(tc.next))
			if tc.want == "/account" && strings.Contains(page.body, `name="next"`) {
				t.Errorf("the login page keeps the unsafe next %q", tc.next)
			}
			p := b.submit("/login", url.Values{"email": {"ann@example.com"}, "password": {pw}, "next": {tc.next}})
			wantRedirect(t, p, tc.want)
		})
	}

	// Wrong password and unknown e-mail read the same.
	var bodies []string
	for _, email := range []string{"ann@example.com", "nobody@example.com"} {
		p := s.browser().submit("/login", url.Values{"email": {email}, "password": {"wrong-password"}})
		wantPage(t, p, http.StatusBadRequest, `role="alert"`, "autofocus", "Wrong e-mail or password.",
			"<title>Error: Log in – Acme</title>", `value="`+email+`"`)
		if p.header.Get("Set-Cookie") != "" && strings.Contains(p.header.Get("Set-Cookie"), "gatehouse_auth") {
			t.Errorf("a failed login set an auth cookie")
		}
		bodies = append(bodies, strings.ReplaceAll(p.body, email, "EMAIL"))
	}
	if strip := regexp.MustCompile(`value="[^"]*"`); strip.ReplaceAllString(bodies[0], "") != strip.ReplaceAllString(bodies[1], "") {
		t.Error("wrong password and unknown e-mail give different pages")
	}

	p := s.browser().submit("/login", url.Values{"email": {""}, "password": {""}})
	wantPage(t, p, http.StatusUnprocessableEntity, `<a href="#email">Enter your e-mail address.</a>`,
		`<a href="#password">Enter your password.</a>`, `aria-invalid="true" aria-describedby="email-error"`)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{})
	s.register("taken@example.com")
	for _, tc := range []struct {
		name          string
		email, p1, p2 string
		status        int
		want          string
	}{
		{"passwords differ", "bea@example.com", pw, pw + "x", http.StatusUnprocessableEntity, `<a href="#password-confirm">The two passwords do not match.</a>`},
		{"bad e-mail", "not-an-email", pw, pw, http.StatusUnprocessableEntity, `<a href="#email">Enter an e-mail address such as name@example.com.</a>`},
		{"short password", "bea@example.com", "short", "short", http.StatusBadRequest, `<a href="#password">Password should be at least 8 characters`},
		{"taken", "taken@example.com", pw, pw, http.StatusBadRequest, "This e-mail address cannot be used to register."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := s.browser().submit("/register", url.Values{"email": {tc.email}, "password": {tc.p1}, "password_confirm": {tc.p2}})
			wantPage(t, p, tc.status, tc.want, `role="alert"`)
			if strings.Contains(p.body, tc.p1) && tc.p1 != "" {
				t.Error("the page shows the password back")
			}
		})
	}
}

func TestVerifyAndReset(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{})
	b := s.browser()
	p := b.submit("/register", url.Values{"email": {"ann@example.com"}, "password": {pw}, "password_confirm": {pw}})
	wantRedirect(t, p, "/verify?notice=registered")
	wantPage(t, b.get("/verify?notice=registered"), http.StatusOK, `role="status"`, "We sent you an e-mail")
	token := s.token()

	// Opening the link (as a mail scanner does) changes nothing.
	wantPage(t, s.browser().get("/verify?token="+url.QueryEscape(token)), http.StatusOK, `value="`+token+`"`)
	if s.user("ann@example.com").IsVerified {
		t.Fatal("GET /verify verified the user")
	}
	p = b.submit("/verify?token="+url.QueryEscape(token), url.Values{"token": {token}})
	wantRedirect(t, p, "/login?notice=verified")
	if !s.user("ann@example.com").IsVerified {
		t.Fatal("the form did not verify the user")
	}
	wantPage(t, b.submit("/verify", url.Values{"token": {token}}), http.StatusBadRequest, "This e-mail address is already confirmed.")
	wantPage(t, b.submit("/verify", url.Values{"token": {"bad"}}), http.StatusBadRequest, "This link is invalid or has expired.")
	wantRedirect(t, b.submit("/verify", url.Values{"email": {"ann@example.com"}}), "/verify?notice=link-sent")

	// Password reset.
	wantRedirect(t, b.submit("/forgot-password", url.Values{"email": {"ann@example.com"}}), "/forgot-password?notice=reset-sent")
	wantPage(t, b.submit("/forgot-password", url.Values{"email": {"nope"}}), http.StatusUnprocessableEntity, `<a href="#email">`)
	token = s.token()
	reset := "/reset-password?token=" + url.QueryEscape(token)
	const newPW = "a-brand-new-passphrase"
	wantPage(t, b.submit(reset, url.Values{"token": {token}, "password": {newPW}, "password_confirm": {"other"}}),
		http.StatusUnprocessableEntity, "The two passwords do not match.", `value="`+token+`"`)
	wantPage(t, b.submit(reset, url.Values{"token": {token}, "password": {"short"}, "password_confirm": {"short"}}),
		http.StatusBadRequest, `<a href="#password">Password should be at least 8 characters`)
	wantPage(t, b.submit(reset, url.Values{"token": {token + "x"}, "password": {newPW}, "password_confirm": {newPW}}),
		http.StatusBadRequest, "This link is invalid, has expired or was already used.")
	wantRedirect(t, b.submit(reset, url.Values{"token": {token}, "password": {newPW}, "password_confirm": {newPW}}),
		"/login?notice=password-reset")
	wantRedirect(t, b.submit("/login", url.Values{"email": {"ann@example.com"}, "password": {newPW}}), "/account")
	wantPage(t, b.submit(reset, url.Values{"token": {token}, "password": {newPW}, "password_confirm": {newPW}}),
		http.StatusBadRequest, "This link is invalid, has expired or was already used.")
}

func TestAccount(t *testing.T) {
	t.Parallel()
	t.Run("not logged in", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, options{sessions: true})
		wantRedirect(t, s.browser().get("/account"), "/login?next=%2Faccount")
	})
	t.Run("features off", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, options{fields: []gatehouse.Field{{Name: "first_name", Type: gatehouse.FieldString, Nullable: true}}})
		s.register("ann@example.com")
		b := s.browser()
		b.login("ann@example.com")
		p := b.get("/account")
		wantPage(t, p, http.StatusOK, `<dd id="account-email">ann@example.com</dd>`, "<dt>First name</dt>\n<dd>Not set</dd>",
			"get a link to confirm it", `<button type="submit" class="secondary">Log out</button>`)
		for _, absent := range []string{"Where you are logged in", "API keys", "Linked accounts"} {
			if strings.Contains(p.body, absent) {
				t.Errorf("the page shows %q though the feature is off", absent)
			}
		}
	})
	t.Run("linked accounts", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, options{oauth: true})
		s.register("ann@example.com")
		u := s.user("ann@example.com")
		acc := gatehouse.OAuthAccount{ID: gatehouse.NewID(), UserID: u.ID, Provider: "acme", AccountID: "42",
			AccountEmail: "ann@acme.example", CreatedAt: time.Now()}
		if err := s.oauth.CreateOAuthAccount(context.Background(), acc); err != nil {
			t.Fatal(err)
		}
		b := s.browser()
		b.login("ann@example.com")
		wantPage(t, b.get("/account"), http.StatusOK, "acme: ann@acme.example", `name="account" value="`+acc.ID.String()+`"`)
		wantRedirect(t, b.submit("/account", url.Values{"action": {"unlink"}, "account": {acc.ID.String()}}), "/account?notice=unlinked")
		wantPage(t, b.get("/account?notice=unlinked"), http.StatusOK, "No other account is linked to yours.", "The account was unlinked.")
		wantPage(t, b.submit("/account", url.Values{"action": {"unlink"}, "account": {acc.ID.String()}}), http.StatusNotFound,
			"This item does not exist any more.")
	})
	t.Run("change password", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, options{sessions: true})
		s.register("ann@example.com")
		b, other := s.browser(), s.browser()
		b.login("ann@example.com")
		other.login("ann@example.com")
		wantPage(t, b.submit("/account", url.Values{"action": {"change-password"}, "password": {"short"}, "password_confirm": {"short"}}),
			http.StatusBadRequest, `<a href="#password">Password should be at least 8 characters`, "ann@example.com")
		wantPage(t, b.submit("/account", url.Values{"action": {"change-password"}, "password": {"a-new-passphrase"}, "password_confirm": {"x"}}),
			http.StatusUnprocessableEntity, "The two passwords do not match.")
		wantRedirect(t, b.submit("/account", url.Values{"action": {"change-password"}, "password": {"a-new-passphrase"},
			"password_confirm": {"a-new-passphrase"}}), "/account?notice=password-changed")
		wantPage(t, b.get("/account"), http.StatusOK, "ann@example.com")
		wantRedirect(t, other.get("/account"), "/login?next=%2Faccount")
		wantPage(t, s.browser().submit("/login", url.Values{"email": {"ann@example.com"}, "password": {pw}}), http.StatusBadRequest)
	})
	t.Run("unknown action", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, options{})
		s.register("ann@example.com")
		b := s.browser()
		b.login("ann@example.com")
		wantPage(t, b.submit("/account", url.Values{"action": {"drop-tables"}}), http.StatusBadRequest)
	})
}

var keyRE = regexp.MustCompile(`<input id="new-key" class="key" type="text" readonly value="([^"]+)"`)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{keys: true})
	s.register("ann@example.com")
	b := s.browser()
	b.login("ann@example.com")

	wantPage(t, b.submit("/account", url.Values{"action": {"create-key"}, "name": {""}}), http.StatusUnprocessableEntity,
		`<a href="#key-name">Enter a name of 1 to 100 characters.</a>`)
	wantPage(t, b.submit("/account", url.Values{"action": {"create-key"}, "name": {"ci"}, "scope": {"users:delete"}}),
		http.StatusBadRequest, "A key cannot have a permission that you do not have.")

	p := b.submit("/account", url.Values{"action": {"create-key"}, "name": {"backup script"}, "expires": {"30d"}, "scope": {"api-keys"}})
	wantPage(t, p, http.StatusCreated, "Your new API key “backup script”", "shown only this once")
	m := keyRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no key on the page\n%s", p.body)
	}
	key := m[1]
	again := b.get("/account")
	wantPage(t, again, http.StatusOK, "backup script", "api-keys")
	if strings.Contains(again.body, key) {
		t.Fatal("the key is shown a second time")
	}

	me := func() int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/users/me", nil)
		req.Header.Set("X-API-Key", key)
		return s.browser().do(req).status
	}
	if got := me(); got != http.StatusOK {
		t.Fatalf("GET /users/me with the key: %d, want 200", got)
	}
	id := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(again.body)
	if id == nil {
		t.Fatal("no revoke form")
	}
	wantRedirect(t, b.submit("/account", url.Values{"action": {"revoke-key"}, "key": {id[1]}}), "/account?notice=key-revoked")
	if got := me(); got != http.StatusUnauthorized {
		t.Errorf("GET /users/me with a revoked key: %d, want 401", got)
	}
	wantPage(t, b.get("/account"), http.StatusOK, "You have no API keys.")
}

func TestSessions(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true})
	s.register("ann@example.com")
	a, b, c := s.browser(), s.browser(), s.browser()
	a.login("ann@example.com")
	b.login("ann@example.com")
	c.login("ann@example.com")

	p := a.get("/account")
	wantPage(t, p, http.StatusOK, "(this device)", "Log out all other devices", "Log out everywhere")
	if n := strings.Count(p.body, `name="action" value="end-session"`); n != 2 {
		t.Errorf("%d per-device log out buttons, want 2 (not this device's)", n)
	}
	sid := regexp.MustCompile(`name="session" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
	wantRedirect(t, a.submit("/account", url.Values{"action": {"end-session"}, "session": {sid}}), "/account?notice=session-ended")
	wantPage(t, a.get("/account?notice=session-ended"), http.StatusOK, "That device was logged out.")
	if n := strings.Count(a.get("/account").body, `name="action" value="end-session"`); n != 1 {
		t.Errorf("%d other devices after logging one out, want 1", n)
	}

	wantRedirect(t, a.submit("/account", url.Values{"action": {"end-other-sessions"}}), "/account?notice=sessions-ended")
	wantRedirect(t, b.get("/account"), "/login?next=%2Faccount")
	wantRedirect(t, c.get("/account"), "/login?next=%2Faccount")
	wantPage(t, a.get("/account"), http.StatusOK, "ann@example.com")

	// Log out everywhere, then log out of a fresh login.
	b.login("ann@example.com")
	p = a.submit("/account", url.Values{"action": {"end-all-sessions"}})
	wantRedirect(t, p, "/login?notice=logged-out-all")
	if !strings.Contains(strings.Join(p.header.Values("Set-Cookie"), "\n"), "gatehouse_auth=; Path=/; Max-Age=0") {
		t.Errorf("log out everywhere did not clear the auth cookie: %q", p.header.Values("Set-Cookie"))
	}
	wantRedirect(t, a.get("/account"), "/login?next=%2Faccount")
	wantRedirect(t, b.get("/account"), "/login?next=%2Faccount")

	a.login("ann@example.com")
	wantRedirect(t, a.submit("/logout", url.Values{}), "/login?notice=logged-out")
	wantRedirect(t, a.get("/account"), "/login?next=%2Faccount")
	// Logging out again is no error.
	wantRedirect(t, a.submit("/logout", url.Values{}), "/login?notice=logged-out")
}

// TestRefresh checks that the account page renews an expired login from
// the refresh cookie once, and sends the browser on with the new cookies.
func TestRefresh(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true, refreshPath: "/"})
	s.register("ann@example.com")
	b := s.browser()
	p := b.submit("/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
	var refresh string
	for _, c := range p.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "gatehouse_auth_refresh="); ok {
			refresh, _, _ = strings.Cut(v, ";")
		}
	}
	if refresh == "" {
		t.Fatal("no refresh cookie")
	}
	// A browser whose access cookie expired sends the refresh cookie only.
	fresh := s.browser()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/account", nil)
	req.Header.Set("Cookie", "gatehouse_auth_refresh="+refresh)
	got := fresh.do(req)
	wantPage(t, got, http.StatusOK, "ann@example.com")
	if set := strings.Join(got.header.Values("Set-Cookie"), "\n"); !strings.Contains(set, "gatehouse_auth=") ||
		!strings.Contains(set, "gatehouse_auth_refresh=") {
		t.Errorf("the refreshed cookies were not passed on: %q", set)
	}
	// The old refresh token is spent: no second refresh from it.
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/account", nil)
	req.Header.Set("Cookie", "gatehouse_auth_refresh="+refresh)
	wantRedirect(t, s.browser().do(req), "/login?next=%2Faccount")
}
