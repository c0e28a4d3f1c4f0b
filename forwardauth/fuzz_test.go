package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzForwardedRequest sends the endpoint forwarded headers of any shape,
// with and without alice's valid token, under the test policies (staff read
// /docs/, anyone reads public.example.com). Whatever the headers, it
// must answer one of the contract's statuses, never write a header value
// that could split the answer, let alice in only where an independent
// reading of the path and host allows her, and point the login redirect
// only at the forwarded host.
func FuzzForwardedRequest(f *testing.F) {
	for _, seed := range []struct {
		method, proto, host, uri, original string
		authed                             bool
	}{
		{"GET", "https", "app.example.com", "/docs/a?x=1", "", true},
		{"GET", "https", "app.example.com", "/docs/a?x=1", "", false},
		{"GET", "", "app.example.com:8443", "/docs/", "/docs/", true},
		{"HEAD", "http", "[::1]:8080", "/x", "", false},
		{"GET", "https", "public.example.com", "/anything", "", true},
		{"POST", "https", "PUBLIC.example.com", "/anything", "", true},
		// Escaping the allowed prefix.
		{"GET", "https", "app.example.com", "/docs/../admin", "", true},
		{"GET", "https", "app.example.com", "/docs/%2e%2e/admin", "", true},
		{"GET", "https", "app.example.com", "/docs/..%2fadmin", "", true},
		{"GET", "https", "app.example.com", "/docs/%2E%2E%2F%2E%2E%2Fadmin", "", true},
		{"GET", "https", "app.example.com", "/docs/a%00/../../admin", "", true},
		{"GET", "https", "app.example.com", "/admin", "/docs/a", true},
		// Open redirects and header splitting.
		{"GET", "https", "app.example.com", "//evil.example/", "", false},
		{"GET", "https", "evil.example@app.example.com", "/", "", false},
		{"GET", "https", "app.example.com/evil", "/", "", false},
		{"GET", "https", "app.example.com\\evil.example", "/", "", false},
		{"GET", "https", "app.example.com:80:80", "/", "", false},
		{"GET", "https", "[::1%25eth0]", "/", "", false},
		{"GET", "javascript", "app.example.com", "/", "", false},
		{"GET", "https", "app.example.com", "http://evil.example/", "", false},
		{"GET", "https", "app.example.com", "/a\r\nLocation: https://evil.example/", "", false},
		{"GET\r\nX: y", "https", "app.example.com", "/", "", true},
		{"GET", "https", "app.example.com", "*", "", true},
		{"GET", "https", "app.example.com", "/%ff%fe", "", true},
		{"GET", "https", "app.example.com", "/docs/#frag", "", true},
	} {
		f.Add(seed.method, seed.proto, seed.host, seed.uri, seed.original, seed.authed)
	}
	fx := newFixture(f)
	mux := fx.mux(f, options{policies: true, login: loginURL})
	token := "Bearer " + fx.tokens["alice"]

	f.Fuzz(func(t *testing.T, method, proto, host, uri, original string, authed bool) {
		r := httptest.NewRequest(http.MethodGet, "/auth/forward?redirect=1", nil)
		for name, v := range map[string]string{
			"X-Forwarded-Method": method, "X-Forwarded-Proto": proto, "X-Forwarded-Host": host,
			"X-Forwarded-Uri": uri, "X-Original-Uri": original, "Accept": "text/html",
		} {
			if v != "" {
				r.Header[name] = []string{v}
			}
		}
		if authed {
			r.Header.Set("Authorization", token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)

		switch w.Code {
		case 200, 302, 400, 401, 403:
		default:
			t.Fatalf("status %d", w.Code)
		}
		for name, vs := range w.Header() {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header %s = %q", name, v)
				}
			}
		}

		effective := uri
		if effective == "" {
			effective = original
		}
		if w.Code == 200 {
			if !authed {
				t.Fatal("200 without a credential")
			}
			if uri != "" && original != "" && uri != original {
				t.Fatalf("200 although X-Forwarded-Uri %q and X-Original-URI %q disagree", uri, original)
			}
			p, _, _ := strings.Cut(effective, "?")
			decoded, err := url.PathUnescape(p)
			if err != nil {
				t.Fatalf("200 for undecodable path %q", p)
			}
			inDocs := strings.HasPrefix(path.Clean(decoded)+"/", "/docs/")
			hostname, _, _ := strings.Cut(strings.ToLower(host), ":")
			public := hostname == "public.example.com" && (method == "GET" || method == "HEAD")
			if !inDocs && !public {
				t.Fatalf("200 for %s %q on %q, outside what the policies allow", method, effective, host)
			}
		}

		loc := w.Header().Get("Location")
		if loc == "" {
			if w.Code == 302 {
				t.Fatal("302 without Location")
			}
			return
		}
		if w.Code != 302 {
			t.Fatalf("Location %q on a %d", loc, w.Code)
		}
		rest, ok := strings.CutPrefix(loc, loginURL+"&next=")
		if !ok || strings.Contains(rest, "&") {
			t.Fatalf("Location %q is not the login URL with one next", loc)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		next := u.Query().Get("next")
		n, err := url.Parse(next)
		if err != nil || (n.Scheme != "http" && n.Scheme != "https") || n.User != nil || n.Host != strings.ToLower(host) {
			t.Fatalf("next %q does not name the forwarded host %q over http(s)", next, host)
		}
		if next != n.Scheme+"://"+strings.ToLower(host)+effective {
			t.Fatalf("next %q is not the original URL %q", next, effective)
		}
	})
}
