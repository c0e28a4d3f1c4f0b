// Package pages serves Gatehouse's account pages: log in (with the second
// step of a user who has two-step verification on), register, forgot and
// reset a password, verify an e-mail address, the account page (profile,
// password, two-step verification, sessions, API keys, linked OAuth
// accounts) and log out.
//
// The pages are server-rendered HTML forms that work without JavaScript
// and without CSS. They hold no account logic of their own: each form
// POST is checked for cross-site request forgery, then turned into an
// in-process request to the JSON API (httpapi.New's handler), whose answer
// decides what the browser sees. A success is a 303
// redirect (POST, then GET); a failure re-renders the form with a message
// for the API's error code and the API's status code. The cookies the API
// sets (the login's auth and refresh cookies) are passed on to the
// browser, so the pages log a browser in through a cookie backend of the
// API, the one named by Config.CookieBackend.
//
// Every form carries a CSRF token: a random value in an HttpOnly,
// SameSite=Strict cookie, and its HMAC under Config.CSRFKey in a hidden
// field. A POST whose token is missing or wrong, or that the browser marks
// as cross-site (net/http's CrossOriginProtection), gets a 403 page and
// reaches no API route. Every answer carries a strict Content Security
// Policy (no scripts at all, the page's own stylesheet, forms posting to
// the same origin only; the pages that offer passkeys also allow their
// own script file and its requests to the same origin, still no inline
// code or eval), forbids framing and referrers (the links of the mails
// hold tokens in their query string), and pages are not cached.
//
// Two-step verification is shown when the API has it (httpapi.Config.MFA;
// GET /users/me/mfa answering 404 hides it). A login the API answers
// LOGIN_MFA_REQUIRED shows a code form, which carries the API's mfa_token
// in a hidden field to /login/mfa. A login the API answers
// LOGIN_MFA_SETUP_REQUIRED (the site requires a second factor of a user
// who has none; GET /login/mfa?mfa_token=…&setup=1 after a provider's
// login) adds an authenticator app first: its key, its first code, the
// recovery codes once, then Continue completes the login; where the API
// has passkeys, a passkey may be added instead of the app. The account
// page turns an authenticator app on (its key shown as text to add by
// hand: no script draws a QR code), shows the recovery codes once, as it
// shows a new API key, makes new ones and turns the app off; it lists the
// passkeys and removes one for the password, and says when the site
// requires a second factor, whose last one then stays.
//
// Passkeys (WebAuthn) need the browser's navigator.credentials, so they
// are the one part with a script, /pages/passkey.js, loaded where the API
// has passkeys. It shows the forms that are hidden without it: add a
// passkey (account page, or the setup of a login's second factor), log
// in with a passkey (login page), use a passkey for the second step
// (/login/mfa). It fetches the WebAuthn options from a pages route (a
// form POST with the CSRF token, and the mfa_token of a login, answered
// with JSON), asks the browser, then submits the form with the browser's
// answer, which the pages forward to the API like any form.
//
// The links in the mails (/verify?token=…, /reset-password?token=…) open a
// form holding the token in a hidden field: nothing happens on GET, as
// mail scanners follow links, until the user presses the button.
//
// Wiring, next to the API on one mux (Patterns lists the routes):
//
//	api, _ := httpapi.New(httpapi.Config{ /* with a cookie backend "cookie" */ })
//	key, _ := hkdf.Key(sha256.New, secret, nil, "gatehouse pages csrf v1", 32)
//	cfg := pages.Config{API: api, CookieBackend: "cookie", CSRFKey: key, AppName: "Example"}
//	p := pages.Handler(cfg)
//	mux := http.NewServeMux()
//	for _, pattern := range pages.Patterns(cfg) {
//		mux.Handle(pattern, p)
//	}
//	mux.Handle("/", api)
package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

// Config configures the pages. API and CSRFKey are required.
type Config struct {
	// API is the JSON API the pages front (httpapi.New's handler), called
	// in process with paths at its root ("/auth/register").
	API http.Handler
	// CookieBackend names the API's cookie backend: the login page posts
	// to /auth/CookieBackend/login, the account page refreshes through
	// /auth/CookieBackend/refresh and logs out through
	// /auth/CookieBackend/logout. Empty, there is no way to keep a browser
	// logged in, so /login, /account and /logout are not served; the
	// pages of the mails' links and /register, /forgot-password are.
	CookieBackend string
	// CSRFKey signs the CSRF tokens: at least 32 bytes, secret, and used
	// for nothing else (derive it from the server's secret with HKDF).
	CSRFKey []byte
	// InsecureCookies drops the Secure attribute and the "__Host-" prefix
	// of the CSRF cookie, for development over plain HTTP. It must match
	// the API's cookie backend, whose cookies browsers otherwise drop
	// anyway.
	InsecureCookies bool
	// AppName is shown in titles and headings; default "Gatehouse".
	AppName string
	// PathPrefix is where browsers see the server (and so the pages and
	// the API), when a reverse proxy mounts it under a path such as
	// "/auth-server"; it is put in front of every link, form action and
	// redirect. Default "" (the root). It must be empty or a clean path.
	PathPrefix string
	// OAuthProviders are the identity providers the login page offers
	// ("Log in with NAME"); their login must answer with CookieBackend's
	// cookies. The button opens /auth/NAME/authorize?redirect=true.
	OAuthProviders []string
	// OAuthReturnURL is the absolute URL the providers' browser flow
	// returns to after a login (typically the public URL of /account); it
	// must be one of each provider's return URLs. Empty, the flow ends on
	// the API's answer to the callback.
	OAuthReturnURL string
}

// StylesheetPath is the path of the pages' stylesheet, relative to
// PathPrefix.
const StylesheetPath = "/pages/app.css"

// Paths of the pages, relative to PathPrefix.
const (
	LoginPath          = "/login"
	RegisterPath       = "/register"
	ForgotPasswordPath = "/forgot-password"
	ResetPasswordPath  = "/reset-password"
	VerifyPath         = "/verify"
	AccountPath        = "/account"
	LogoutPath         = "/logout"
	// LoginMFAPath takes the second step of a login: a code from the
	// authenticator app, or a recovery code.
	LoginMFAPath = "/login/mfa"
)

// loginMFASetupPath takes the steps of a login that must add a second
// factor before it completes; a GET goes to the login page.
const loginMFASetupPath = "/login/mfa/setup"

// Paths of the account page's two-step verification forms, relative to
// PathPrefix; a GET of one goes back to the account page.
const (
	totpBeginPath     = "/account/mfa/totp"
	totpConfirmPath   = "/account/mfa/totp/confirm"
	totpDisablePath   = "/account/mfa/totp/disable"
	recoveryCodesPath = "/account/mfa/recovery-codes"
	passkeyRemovePath = "/account/mfa/passkeys/remove" // #nosec G101 -- a route path, not a credential
)

// contentSecurityPolicy allows the pages' own stylesheet and images, forms
// posting to their own origin, and nothing else: no script runs.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// scriptPolicy is the policy of the pages that offer passkeys: it also
// allows the pages' own script (the passkeys' file) and its requests to
// their own origin. Still no inline script or style, no eval.
const scriptPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes caps a form body; the largest form holds a few fields.
const maxFormBytes = 64 << 10

//go:embed assets
var assets embed.FS

// providerName is what a provider name must look like to go into a URL
// path unescaped (httpapi accepts no other).
var providerName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Patterns returns the ServeMux patterns of the routes Handler(cfg)
// serves: GET (which covers HEAD) and POST of each page, GET of the
// stylesheet and of the passkeys' script. Mount the handler on each, beside the API.
func Patterns(cfg Config) []string {
	pages := []string{RegisterPath, ForgotPasswordPath, ResetPasswordPath, VerifyPath}
	if cfg.CookieBackend != "" {
		pages = append(pages, LoginPath, LoginMFAPath, loginMFASetupPath, AccountPath, LogoutPath,
			totpBeginPath, totpConfirmPath, totpDisablePath, recoveryCodesPath, passkeyRemovePath,
			passkeyBeginPath, passkeyAddPath, loginPasskeyBeginPath, loginPasskeyPath, loginMFAPasskeyPath,
			loginSetupPasskeyBeginPath)
	}
	var out []string
	for _, p := range pages {
		out = append(out, "GET "+p, "POST "+p)
	}
	return append(out, "GET "+StylesheetPath, "GET "+scriptPath)
}

// handler serves the pages.
type handler struct {
	cfg    Config
	prefix string
	mux    *http.ServeMux
	csrf   *csrf
	// origin refuses POSTs the browser marks as cross-site, before the
	// token is even looked at.
	origin *http.CrossOriginProtection
}

// Handler returns the handler of the routes that Patterns lists; other
// paths are 404. It panics on a bad Config, as bad configuration must fail
// at start and never per request.
func Handler(cfg Config) http.Handler {
	if cfg.API == nil {
		panic("pages: Config.API is required")
	}
	if len(cfg.CSRFKey) < 32 {
		panic("pages: Config.CSRFKey needs at least 32 bytes")
	}
	if cfg.AppName == "" {
		cfg.AppName = "Gatehouse"
	}
	prefix := strings.TrimSuffix(cfg.PathPrefix, "/")
	if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.HasPrefix(prefix, "//") ||
		strings.ContainsFunc(prefix, badPrefixRune) || path.Clean(prefix) != prefix) {
		panic(fmt.Sprintf("pages: Config.PathPrefix must be empty or a clean path such as /auth, got %q", cfg.PathPrefix))
	}
	if cfg.CookieBackend != "" && !providerName.MatchString(cfg.CookieBackend) {
		panic(fmt.Sprintf("pages: Config.CookieBackend %q is not a backend name", cfg.CookieBackend))
	}
	for _, p := range cfg.OAuthProviders {
		if !providerName.MatchString(p) {
			panic(fmt.Sprintf("pages: Config.OAuthProviders: %q is not a provider name", p))
		}
	}
	if len(cfg.OAuthProviders) > 0 && cfg.CookieBackend == "" {
		panic("pages: Config.OAuthProviders needs Config.CookieBackend: the login page offers them")
	}
	if cfg.OAuthReturnURL != "" && !strings.HasPrefix(cfg.OAuthReturnURL, "https://") && !strings.HasPrefix(cfg.OAuthReturnURL, "http://") {
		panic(fmt.Sprintf("pages: Config.OAuthReturnURL must be an absolute http(s) URL, got %q", cfg.OAuthReturnURL))
	}

	h := &handler{
		cfg:    cfg,
		prefix: prefix,
		mux:    http.NewServeMux(),
		csrf:   newCSRF(cfg.CSRFKey, !cfg.InsecureCookies),
		origin: http.NewCrossOriginProtection(),
	}
	h.mux.HandleFunc("GET "+RegisterPath, h.getRegister)
	h.mux.HandleFunc("POST "+RegisterPath, h.post(h.postRegister))
	h.mux.HandleFunc("GET "+ForgotPasswordPath, h.getForgot)
	h.mux.HandleFunc("POST "+ForgotPasswordPath, h.post(h.postForgot))
	h.mux.HandleFunc("GET "+ResetPasswordPath, h.getReset)
	h.mux.HandleFunc("POST "+ResetPasswordPath, h.post(h.postReset))
	h.mux.HandleFunc("GET "+VerifyPath, h.getVerify)
	h.mux.HandleFunc("POST "+VerifyPath, h.post(h.postVerify))
	if cfg.CookieBackend != "" {
		h.mux.HandleFunc("GET "+LoginPath, h.getLogin)
		h.mux.HandleFunc("POST "+LoginPath, h.post(h.postLogin))
		h.mux.HandleFunc("GET "+LoginMFAPath, h.getLoginMFA)
		h.mux.HandleFunc("POST "+LoginMFAPath, h.post(h.postLoginMFA))
		h.mux.HandleFunc("GET "+loginMFASetupPath, h.toLogin)
		h.mux.HandleFunc("POST "+loginMFASetupPath, h.post(h.postLoginMFASetup))
		for path, post := range map[string]http.HandlerFunc{
			loginPasskeyBeginPath: h.postLoginPasskeyBegin, loginPasskeyPath: h.postLoginPasskey,
			loginMFAPasskeyPath: h.postLoginMFAPasskey, loginSetupPasskeyBeginPath: h.postLoginSetupPasskeyBegin,
		} {
			h.mux.HandleFunc("GET "+path, h.toLogin)
			h.mux.HandleFunc("POST "+path, h.post(post))
		}
		h.mux.HandleFunc("GET "+AccountPath, h.getAccount)
		h.mux.HandleFunc("POST "+AccountPath, h.post(h.postAccount))
		for path, post := range map[string]http.HandlerFunc{
			totpBeginPath: h.postTOTPBegin, totpConfirmPath: h.postTOTPConfirm,
			totpDisablePath: h.postTOTPDisable, recoveryCodesPath: h.postRecoveryCodes,
			passkeyRemovePath: h.postPasskeyRemove, passkeyBeginPath: h.postPasskeyBegin, passkeyAddPath: h.postPasskeyAdd,
		} {
			h.mux.HandleFunc("GET "+path, h.toAccount)
			h.mux.HandleFunc("POST "+path, h.post(post))
		}
		h.mux.HandleFunc("GET "+LogoutPath, h.getLogout)
		h.mux.HandleFunc("POST "+LogoutPath, h.post(h.postLogout))
	}
	h.mux.Handle("GET "+StylesheetPath, newStatic("assets/app.css", "text/css; charset=utf-8"))
	h.mux.Handle("GET "+scriptPath, newStatic("assets/passkey.js", "text/javascript; charset=utf-8"))
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// badPrefixRune reports the runes a path prefix cannot hold: those that
// would end the path or that browsers read as a slash.
func badPrefixRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '\\' || r == '"' || r == '<' || r == '>'
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// notFound answers paths (and methods) the pages do not serve with a page,
// rather than the mux's plain text.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, "message", &view{Title: "Page not found",
		Message: "There is no page at this address."})
}

// newStatic returns the handler of an embedded file.
func newStatic(name, contentType string) *static {
	body, err := fs.ReadFile(assets, name)
	if err != nil {
		panic("pages: " + err.Error()) // the embedded files are broken
	}
	sum := sha256.Sum256(body)
	return &static{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// static is an embedded file served as it is.
type static struct {
	body        []byte
	contentType string
	etag        string
}

// ServeHTTP serves a static file, revalidated by its ETag.
func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", s.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", s.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.body))
}
