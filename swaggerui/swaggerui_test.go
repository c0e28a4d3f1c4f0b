package swaggerui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/swaggerui"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// mount serves h the way Handler's doc says: on /docs and /docs/.
func mount(h http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/docs", h)
	mux.Handle("/docs/", h)
	return mux
}

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var refAttr = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// fileRefs returns the URLs of the files a page loads: its src and href
// attributes other than data: URLs.
func fileRefs(html string) []string {
	var refs []string
	for _, m := range refAttr.FindAllStringSubmatch(html, -1) {
		if !strings.HasPrefix(m[1], "data:") {
			refs = append(refs, m[1])
		}
	}
	return refs
}

func TestPageAndAssets(t *testing.T) {
	t.Parallel()
	mux := mount(swaggerui.Handler(swaggerui.Config{}))
	page := get(t, mux, "GET", "/docs", nil)
	if page.Code != 200 {
		t.Fatalf("GET /docs: %d", page.Code)
	}
	html := page.Body.String()
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "//") {
		t.Errorf("page refers to another origin:\n%s", html)
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "style=") {
		t.Errorf("page has inline script or style:\n%s", html)
	}
	for _, want := range []string{`data-spec-url="/openapi.json"`, "<title>API reference</title>"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s:\n%s", want, html)
		}
	}

	// Every file the page refers to resolves, relative to the page, to a
	// file the handler serves with the right type.
	base, _ := url.Parse("http://example.com/docs")
	want := map[string]string{
		"/docs":                      "text/html; charset=utf-8",
		"/docs/swagger-ui.css":       "text/css; charset=utf-8",
		"/docs/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"/docs/init.js":              "text/javascript; charset=utf-8",
	}
	refs := fileRefs(html)
	if len(refs) != len(want)-1 {
		t.Errorf("page refers to %d files, want %d: %q", len(refs), len(want)-1, refs)
	}
	targets := []string{"/docs", "/docs/LICENSE", "/docs/NOTICE", "/docs/swagger-ui-bundle.js.LICENSE.txt", "/docs/VERSION"}
	for _, ref := range refs {
		u, err := base.Parse(ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want[u.Path]; !ok {
			t.Errorf("page refers to %s", u)
		}
		targets = append(targets, u.RequestURI())
	}
	for _, target := range targets {
		w := get(t, mux, "GET", target, nil)
		path, _, _ := strings.Cut(target, "?")
		ctype, ok := want[path]
		if !ok {
			ctype = "text/plain; charset=utf-8"
		}
		h := w.Header()
		switch {
		case w.Code != 200:
			t.Errorf("GET %s: %d", target, w.Code)
		case w.Body.Len() == 0:
			t.Errorf("GET %s: empty body", target)
		case h.Get("Content-Type") != ctype:
			t.Errorf("GET %s: Content-Type %q, want %q", target, h.Get("Content-Type"), ctype)
		case h.Get("Content-Security-Policy") != wantCSP:
			t.Errorf("GET %s: CSP %q", target, h.Get("Content-Security-Policy"))
		case h.Get("X-Content-Type-Options") != "nosniff", h.Get("Referrer-Policy") != "no-referrer":
			t.Errorf("GET %s: headers %v", target, h)
		case !strings.HasPrefix(h.Get("ETag"), `"`):
			t.Errorf("GET %s: ETag %q", target, h.Get("ETag"))
		}
		// A URL naming the current content is cached for good, others are
		// revalidated.
		wantCache := "no-cache"
		if strings.Contains(target, "?v=") {
			wantCache = "public, max-age=31536000, immutable"
		}
		if got := h.Get("Cache-Control"); got != wantCache {
			t.Errorf("GET %s: Cache-Control %q, want %q", target, got, wantCache)
		}
	}
}

func TestVersionedURLs(t *testing.T) {
	t.Parallel()
	mux := mount(swaggerui.Handler(swaggerui.Config{}))
	for target, want := range map[string]string{
		"/docs/init.js":           "no-cache",
		"/docs/init.js?v=":        "no-cache",
		"/docs/init.js?v=stale":   "no-cache",
		"/docs?v=anything":        "no-cache",
		"/docs/swagger-ui.css?v=": "no-cache",
	} {
		if got := get(t, mux, "GET", target, nil).Header().Get("Cache-Control"); got != want {
			t.Errorf("GET %s: Cache-Control %q, want %q", target, got, want)
		}
	}
}

func TestUnknownPaths(t *testing.T) {
	t.Parallel()
	h := swaggerui.Handler(swaggerui.Config{})
	for _, target := range []string{"/", "/docs/", "/docsx", "/docs/nope.js", "/docs/assets/LICENSE", "/docs/init.js/", "/docs/swagger-ui.css.map", "/docs/docs/init.js"} {
		if w := get(t, h, "GET", target, nil); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", target, w.Code)
		}
	}
	for _, method := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		w := get(t, h, method, "/docs", nil)
		if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /docs: %d, Allow %q", method, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestHeadAndConditionalGet(t *testing.T) {
	t.Parallel()
	h := swaggerui.Handler(swaggerui.Config{})
	for _, target := range []string{"/docs", "/docs/swagger-ui-bundle.js"} {
		full := get(t, h, "GET", target, nil)
		head := get(t, h, "HEAD", target, nil)
		if head.Code != 200 || head.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", target, head.Code, head.Body.Len())
		}
		if got, want := head.Header().Get("Content-Length"), strconv.Itoa(full.Body.Len()); got != want {
			t.Errorf("HEAD %s: Content-Length %s, want %s", target, got, want)
		}
		if head.Header().Get("Content-Type") != full.Header().Get("Content-Type") {
			t.Errorf("HEAD %s: Content-Type %q", target, head.Header().Get("Content-Type"))
		}
		etag := full.Header().Get("ETag")
		again := get(t, h, "GET", target, http.Header{"If-None-Match": {etag}})
		if again.Code != 304 || again.Body.Len() != 0 {
			t.Errorf("GET %s with If-None-Match: %d with %d bytes", target, again.Code, again.Body.Len())
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	h := swaggerui.Handler(swaggerui.Config{SpecURL: "openapi.json?x=1&y=2", Title: `Gatehouse <"API">`})
	html := get(t, h, "GET", "/docs", nil).Body.String()
	for _, want := range []string{`data-spec-url="openapi.json?x=1&amp;y=2"`, "<title>Gatehouse &lt;&#34;API&#34;&gt;</title>"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s:\n%s", want, html)
		}
	}
}

func TestBadConfigPanics(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"https://api.example.com/openapi.json",
		"//api.example.com/openapi.json",
		"javascript:alert(1)",
		"data:application/json,{}",
		"/%zz",
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SpecURL %q: no panic", spec)
				}
			}()
			swaggerui.Handler(swaggerui.Config{SpecURL: spec})
		}()
	}
}

// Under a prefix the page's relative URLs still reach its files.
func TestPrefix(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", swaggerui.Handler(swaggerui.Config{SpecURL: "openapi.json"})))
	page := get(t, mux, "GET", "/api/docs", nil)
	if page.Code != 200 {
		t.Fatalf("GET /api/docs: %d", page.Code)
	}
	base, _ := url.Parse("http://example.com/api/docs")
	refs := fileRefs(page.Body.String())
	if len(refs) != 3 {
		t.Errorf("page refers to %q", refs)
	}
	for _, ref := range refs {
		u, _ := base.Parse(ref)
		if !strings.HasPrefix(u.Path, "/api/docs/") {
			t.Errorf("%s resolves to %s", ref, u.Path)
		}
		if w := get(t, mux, "GET", u.RequestURI(), nil); w.Code != 200 {
			t.Errorf("GET %s: %d", u.RequestURI(), w.Code)
		}
	}
}
