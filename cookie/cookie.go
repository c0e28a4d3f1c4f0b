// Package cookie is the cookie transport of Gatehouse: a login sets the
// token in an HttpOnly cookie, later requests carry it back in the Cookie
// header, and a logout clears it, like FastAPI Users' CookieTransport.
//
// # Cross-site request forgery
//
// A browser attaches cookies to every request to their site, including
// requests that another site's page makes it send: a form on evil.example
// posting to /users/me would arrive with the user's cookie. A cookie is an
// ambient credential, and [Transport] says so by implementing
// [gatehouse.Ambient]. The [gatehouse.Authenticator] therefore checks every
// unsafe request (POST, PUT, PATCH, DELETE) that a cookie authenticates with
// [net/http.CrossOriginProtection] (Fetch metadata, else Origin against Host)
// and refuses a cross-site one with 403 before its token is even looked up;
// login routes of cookie backends are checked as well, since a forged login
// is an attack too. SameSite=Lax, the default, is a second line of defence
// in browsers, not a replacement: it does not stop same-site requests from a
// sibling subdomain. Handlers must not change state on GET or HEAD, which
// pass the check by design.
//
// # Cookie prefixes
//
// Name the cookie "__Host-…" (for example "__Host-gatehouse") in production.
// Browsers accept a "__Host-" cookie only if it is Secure, has Path=/ and no
// Domain, and they never let another host set one, so a sibling subdomain
// (or a plain-HTTP attacker on the network) cannot plant or overwrite the
// cookie ("cookie tossing"). The default name has no prefix only because a
// "__Host-" cookie needs a secure context. "__Secure-" only guarantees the
// cookie was set over HTTPS; use it when the cookie must be shared with
// subdomains through Domain. [New] refuses configurations the browser would
// silently drop, such as a "__Host-" cookie with a Domain.
//
// # Reading
//
// Reading is stricter than FastAPI Users': a request that carries the cookie
// twice (as a tossed cookie with a narrower Path would make it) is
// ambiguous and carries no token at all, and a value that is empty, longer
// than 4096 bytes or holds anything but [A-Za-z0-9._~-] is refused, so no
// malformed value ever reaches a strategy or a store lookup. Cookies of other
// names are ignored, even malformed ones.
//
// A login always sets the token the strategy just issued: a token the client
// already presents is never adopted (no session fixation).
package cookie

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// DefaultName is the cookie name used when Config.Name is empty.
const DefaultName = "gatehouse_auth"

// maxValueBytes caps the cookie value Credential returns: browsers keep at
// most 4096 bytes of name and value (ASVS 3.3.5).
const maxValueBytes = 4096

// maxMaxAge is the longest cookie lifetime browsers honour (RFC 6265bis).
const maxMaxAge = 400 * 24 * time.Hour

// Config describes the cookie. The zero value is a Secure, HttpOnly,
// SameSite=Lax session cookie named "gatehouse_auth" with Path=/.
type Config struct {
	Name   string // default "gatehouse_auth"; "__Host-gatehouse" is recommended
	Path   string // default "/"
	Domain string // default none: the cookie is sent to this host only
	// MaxAge is the cookie's lifetime, written as Max-Age in whole seconds
	// (rounded up). 0 makes a session cookie, without Max-Age, which the
	// browser drops when it closes. At most 400 days.
	MaxAge time.Duration
	// SameSite is Lax by default; None requires Secure.
	// http.SameSiteDefaultMode, which leaves the choice to each browser,
	// is refused.
	SameSite http.SameSite
	// InsecureNoSecure omits the Secure attribute, so the cookie travels
	// over plain HTTP. For development only: most browsers accept Secure
	// cookies from http://localhost anyway.
	InsecureNoSecure bool
	// InsecureNoHTTPOnly omits the HttpOnly attribute, so scripts (and any
	// cross-site scripting flaw) can read the token.
	InsecureNoHTTPOnly bool

	// The refresh cookie carries the session's refresh token, when the
	// login hands one out. It is HttpOnly like the access cookie and should
	// be scoped to the backend's routes (/auth/NAME/), so it is sent to
	// refresh and logout and nowhere else.
	// RefreshName defaults to Name + "_refresh", with a "__Host-" prefix
	// turned into "__Secure-" (a narrower Path is not allowed under
	// "__Host-"); RefreshPath defaults to Path; RefreshMaxAge to MaxAge.
	RefreshName   string
	RefreshPath   string
	RefreshMaxAge time.Duration
}

// Transport carries tokens in a cookie. Make one with New; it is safe for
// concurrent use.
type Transport struct {
	access, refresh jar
	domain          string
	sameSite        http.SameSite
	secure          bool
	httpOnly        bool
}

// jar is what differs between the access and the refresh cookie.
type jar struct {
	name   string
	path   string
	maxAge int // seconds; 0: session cookie
}

var (
	_ gatehouse.Transport        = (*Transport)(nil)
	_ gatehouse.Ambient          = (*Transport)(nil)
	_ gatehouse.RefreshTransport = (*Transport)(nil)
)

// New checks cfg once and returns a transport for it. It refuses what
// browsers would reject or what would weaken the cookie silently:
// SameSite=None without Secure; a "__Host-" name without Secure, with a
// Domain, or with a Path other than "/"; a "__Secure-" name without Secure
// (prefixes are matched ignoring case, as browsers do); a name that is not
// an RFC 6265 token; a Path that does not start with "/" or holds ';' or
// control characters; a Domain that is not a host name or IPv4 address; a
// negative MaxAge or one above 400 days.
func New(cfg Config) (*Transport, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.RefreshName == "" {
		cfg.RefreshName = cfg.Name + "_refresh"
		if hasPrefixFold(cfg.RefreshName, "__Host-") {
			cfg.RefreshName = "__Secure-" + cfg.RefreshName[len("__Host-"):]
		}
	}
	if cfg.RefreshPath == "" {
		cfg.RefreshPath = cfg.Path
	}
	if cfg.RefreshMaxAge == 0 {
		cfg.RefreshMaxAge = cfg.MaxAge
	}
	if cfg.SameSite == 0 {
		cfg.SameSite = http.SameSiteLaxMode
	}
	secure := !cfg.InsecureNoSecure

	if cfg.Domain != "" {
		// net/http would drop an invalid Domain when writing the cookie,
		// silently turning it into a host-only one.
		// #nosec G124 -- a cookie built only to validate Domain, never sent.
		if err := (&http.Cookie{Name: cfg.Name, Domain: cfg.Domain}).Valid(); err != nil {
			return nil, fmt.Errorf("cookie: invalid Domain %q: it must be a host name or an IPv4 address", cfg.Domain)
		}
	}
	switch cfg.SameSite {
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !secure {
			return nil, errors.New("cookie: SameSite=None requires Secure (browsers reject it otherwise)")
		}
	default:
		return nil, fmt.Errorf("cookie: SameSite must be Lax, Strict or None, not %d", cfg.SameSite)
	}
	access, err := newJar(cfg.Name, cfg.Path, cfg.MaxAge, cfg.Domain, secure)
	if err != nil {
		return nil, err
	}
	refresh, err := newJar(cfg.RefreshName, cfg.RefreshPath, cfg.RefreshMaxAge, cfg.Domain, secure)
	if err != nil {
		return nil, err
	}
	if access.name == refresh.name {
		return nil, fmt.Errorf("cookie: the access and refresh cookies are both named %q", access.name)
	}
	return &Transport{
		access:   access,
		refresh:  refresh,
		domain:   cfg.Domain,
		sameSite: cfg.SameSite,
		secure:   secure,
		httpOnly: !cfg.InsecureNoHTTPOnly,
	}, nil
}

// newJar checks one cookie's name, path and lifetime.
func newJar(name, path string, maxAge time.Duration, domain string, secure bool) (jar, error) {
	if !isToken(name) {
		return jar{}, fmt.Errorf("cookie: invalid cookie name %q: it must be an RFC 6265 token", name)
	}
	if !strings.HasPrefix(path, "/") {
		return jar{}, fmt.Errorf("cookie: invalid Path %q: it must start with \"/\"", path)
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return jar{}, fmt.Errorf("cookie: invalid Path %q: ';', control and non-ASCII characters are not allowed", path)
		}
	}
	switch {
	case maxAge < 0:
		return jar{}, fmt.Errorf("cookie: negative MaxAge %v", maxAge)
	case maxAge > maxMaxAge:
		return jar{}, fmt.Errorf("cookie: MaxAge %v is above 400 days, the longest lifetime browsers keep a cookie", maxAge)
	}
	switch {
	case hasPrefixFold(name, "__Host-"):
		if !secure || domain != "" || path != "/" {
			return jar{}, fmt.Errorf("cookie: a %q cookie must be Secure, have Path \"/\" and no Domain", name)
		}
	case hasPrefixFold(name, "__Secure-"):
		if !secure {
			return jar{}, fmt.Errorf("cookie: a %q cookie must be Secure", name)
		}
	}
	return jar{name: name, path: path, maxAge: int((maxAge + time.Second - 1) / time.Second)}, nil
}

// Ambient reports true: browsers send cookies on their own, so unsafe
// requests authenticated by this transport must be checked for forgery.
func (*Transport) Ambient() bool { return true }

// OpenAPISecurityScheme describes where the credential is read, as an
// OpenAPI Security Scheme Object, for API documents (httpapi).
func (t *Transport) OpenAPISecurityScheme() map[string]any {
	return map[string]any{"type": "apiKey", "in": "cookie", "name": t.access.name}
}

// Credential returns the value of the configured cookie. The name is
// matched exactly (case matters) in every Cookie header of r; cookies of
// other names are skipped, malformed or not. ok is false when the cookie
// is absent or empty, when it is present more than once (a cookie planted
// by a sibling subdomain with a narrower Path is sent next to the real
// one: which is which cannot be told), and when the value is longer than
// 4096 bytes or holds a character outside [A-Za-z0-9._~-], which covers
// JWTs and base64url tokens. Quoted values are refused too.
func (t *Transport) Credential(r *http.Request) (token string, ok bool) {
	return read(r, t.access.name)
}

// RefreshCredential returns the refresh token of the refresh cookie, read
// as strictly as Credential reads the access cookie.
func (t *Transport) RefreshCredential(r *http.Request) (token string, ok bool) {
	return read(r, t.refresh.name)
}

func read(r *http.Request, cookie string) (token string, ok bool) {
	found := false
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, value, hasEq := strings.Cut(textproto.TrimString(part), "=")
			// A part without '=' is a nameless cookie to browsers.
			if !hasEq || textproto.TrimString(name) != cookie {
				continue
			}
			if found {
				return "", false
			}
			found, token = true, value
		}
	}
	if !found || !validValue(token) {
		return "", false
	}
	return token, true
}

// WriteLogin answers a login (or a refresh) with 204, no body,
// Cache-Control: no-store and a Set-Cookie carrying t.AccessToken with the
// configured attributes, plus one for the refresh cookie when t carries a
// refresh token. Tokens never appear in the body: they must stay out of
// reach of scripts. A token that could not be read back (empty, longer
// than 4096 bytes with the name, or holding characters outside
// [A-Za-z0-9._~-]) is a strategy bug: WriteLogin then answers 500 without
// it and returns an error.
func (t *Transport) WriteLogin(w http.ResponseWriter, r *http.Request, tok gatehouse.Token) error {
	for _, c := range []struct {
		jar   jar
		value string
	}{{t.access, tok.AccessToken}, {t.refresh, tok.RefreshToken}} {
		if c.jar == t.refresh && c.value == "" {
			continue
		}
		if !validValue(c.value) || len(c.jar.name)+len(c.value) > maxValueBytes {
			err := &gatehouse.Error{Code: gatehouse.CodeInternal,
				Err: fmt.Errorf("cookie: the token (%d bytes) cannot be a %q cookie value", len(c.value), c.jar.name)}
			gatehouse.WriteError(w, err)
			return err
		}
	}
	t.set(w, t.access, tok.AccessToken, t.access.maxAge)
	if tok.RefreshToken != "" {
		t.set(w, t.refresh, tok.RefreshToken, t.refresh.maxAge)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// WriteLogout answers a logout with 204, no body and a Set-Cookie that
// clears the access cookie: the same name, Path, Domain, Secure, HttpOnly
// and SameSite, an empty value and Max-Age=0. The refresh cookie is cleared
// the same way when the request carries it (scope it to a path that covers
// the logout route, such as /auth/NAME/). It clears these cookies only; a
// Clear-Site-Data header would clear every other cookie of the site too.
func (t *Transport) WriteLogout(w http.ResponseWriter, r *http.Request) error {
	t.set(w, t.access, "", -1)
	if _, ok := t.RefreshCredential(r); ok {
		t.set(w, t.refresh, "", -1)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (t *Transport) set(w http.ResponseWriter, j jar, value string, maxAge int) {
	// #nosec G124 -- Secure and HttpOnly are on unless the application opts
	// out with Config.InsecureNoSecure/InsecureNoHTTPOnly; SameSite is Lax,
	// Strict, or None only with Secure (checked in New).
	http.SetCookie(w, &http.Cookie{
		Name:     j.name,
		Value:    value,
		Path:     j.path,
		Domain:   t.domain,
		MaxAge:   maxAge, // -1 is written as Max-Age=0
		Secure:   t.secure,
		HttpOnly: t.httpOnly,
		SameSite: t.sameSite,
	})
}

// validValue reports whether v is a token Credential accepts.
func validValue(v string) bool {
	if v == "" || len(v) > maxValueBytes {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 7230 token (RFC 6265's cookie-name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
