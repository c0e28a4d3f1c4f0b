package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/forwardauth"
	"github.com/gatehouse/gatehouse/sqlite"
)

const (
	unauthorized = `{"detail":"Unauthorized"}`
	forbidden    = `{"detail":"Forbidden"}`
	badRequest   = `{"detail":"Bad Request"}`
	unavailable  = `{"detail":"SERVICE_UNAVAILABLE"}`
	internal     = `{"detail":"Internal Server Error"}`

	loginURL = "https://login.example.com/login?app=docs"
)

// forwarded returns the headers a proxy adds to describe the original
// request, plus extra ones in pairs.
func forwarded(method, host, uri string, extra ...string) map[string]string {
	h := map[string]string{
		"X-Forwarded-Method": method,
		"X-Forwarded-Proto":  "https",
		"X-Forwarded-Host":   host,
		"X-Forwarded-Uri":    uri,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// with returns h plus extra headers in pairs; an empty value removes one.
func with(h map[string]string, extra ...string) map[string]string {
	out := make(map[string]string, len(h)+len(extra)/2)
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			delete(out, extra[i])
			continue
		}
		out[extra[i]] = extra[i+1]
	}
	return out
}

// want is an answer of the endpoint. On 200 the user headers must be
// user's (nil: none expected) with these roles.
type want struct {
	status   int
	body     string
	user     *gatehouse.User
	roles    string
	location string // "" means no Location header
}

// check sends one subrequest to mux and compares the answer with w.
func check(t *testing.T, mux http.Handler, target string, header map[string]string, w want) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, r)
	res := rec.Result()
	if res.StatusCode != w.status || rec.Body.String() != w.body {
		t.Fatalf("got %d %q, want %d %q", res.StatusCode, rec.Body.String(), w.status, w.body)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := res.Header.Get("Location"); got != w.location {
		t.Errorf("Location = %q, want %q", got, w.location)
	}
	if w.status == http.StatusUnauthorized {
		if got := res.Header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("WWW-Authenticate = %q, want Bearer", got)
		}
	}
	wantID, wantEmail := "", ""
	if w.user != nil {
		wantID, wantEmail = w.user.ID.String(), w.user.Email
	}
	for name, value := range map[string]string{
		forwardauth.HeaderUserID:    wantID,
		forwardauth.HeaderUserEmail: wantEmail,
		forwardauth.HeaderUserRoles: w.roles,
	} {
		got, present := res.Header[name]
		switch {
		case w.user == nil && present:
			t.Errorf("%s = %q on a refusal", name, got)
		case w.user != nil && (len(got) != 1 || got[0] != value):
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, root, una := f.users["alice"], f.users["root"], f.users["una"]
	bearer := func(name string) string { return "Bearer " + f.tokens[name] }
	docs := forwarded("GET", "app.example.com", "/docs/a?x=1")
	browser := with(docs, "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	next := "https://login.example.com/login?app=docs&next=https%3A%2F%2Fapp.example.com%2Fdocs%2Fa%3Fx%3D1"
	ok := func(u *gatehouse.User, roles string) want { return want{status: 200, user: u, roles: roles} }
	refused := func(status int, body string) want { return want{status: status, body: body} }

	cases := []struct {
		name   string
		opt    options
		target string // default /auth/forward
		header map[string]string
		want   want
	}{
		// Credentials, as each backend reads them from the forwarded headers.
		{"bearer", options{}, "", with(docs, "Authorization", bearer("alice")), ok(alice, "staff")},
		{"cookie", options{}, "", with(docs, "Cookie", cookieName+"="+f.tokens["alice"]), ok(alice, "staff")},
		{"api key narrows roles to its scopes", options{}, "", with(docs, "X-API-Key", f.keys["docs"]), ok(alice, "")},
		{"roles sorted", options{}, "", with(docs, "Authorization", bearer("root")), ok(root, "admin,staff")},
		{"no roles store", options{noRoles: true}, "", with(docs, "Authorization", bearer("root")), ok(root, "")},
		{"no forwarded headers", options{}, "", map[string]string{"Authorization": bearer("alice")}, ok(alice, "staff")},
		{"no credential", options{}, "", docs, refused(401, unauthorized)},
		{"malformed bearer", options{}, "", with(docs, "Authorization", "Bearer not.a.jwt"), refused(401, unauthorized)},
		{"expired token", options{}, "", with(docs, "Authorization", "Bearer "+f.expired), refused(401, unauthorized)},
		{"logged out token", options{}, "", with(docs, "Authorization", "Bearer "+f.revoked), refused(401, unauthorized)},
		{"logged out cookie", options{}, "", with(docs, "Cookie", cookieName+"="+f.revoked), refused(401, unauthorized)},
		{"unknown api key", options{}, "", with(docs, "X-API-Key", f.keys["unknown"]), refused(401, unauthorized)},
		{"credential in the subrequest's own query", options{}, "/auth/forward?access_token=" + f.tokens["alice"], docs, refused(401, unauthorized)},

		// Requirement.
		{"inactive", options{}, "", with(docs, "Authorization", bearer("ivan")), refused(403, forbidden)},
		{"unverified let in by default", options{}, "", with(docs, "Authorization", bearer("una")), ok(una, "staff")},
		{"unverified when verification is required", options{verified: true}, "", with(docs, "Authorization", bearer("una")), refused(403, forbidden)},

		// Policies.
		{"policy allows docs", options{policies: true}, "", with(docs, "Authorization", bearer("alice")), ok(alice, "staff")},
		{"policy denies admin path", options{policies: true}, "", with(forwarded("GET", "app.example.com", "/admin/"), "Authorization", bearer("alice")), refused(403, forbidden)},
		{"admin role allowed anywhere", options{policies: true}, "", with(forwarded("DELETE", "app.example.com", "/admin/"), "Authorization", bearer("root")), ok(root, "admin,staff")},
		{"dot-dot leaves docs", options{policies: true}, "", with(forwarded("GET", "app.example.com", "/docs/../admin"), "Authorization", bearer("alice")), refused(403, forbidden)},
		{"encoded dot-dot leaves docs", options{policies: true}, "", with(forwarded("GET", "app.example.com", "/docs/%2e%2e/admin"), "Authorization", bearer("alice")), refused(403, forbidden)},
		{"encoded slash leaves docs", options{policies: true}, "", with(forwarded("GET", "app.example.com", "/docs/..%2Fadmin"), "Authorization", bearer("alice")), refused(403, forbidden)},
		{"double slash stays in docs", options{policies: true}, "", with(forwarded("GET", "app.example.com", "//docs//a"), "Authorization", bearer("alice")), ok(alice, "staff")},
		{"host rule allows reads", options{policies: true}, "", with(forwarded("GET", "Public.Example.com:8443", "/x"), "Authorization", bearer("una")), ok(una, "staff")},
		{"host rule denies writes", options{policies: true}, "", with(forwarded("POST", "public.example.com", "/x"), "Authorization", bearer("una")), refused(403, forbidden)},
		{"api key scope allows docs", options{policies: true}, "", with(docs, "X-API-Key", f.keys["docs"]), ok(alice, "")},
		{"api key without scope", options{policies: true}, "", with(docs, "X-API-Key", f.keys["none"]), refused(403, forbidden)},
		{"nginx X-Original headers", options{policies: true}, "", map[string]string{
			"X-Original-Method": "GET", "X-Forwarded-Host": "app.example.com", "X-Original-URI": "/docs/a",
			"Authorization": bearer("alice")}, ok(alice, "staff")},
		{"both names agree", options{policies: true}, "", with(docs, "X-Original-URI", "/docs/a?x=1", "Authorization", bearer("alice")), ok(alice, "staff")},
		{"client's X-Original-URI disagrees", options{policies: true}, "", with(forwarded("GET", "app.example.com", "/admin"), "X-Original-URI", "/docs/a", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"policies need the URI", options{policies: true}, "", with(docs, "X-Forwarded-Uri", "", "Authorization", bearer("root")), refused(400, badRequest)},
		{"policies need the method", options{policies: true}, "", with(docs, "X-Forwarded-Method", "", "Authorization", bearer("root")), refused(400, badRequest)},
		{"policies need the host", options{policies: true}, "", with(docs, "X-Forwarded-Host", "", "Authorization", bearer("root")), refused(400, badRequest)},

		// Malformed forwarded headers.
		{"host with a path", options{}, "", with(docs, "X-Forwarded-Host", "evil.example/x", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"host with user info", options{}, "", with(docs, "X-Forwarded-Host", "app.example.com@evil.example", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"absolute URI", options{}, "", with(docs, "X-Forwarded-Uri", "https://evil.example/", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"encoded NUL", options{}, "", with(docs, "X-Forwarded-Uri", "/docs/a%00.html", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"bad escape", options{}, "", with(docs, "X-Forwarded-Uri", "/docs/%zz", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"unknown scheme", options{}, "", with(docs, "X-Forwarded-Proto", "javascript", "Authorization", bearer("alice")), refused(400, badRequest)},
		{"method not a token", options{}, "", with(docs, "X-Forwarded-Method", "GET /", "Authorization", bearer("alice")), refused(400, badRequest)},

		// Cross-site requests, judged on the forwarded method and host.
		{"cross-site POST with a cookie", options{}, "", with(forwarded("POST", "app.example.com", "/form"),
			"Sec-Fetch-Site", "cross-site", "Cookie", cookieName+"="+f.tokens["alice"]), refused(403, forbidden)},
		{"cross-site GET with a cookie", options{}, "", with(forwarded("GET", "app.example.com", "/page"),
			"Sec-Fetch-Site", "cross-site", "Cookie", cookieName+"="+f.tokens["alice"]), ok(alice, "staff")},
		{"same-origin POST with a cookie", options{}, "", with(forwarded("POST", "app.example.com", "/form"),
			"Sec-Fetch-Site", "same-origin", "Cookie", cookieName+"="+f.tokens["alice"]), ok(alice, "staff")},
		{"old browser, foreign Origin", options{}, "", with(forwarded("POST", "app.example.com", "/form"),
			"Origin", "https://evil.example", "Cookie", cookieName+"="+f.tokens["alice"]), refused(403, forbidden)},
		{"old browser, own Origin", options{}, "", with(forwarded("POST", "app.example.com:8443", "/form"),
			"Origin", "https://app.example.com:8443", "Cookie", cookieName+"="+f.tokens["alice"]), ok(alice, "staff")},
		{"cross-site POST with a bearer token", options{}, "", with(forwarded("POST", "app.example.com", "/api"),
			"Sec-Fetch-Site", "cross-site", "Authorization", bearer("alice")), ok(alice, "staff")},

		// Sending browsers to the login page.
		{"browser told where to log in", options{login: loginURL}, "", browser, want{status: 401, body: unauthorized, location: next}},
		{"browser redirected on request", options{login: loginURL}, "/auth/forward?redirect=1", browser, want{status: 302, location: next}},
		{"expired token redirected", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "Authorization", "Bearer "+f.expired), want{status: 302, location: next}},
		{"HEAD navigation", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "X-Forwarded-Method", "HEAD"), want{status: 302, location: next}},
		{"relative login URL", options{login: "/login"}, "/auth/forward?redirect=1", with(browser, "X-Forwarded-Proto", "http", "X-Forwarded-Host", "[::1]:8080"),
			want{status: 302, location: "/login?next=http%3A%2F%2F%5B%3A%3A1%5D%3A8080%2Fdocs%2Fa%3Fx%3D1"}},
		{"scheme defaults to https", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "X-Forwarded-Proto", ""), want{status: 302, location: next}},
		{"no login URL", options{}, "/auth/forward?redirect=1", browser, refused(401, unauthorized)},
		{"API client", options{login: loginURL}, "/auth/forward?redirect=1", with(docs, "Accept", "application/json, */*"), refused(401, unauthorized)},
		{"form POST", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "X-Forwarded-Method", "POST"), refused(401, unauthorized)},
		{"WebSocket", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "X-Forwarded-Proto", "wss"), refused(401, unauthorized)},
		{"no forwarded host", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "X-Forwarded-Host", ""), refused(401, unauthorized)},
		{"signed-in browser", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "Authorization", bearer("alice")), ok(alice, "staff")},
		{"inactive browser", options{login: loginURL}, "/auth/forward?redirect=1", with(browser, "Authorization", bearer("ivan")), refused(403, forbidden)},

		// Values that cannot be headers fail closed.
		{"e-mail with CR LF", options{}, "", with(docs, "Authorization", bearer("eve")), refused(500, internal)},
		{"role with a comma", options{}, "", with(docs, "Authorization", bearer("carl")), refused(500, internal)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := c.target
			if target == "" {
				target = "/auth/forward"
			}
			check(t, f.mux(t, c.opt), target, c.header, c.want)
		})
	}
}

// The endpoint fails closed: a store that cannot answer gives 503, never
// 200 (nor a login redirect), whichever backend carried the credential.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	docs := forwarded("GET", "app.example.com", "/docs/a", "Accept", "text/html")
	for _, c := range []struct {
		name       string
		credential func(f *fixture) (header, value string)
	}{
		{"bearer", func(f *fixture) (string, string) { return "Authorization", "Bearer " + f.tokens["alice"] }},
		{"cookie", func(f *fixture) (string, string) { return "Cookie", cookieName + "=" + f.tokens["alice"] }},
		{"apikey", func(f *fixture) (string, string) { return "X-API-Key", f.keys["docs"] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			mux := f.mux(t, options{policies: true, login: loginURL})
			must(t, f.db.Close())
			name, value := c.credential(f)
			check(t, mux, "/auth/forward?redirect=1", with(docs, name, value), want{status: 503, body: unavailable})
		})
	}

	t.Run("roles store", func(t *testing.T) {
		t.Parallel()
		// Users are found, but their roles cannot be read.
		f, down := newFixture(t), newFixture(t)
		must(t, down.db.Close())
		h, err := forwardauth.New(forwardauth.Config{
			Authenticator: f.authn,
			Roles:         sqlite.NewRoleStore(down.db),
			Policies:      f.policies,
			Logger:        quiet,
		})
		must(t, err)
		check(t, h, "/auth/forward", with(docs, "Authorization", "Bearer "+f.tokens["root"]), want{status: 503, body: unavailable})
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, c := range []struct {
		name string
		cfg  forwardauth.Config
		want string
	}{
		{"no authenticator", forwardauth.Config{}, "Config.Authenticator is required"},
		{"optional", forwardauth.Config{Authenticator: f.authn, Requirement: gatehouse.Requirement{Optional: true}}, "Optional"},
		{"policies without roles", forwardauth.Config{Authenticator: f.authn, Policies: f.policies}, "need Config.Roles"},
		{"nil policy", forwardauth.Config{Authenticator: f.authn, Roles: f.roles, Policies: append(f.policies, nil)}, "is nil"},
		{"javascript login", forwardauth.Config{Authenticator: f.authn, LoginURL: "javascript:alert(1)"}, "LoginURL"},
		{"scheme-relative login", forwardauth.Config{Authenticator: f.authn, LoginURL: "//evil.example/login"}, "LoginURL"},
		{"relative login", forwardauth.Config{Authenticator: f.authn, LoginURL: "login"}, "LoginURL"},
		{"ftp login", forwardauth.Config{Authenticator: f.authn, LoginURL: "ftp://example.com/login"}, "LoginURL"},
		{"login with user info", forwardauth.Config{Authenticator: f.authn, LoginURL: "https://user@example.com/login"}, "LoginURL"},
		{"login with fragment", forwardauth.Config{Authenticator: f.authn, LoginURL: "https://example.com/login#x"}, "LoginURL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := forwardauth.New(c.cfg)
			if err == nil || h != nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "forwardauth: ") {
				t.Fatalf("New = %v, %v; want an error containing %q", h, err, c.want)
			}
		})
	}
}
