package pages_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/pages"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// token looks like a flow token; it must never come back in a response.
const token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlLXNlY3JldC10b2tlbg"

func get(t *testing.T, h http.Handler, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// checkSecurityHeaders checks the headers every response carries.
func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

var (
	inputID    = regexp.MustCompile(`<input id="([^"]+)"`)
	inlineCode = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
)

func TestPages(t *testing.T) {
	h := pages.Handler(pages.Config{})
	for _, tc := range []struct {
		path     string
		endpoint string
		want     []string
	}{
		{
			"/verify", "/auth/verify",
			[]string{`data-flow="verify"`, `<button type="submit">`, "<title>Verify your e-mail address – Gatehouse</title>"},
		},
		{
			"/reset-password", "/auth/reset-password",
			[]string{
				`data-flow="reset"`, `<button type="submit">`, "<title>Choose a new password – Gatehouse</title>",
				`<label for="password">`, `<input id="password" name="password" type="password" autocomplete="new-password" required>`,
				`<label for="password-confirm">`, `<input id="password-confirm" name="password_confirm" type="password" autocomplete="new-password" required>`,
			},
		},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, h, "GET", tc.path+"?token="+token, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", tc.path, resp.StatusCode)
			}
			checkSecurityHeaders(t, resp)
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/html; charset=utf-8", got)
			}
			if strings.Contains(body, token) || strings.Contains(body, "c2lnbmF0dXJl") {
				t.Errorf("the page holds the token; only the script may read it")
			}
			want := append([]string{
				"<!doctype html>", `<html lang="en">`, `<meta charset="utf-8">`,
				`<script src="pages/app.js" defer></script>`, `<link rel="stylesheet" href="pages/app.css">`,
				`<main>`, `<h1>`, `<form id="flow" method="post"`, `data-endpoint="` + tc.endpoint + `"`,
				// Without the script the form stays disabled, so it is never
				// sent as a plain form (which would put a password in a URL).
				`<fieldset disabled>`, `<legend>`, `<noscript>`,
				`<p id="status" role="status" aria-live="polite" aria-atomic="true"></p>`,
			}, tc.want...)
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			for _, m := range inputID.FindAllStringSubmatch(body, -1) {
				if !strings.Contains(body, `<label for="`+m[1]+`">`) {
					t.Errorf("input %q has no label", m[1])
				}
			}
			if m := inlineCode.FindString(body); m != "" {
				t.Errorf("page has inline script or style %q, which the Content Security Policy blocks", m)
			}

			// Without a token the page is the same: only the script tells.
			_, bare := get(t, h, "GET", tc.path, nil)
			if bare != body {
				t.Errorf("the page depends on the query string")
			}
		})
	}
}

func TestStatic(t *testing.T) {
	h := pages.Handler(pages.Config{})
	for _, tc := range []struct{ path, contentType string }{
		{"/pages/app.js", "text/javascript; charset=utf-8"},
		{"/pages/app.css", "text/css; charset=utf-8"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, h, "GET", tc.path, nil)
			if resp.StatusCode != http.StatusOK || body == "" {
				t.Fatalf("GET %s: %d, %d bytes", tc.path, resp.StatusCode, len(body))
			}
			checkSecurityHeaders(t, resp)
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			resp, _ = get(t, h, "GET", tc.path, http.Header{"If-None-Match": {etag}})
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("GET with If-None-Match: %d, want 304", resp.StatusCode)
			}
		})
	}

	_, js := get(t, h, "GET", "/pages/app.js", nil)
	for _, w := range []string{
		"VERIFY_USER_BAD_TOKEN", "VERIFY_USER_ALREADY_VERIFIED", "RESET_PASSWORD_BAD_TOKEN", "RESET_PASSWORD_INVALID_PASSWORD",
		"detail.reason", `get("token")`, "replaceState", `"Content-Type": "application/json"`, "textContent",
	} {
		if !strings.Contains(js, w) {
			t.Errorf("app.js lacks %s", w)
		}
	}
	if strings.Contains(js, "innerHTML") {
		t.Error("app.js uses innerHTML; messages (with the server's reason) must go in as text")
	}
}

func TestConfig(t *testing.T) {
	h := pages.Handler(pages.Config{AppName: `Acme <script>alert(1)</script>`, APIPrefix: "/api/"})
	_, body := get(t, h, "GET", "/reset-password", nil)
	if !strings.Contains(body, `data-endpoint="/api/auth/reset-password"`) {
		t.Error("the API prefix is not in the form's endpoint")
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "Acme &lt;script&gt;") {
		t.Error("the app name is not escaped")
	}

	for _, bad := range []string{"api", "//evil.example", "/a/../b", `/a\b`, "/a?b", "/a b", "/a//b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("APIPrefix %q accepted", bad)
				}
			}()
			pages.Handler(pages.Config{APIPrefix: bad})
		}()
	}
}

func TestRoutes(t *testing.T) {
	h := pages.Handler(pages.Config{})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"HEAD", "/verify", http.StatusOK},
		{"HEAD", "/pages/app.js", http.StatusOK},
		{"POST", "/verify", http.StatusMethodNotAllowed},
		{"POST", "/reset-password", http.StatusMethodNotAllowed},
		{"GET", "/pages/", http.StatusNotFound},
		{"GET", "/pages/verify.html", http.StatusNotFound},
		{"GET", "/", http.StatusNotFound},
	} {
		resp, _ := get(t, h, tc.method, tc.path, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
		checkSecurityHeaders(t, resp)
	}
}
