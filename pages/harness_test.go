package pages_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/cookie"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/pages"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

const (
	pw      = "correct-horse-battery"
	csrfKey = "pages csrf key for the tests, 32+ bytes"
)

// options turn the API's optional features on.
type options struct {
	sessions, keys, oauth bool
	fields                []gatehouse.Field
	// mfa turns second factors on (httpapi.Config.MFA), on the site's
	// settable clock.
	mfa bool
	// refreshPath is the refresh cookie's Path; default /auth/cookie/, as
	// the server sets it.
	refreshPath string
	// plainHTTP serves the site over HTTP on 127.0.0.1, to be opened as
	// http://localhost:PORT (a secure context, as WebAuthn needs) by a
	// real browser, which cannot trust the test server's certificate.
	// Cookies then go without Secure, and the passkeys' relying party is
	// that origin rather than passkeyOrigin.
	plainHTTP bool
}

// The passkeys' relying party of the sites served over TLS: the tests
// play the browser with webauthntest, whose answers name this origin.
const (
	passkeyRPID   = "gatehouse.test"
	passkeyOrigin = "https://gatehouse.test"
)

// site is the API and the pages on one TLS server, as gatehouse serve
// mounts them; its cookies are Secure.
type site struct {
	t      *testing.T
	URL    string
	srv    *httptest.Server
	users  gatehouse.UserStore
	oauth  gatehouse.OAuthAccountStore
	tokens chan string // verify and reset tokens, as the mails would carry them
	// clock is the second factors' time (options.mfa): a one-time code is
	// accepted once per 30 s step, so tests move it on between codes.
	clock *clock
	// settings hold who must have a second factor (options.mfa).
	settings gatehouse.SettingStore
	// origin is the passkeys' origin (options.mfa): passkeyOrigin, or the
	// site's own with plainHTTP.
	origin string
}

// hooks hand the flows' tokens to the test.
type hooks struct {
	gatehouse.NopHooks
	tokens chan string
}

func (h hooks) AfterRequestVerify(_ context.Context, _ *gatehouse.User, token string) error {
	h.tokens <- token
	return nil
}

func (h hooks) AfterForgotPassword(_ context.Context, _ *gatehouse.User, token string) error {
	h.tokens <- token
	return nil
}

// provider stands in for an identity provider; the tests never run its
// flow, they only need its routes mounted.
type provider struct{ oauth.Provider }

func newSite(t *testing.T, o options) *site {
	t.Helper()
	db := sqlitetest.New(t)
	users := sqlite.NewUserStore(db)
	key, err := jwt.HMACKey([]byte("0123456789abcdef0123456789abcdef-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	strategy, err := jwt.New(jwt.Config{Key: key, Lifetime: 15 * time.Minute, Revocations: sqlite.NewRevocations(db)})
	if err != nil {
		t.Fatal(err)
	}
	if o.refreshPath == "" {
		o.refreshPath = "/auth/cookie/"
	}
	// The address is known before the server starts: a passkey's origin
	// is configured with it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpID, origin := passkeyRPID, passkeyOrigin
	if o.plainHTTP {
		rpID, origin = "localhost", fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	}
	ck, err := cookie.New(cookie.Config{MaxAge: 15 * time.Minute, RefreshPath: o.refreshPath, RefreshMaxAge: 72 * time.Hour,
		InsecureNoSecure: o.plainHTTP})
	if err != nil {
		t.Fatal(err)
	}
	backends := []gatehouse.Backend{
		{Name: "cookie", Transport: ck, Strategy: strategy},
		{Name: "jwt", Transport: &bearer.Transport{}, Strategy: strategy},
	}
	var cfg httpapi.Config
	if o.keys {
		backends = append(backends, gatehouse.Backend{Name: "apikey", Transport: apikey.Transport{}, Strategy: apikey.Strategy{Store: sqlite.NewAPIKeyStore(db)}})
		cfg.Roles, cfg.APIKeys = sqlite.NewRoleStore(db), sqlite.NewAPIKeyStore(db)
	}
	auth, err := gatehouse.NewAuthenticator(users, backends...)
	if err != nil {
		t.Fatal(err)
	}
	if o.sessions {
		auth.SetSessions(&gatehouse.Sessions{Store: sqlite.NewSessionStore(db), Key: []byte("refresh-token derivation key, 32+ bytes")})
	}
	signer, err := jwt.NewSigner([]byte("account-flow secret of 32+ bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, users: users, oauth: sqlite.NewOAuthAccountStore(db), tokens: make(chan string, 10)}
	cfg.Manager = &gatehouse.Manager{Users: users, Hasher: &password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1}},
		Passwords: &password.Policy{}, Hooks: hooks{tokens: s.tokens}, Tokens: signer}
	cfg.Authenticator = auth
	cfg.Fields = o.fields
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	var providers []string
	if o.oauth {
		cfg.OAuth = map[string]httpapi.OAuthProvider{"acme": {Flow: &oauth.Flow{Provider: provider{}},
			CallbackURL: "https://auth.example/auth/acme/callback", AssociateCallbackURL: "https://auth.example/auth/associate/acme/callback"}}
		cfg.OAuthAccounts = s.oauth
		providers = []string{"acme"}
	}
	if o.mfa {
		s.clock = &clock{now: time.Now()}
		s.settings, s.origin = sqlite.NewSettingStore(db), origin
		store := sqlite.NewMFAStore(db)
		cfg.MFA, err = mfa.New(mfa.Config{TOTP: store, RecoveryCodes: store, Challenges: store,
			Seal: testSeal, Open: testOpen, Now: s.clock.Now,
			Passkeys: store, Nonces: sqlite.NewNonceStore(db), RPID: rpID, RPOrigins: []string{origin},
			Settings: s.settings})
		if err != nil {
			t.Fatal(err)
		}
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := pages.Config{API: api, CookieBackend: "cookie", CSRFKey: []byte(csrfKey), AppName: "Acme",
		OAuthProviders: providers, OAuthReturnURL: "https://auth.example/account", InsecureCookies: o.plainHTTP}
	p := pages.Handler(pcfg)
	mux := http.NewServeMux()
	for _, pattern := range pages.Patterns(pcfg) {
		mux.Handle(pattern, p)
	}
	mux.Handle("/", api)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Listener.Close()
	s.srv.Listener = ln
	if o.plainHTTP {
		s.srv.Start()
		s.URL = origin
	} else {
		s.srv.StartTLS()
		s.URL = s.srv.URL
	}
	t.Cleanup(s.srv.Close)
	return s
}

// token waits for the next token a flow hands out.
func (s *site) token() string {
	s.t.Helper()
	select {
	case tok := <-s.tokens:
		return tok
	case <-time.After(10 * time.Second):
		s.t.Fatal("no token within 10s")
		return ""
	}
}

// user returns the stored user with email.
func (s *site) user(email string) *gatehouse.User {
	s.t.Helper()
	u, err := s.users.FindUserByEmail(context.Background(), email)
	if err != nil {
		s.t.Fatalf("find %s: %v", email, err)
	}
	return u
}

// register makes a verified-or-not user through the API.
func (s *site) register(email string) {
	s.t.Helper()
	b := s.browser()
	if res := b.submit("/register", url.Values{"email": {email}, "password": {pw}, "password_confirm": {pw}}); res.status != http.StatusSeeOther {
		s.t.Fatalf("register %s: %d\n%s", email, res.status, res.body)
	}
	s.token() // the verification mail
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	s      *site
	client *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *s.srv.Client() // the server's TLS settings, with a jar of its own
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{s: s, client: &c}
}

// page is an answer.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.s.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) page {
	b.s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.s.URL+path, nil)
	return b.do(req)
}

// post sends a form as is (no CSRF token added).
func (b *browser) post(path string, form url.Values, header http.Header) page {
	b.s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the form at path.
func (b *browser) csrf(path string) string {
	b.s.t.Helper()
	p := b.get(path)
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.s.t.Fatalf("GET %s (%d): no CSRF token in\n%s", path, p.status, p.body)
	}
	return m[1]
}

// submit fills in the form of the page at path as a browser would: with
// the page's CSRF token, from the same origin.
func (b *browser) submit(path string, form url.Values) page {
	b.s.t.Helper()
	form.Set("csrf_token", b.csrf(path))
	action, _, _ := strings.Cut(path, "?")
	return b.post(action, form, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {b.s.URL}})
}

// login logs the browser in and checks the redirect.
func (b *browser) login(email string) {
	b.s.t.Helper()
	if res := b.submit("/login", url.Values{"email": {email}, "password": {pw}}); res.status != http.StatusSeeOther {
		b.s.t.Fatalf("login %s: %d\n%s", email, res.status, res.body)
	}
}

// wantRedirect checks a 303 to want.
func wantRedirect(t *testing.T, p page, want string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
		t.Fatalf("got %d Location %q, want 303 to %q\n%s", p.status, p.header.Get("Location"), want, p.body)
	}
}

// wantPage checks a page's status and that its body holds each of want.
func wantPage(t *testing.T, p page, status int, want ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d\n%s", p.status, status, p.body)
	}
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("page lacks %q\n%s", w, p.body)
		}
	}
}

// httptestRecorder serves one request on h.
func httptestRecorder(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}
