// Package pages serves the two pages that the links in Gatehouse's mails
// open: GET /verify (confirm an e-mail address) and GET /reset-password
// (choose a new password).
//
// The pages are plain, accessible HTML that work without CSS. The token
// travels in the link's query string (?token=...) and is read by a small
// script in the browser, which posts it as JSON to the API's
// /auth/verify or /auth/reset-password and shows the answer; the token never
// appears in the HTML the server sends. Every response forbids referrers
// (the URL holds the token), framing and inline scripts.
//
//	mux.Handle("/", api) // httpapi
//	p := pages.Handler(pages.Config{AppName: "Example"})
//	mux.Handle("GET /verify", p)
//	mux.Handle("GET /reset-password", p)
//	mux.Handle("GET /pages/", p)
package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Config configures the pages.
type Config struct {
	// AppName is shown in the titles and headings; default "Gatehouse".
	AppName string
	// APIPrefix is the path the API routes are mounted under on the same
	// origin: the pages post to APIPrefix+"/auth/verify" and
	// APIPrefix+"/auth/reset-password". Default "" (the API at the root).
	// It must be empty or a path beginning with "/"; the pages' Content
	// Security Policy allows requests to their own origin only.
	APIPrefix string
}

// Paths of the static files the pages load. They are relative in the HTML
// ("pages/app.js"), so the pages also work when mounted under a prefix
// with http.StripPrefix.
const (
	ScriptPath     = "/pages/app.js"
	StylesheetPath = "/pages/app.css"
)

// contentSecurityPolicy allows only the pages' own script and stylesheet,
// requests to their own origin, and no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed assets
var assets embed.FS

var templates = template.Must(template.New("").ParseFS(assets, "assets/*.html"))

// page is what a page template sees.
type page struct {
	AppName  string
	Endpoint string // where the script posts
}

// static is an embedded file served as it is.
type static struct {
	body        []byte
	contentType string
	etag        string
}

type handler struct {
	mux *http.ServeMux
}

// Handler returns a handler serving GET (and HEAD) /verify,
// /reset-password, /pages/app.js and /pages/app.css; any other path is 404.
// It panics if cfg.APIPrefix is not a path, as bad configuration must fail
// at start and never per request.
func Handler(cfg Config) http.Handler {
	if cfg.AppName == "" {
		cfg.AppName = "Gatehouse"
	}
	prefix := strings.TrimSuffix(cfg.APIPrefix, "/")
	if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.HasPrefix(prefix, "//") ||
		strings.ContainsFunc(prefix, badPrefixRune) || path.Clean(prefix) != prefix) {
		panic(fmt.Sprintf("pages: Config.APIPrefix must be empty or a clean path such as /api, got %q", cfg.APIPrefix))
	}

	mux := http.NewServeMux()
	for _, p := range []struct{ path, tmpl, endpoint string }{
		{"/verify", "verify.html", "/auth/verify"},
		{"/reset-password", "reset-password.html", "/auth/reset-password"},
	} {
		var buf bytes.Buffer
		if err := templates.ExecuteTemplate(&buf, p.tmpl, page{AppName: cfg.AppName, Endpoint: prefix + p.endpoint}); err != nil {
			panic("pages: " + err.Error()) // the embedded templates are broken
		}
		mux.Handle("GET "+p.path, servePage(buf.Bytes()))
	}
	for _, s := range []struct{ path, file, contentType string }{
		{ScriptPath, "assets/app.js", "text/javascript; charset=utf-8"},
		{StylesheetPath, "assets/app.css", "text/css; charset=utf-8"},
	} {
		body, err := fs.ReadFile(assets, s.file)
		if err != nil {
			panic("pages: " + err.Error())
		}
		sum := sha256.Sum256(body)
		mux.Handle("GET "+s.path, &static{body: body, contentType: s.contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`})
	}
	return &handler{mux: mux}
}

// badPrefixRune reports the runes an API prefix cannot hold: those that
// would end the path or that browsers read as a slash.
func badPrefixRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '\\'
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// servePage serves a rendered page. It is the same for every token, which
// only the browser reads.
func servePage(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// ServeHTTP serves a static file, revalidated by its ETag.
func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", s.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", s.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.body))
}
