// Package swaggerui serves Swagger UI, the interactive reference of an HTTP
// API, at /docs, the way FastAPI does.
//
// Swagger UI comes from the swagger-ui-dist npm package at a pinned version
// (assets/VERSION) and is embedded in the binary, so the page works offline
// and loads nothing from a CDN. update.sh fetches another version and checks
// it against the registry's integrity hash; `go generate` runs it.
//
// The page runs no inline script: a small static init script reads the
// OpenAPI document's URL from a data- attribute. That keeps the
// Content-Security-Policy strict (scripts, styles, images and fetches from
// the page's own origin only), so the page can sit next to login routes
// without weakening them.
package swaggerui

//go:generate ./update.sh 5.35.0

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed init.js assets/swagger-ui-bundle.js assets/swagger-ui.css assets/LICENSE assets/NOTICE assets/swagger-ui-bundle.js.LICENSE.txt assets/VERSION
var embedded embed.FS

// csp is the Content-Security-Policy of every response of the handler.
// Swagger UI's stylesheet embeds its icons as data: URIs, and the page fetches the
// OpenAPI document (and, with "Try it out", the API) from its own origin.
// Inline styles stay refused: React sets Swagger UI's element styles through
// the CSSOM, which style-src does not govern.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Config configures the handler. The zero value serves /openapi.json.
type Config struct {
	// SpecURL is where the browser fetches the OpenAPI document: a path on
	// the page's own origin, absolute ("/openapi.json", the default) or
	// relative to /docs ("openapi.json"). Other origins are refused at
	// construction because the policy's connect-src would block them.
	SpecURL string
	// Title is the page's title; the default is "API reference".
	Title string
}

// asset is one file the handler serves, prepared once at construction.
type asset struct {
	body        []byte
	contentType string
	etag        string
	version     string // content hash the page puts in the asset's URL
}

type handler struct {
	page   asset
	assets map[string]*asset // by name under /docs/
}

// Handler returns a handler for GET and HEAD of /docs (the page) and
// /docs/NAME (its script, stylesheet and licenses). Mount it on both
// patterns, for example mux.Handle("/docs", h) and mux.Handle("/docs/", h);
// under a prefix, strip the prefix first with http.StripPrefix: the page
// refers to its files by relative URLs, so it works wherever it is mounted.
// Handler panics if c.SpecURL is not a URL on the page's own origin.
func Handler(c Config) http.Handler {
	if c.SpecURL == "" {
		c.SpecURL = "/openapi.json"
	}
	if c.Title == "" {
		c.Title = "API reference"
	}
	u, err := url.Parse(c.SpecURL)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || strings.HasPrefix(c.SpecURL, "//") {
		panic(fmt.Sprintf("swaggerui: SpecURL %q is not a path on the page's own origin", c.SpecURL))
	}

	h := &handler{assets: make(map[string]*asset)}
	for name, contentType := range map[string]string{
		"init.js":                                 "text/javascript; charset=utf-8",
		"assets/swagger-ui-bundle.js":             "text/javascript; charset=utf-8",
		"assets/swagger-ui.css":                   "text/css; charset=utf-8",
		"assets/LICENSE":                          "text/plain; charset=utf-8",
		"assets/NOTICE":                           "text/plain; charset=utf-8",
		"assets/swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
		"assets/VERSION":                          "text/plain; charset=utf-8",
	} {
		body, err := embedded.ReadFile(name)
		if err != nil {
			panic("swaggerui: " + err.Error()) // the embed directive lists every name
		}
		a := newAsset(body, contentType)
		h.assets[strings.TrimPrefix(name, "assets/")] = &a
	}

	src := func(name string) string { return "docs/" + name + "?v=" + h.assets[name].version }
	var page bytes.Buffer
	err = pageTemplate.Execute(&page, map[string]string{
		"Title":   c.Title,
		"SpecURL": c.SpecURL,
		"CSS":     src("swagger-ui.css"),
		"Bundle":  src("swagger-ui-bundle.js"),
		"Init":    src("init.js"),
	})
	if err != nil {
		panic("swaggerui: " + err.Error())
	}
	h.page = newAsset(page.Bytes(), "text/html; charset=utf-8")
	return h
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	v := base64.RawURLEncoding.EncodeToString(sum[:12])
	return asset{body: body, contentType: contentType, etag: `"` + v + `"`, version: v}
}

// The asset URLs are relative ("docs/…" from the page at …/docs) so the page
// works under any prefix, and carry a content hash so browsers may cache
// them for good: a new binary serves new URLs. The empty icon keeps browsers
// from asking the application for /favicon.ico.
var pageTemplate = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.CSS}}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{{.SpecURL}}"></div>
<script src="{{.Bundle}}"></script>
<script src="{{.Init}}"></script>
</body>
</html>
`))

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a *asset
	if r.URL.Path == "/docs" {
		a = &h.page
	} else if name, ok := strings.CutPrefix(r.URL.Path, "/docs/"); ok {
		a = h.assets[name]
	}
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	// Only a URL naming the current content may be cached for good; the
	// page itself, and a file asked for without or with a stale hash, is
	// revalidated each time (cheaply, thanks to the ETag).
	if a != &h.page && r.URL.Query().Get("v") == a.version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
