package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/cookie"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/opaque"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// cheap keeps argon2id fast in tests that do not test hashing.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

// clock is a settable clock shared by the strategy and the stores.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stack is the stores one API runs on.
type stack struct {
	users  gatehouse.UserStore
	revs   gatehouse.Revocations
	tokens gatehouse.TokenStore // the database strategy's
	redis  gatehouse.TokenStore // the Redis strategy's; nil unless useRedis ran
	// sessions is the engine's session store, replaced by Redis's when
	// useRedis moves revocation there.
	sessions gatehouse.SessionStore
	roles    gatehouse.RoleStore
	apikeys  gatehouse.APIKeyStore
	oauth    gatehouse.OAuthAccountStore
	audit    gatehouse.AuditStore
	clock    *clock
	mfa      mfaStores
	settings gatehouse.SettingStore
	nonces   gatehouse.NonceStore
}

// mfaStores are the second-factor stores, one type in each engine.
type mfaStores interface {
	gatehouse.TOTPStore
	gatehouse.RecoveryCodeStore
	gatehouse.MFAChallengeStore
	gatehouse.PasskeyStore
}

// engine opens a fresh, migrated database of one kind.
type engine struct {
	name string
	open func(t testing.TB, clk *clock) *stack
}

var engines = []engine{
	{"sqlite", func(t testing.TB, clk *clock) *stack {
		db := sqlitetest.New(t)
		db.Now = clk.Now
		return &stack{sqlite.NewUserStore(db), sqlite.NewRevocations(db), sqlite.NewTokenStore(db), nil, sqlite.NewSessionStore(db),
			sqlite.NewRoleStore(db), sqlite.NewAPIKeyStore(db), sqlite.NewOAuthAccountStore(db), sqlite.NewAuditStore(db), clk, sqlite.NewMFAStore(db),
			sqlite.NewSettingStore(db), sqlite.NewNonceStore(db)}
	}},
	{"postgres", func(t testing.TB, clk *clock) *stack {
		db := postgrestest.New(t)
		db.Now = clk.Now
		return &stack{postgres.NewUserStore(db), postgres.NewRevocations(db), postgres.NewTokenStore(db), nil, postgres.NewSessionStore(db),
			postgres.NewRoleStore(db), postgres.NewAPIKeyStore(db), postgres.NewOAuthAccountStore(db), postgres.NewAuditStore(db), clk, postgres.NewMFAStore(db),
			postgres.NewSettingStore(db), postgres.NewNonceStore(db)}
	}},
}

// useRedis adds a Redis token store on a fresh key prefix; with
// revocations set, JWT revocation moves there too, as in the server.
func (st *stack) useRedis(t testing.TB, db *redis.DB, revocations bool) {
	db.Now = st.clock.Now
	st.redis = redis.NewTokenStore(db)
	if revocations {
		st.revs = redis.NewRevocations(db)
		st.sessions = redis.NewSessionStore(db)
	}
}

// forEachEngine runs f once per storage engine, in parallel.
func forEachEngine(t *testing.T, f func(t *testing.T, e engine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			f(t, e)
		})
	}
}

type options struct {
	// backends as in GATEHOUSE_BACKENDS; default "jwt=bearer+jwt".
	backends            []string
	requireVerification bool
	fields              []gatehouse.Field
	hooks               gatehouse.Hooks
	// sessions turns refresh tokens on, with this grace window.
	sessions bool
	grace    time.Duration
	// authz turns roles and API keys on; policies answer /authorize.
	authz    bool
	policies authz.CELPolicies
	// oauth, given the server's base URL, configures OAuth providers.
	oauth   func(base string) map[string]httpapi.OAuthProvider
	maxBody int64
	// services sets ForwardAuth, JWKS, Docs and Metrics to stand-ins.
	services bool
	// limiter turns throttling on, with limits (zero fields: the
	// defaults). Other tests run unthrottled.
	limiter gatehouse.Limiter
	limits  httpapi.Limits
	// clientIP, when set, finds the client address (testClientIP reads
	// a test header).
	clientIP func(*http.Request) netip.Addr
	// audit turns the audit log on, in the engine's store.
	audit bool
	// hasher replaces the cheap argon2id hasher.
	hasher gatehouse.Hasher
	// mfa turns second factors on; mfaLoginURL is where browser OAuth
	// flows of users with one continue.
	mfa         bool
	mfaLoginURL string
}

// server is a running Gatehouse API on a real HTTP server.
type server struct {
	t   testing.TB
	URL string
	// handler is the API itself, unchecked (for benchmarks); requests to
	// URL are checked against its OpenAPI document, and in-process
	// requests can be with contract.wrap.
	handler  http.Handler
	contract *contract
	patterns []string // the route table's
	wait     func()   // until background flows are done
	stack    *stack
	users    gatehouse.UserStore
	clock    *clock
	m        *gatehouse.Manager
}

func newServer(t testing.TB, e engine, opt options) *server {
	t.Helper()
	return start(t, e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)}), opt)
}

// newServerSharing starts a second API over the same stores and clock, with
// other options.
func newServerSharing(t testing.TB, s *server, opt options) *server {
	t.Helper()
	return start(t, s.stack, opt)
}

const (
	lifetime    = 15 * time.Minute
	idleTTL     = 24 * time.Hour
	absoluteTTL = 72 * time.Hour
)

func start(t testing.TB, st *stack, opt options) *server {
	t.Helper()
	if opt.backends == nil {
		opt.backends = []string{"jwt=bearer+jwt"}
	}
	var backends []gatehouse.Backend
	for _, spec := range opt.backends {
		name, pair, _ := strings.Cut(spec, "=")
		transport, strategy, _ := strings.Cut(pair, "+")
		backends = append(backends, gatehouse.Backend{
			Name:      name,
			Transport: newTransport(t, transport, st.clock),
			Strategy:  newStrategy(t, strategy, st),
		})
	}
	auth, err := gatehouse.NewAuthenticator(st.users, backends...)
	if err != nil {
		t.Fatal(err)
	}
	if opt.sessions {
		auth.SetSessions(&gatehouse.Sessions{
			Store:       st.sessions,
			Key:         []byte("refresh-token derivation key, 32+ bytes"),
			IdleTTL:     idleTTL,
			AbsoluteTTL: absoluteTTL,
			Grace:       opt.grace,
			Now:         st.clock.Now,
		})
	}
	signer, err := jwt.NewSigner([]byte("account-flow secret of 32+ bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	signer.SetClock(st.clock.Now)
	var hasher gatehouse.Hasher = &password.Hasher{Params: cheap}
	if opt.hasher != nil {
		hasher = opt.hasher
	}
	m := &gatehouse.Manager{
		Users:     st.users,
		Hasher:    hasher,
		Passwords: &password.Policy{SkipBlocklist: true}, // the tests use passwords like "password123"
		Hooks:     opt.hooks,
		Tokens:    signer,
	}
	// The server starts first, so that OAuth callback URLs can name it.
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	var providers map[string]httpapi.OAuthProvider
	if opt.oauth != nil {
		providers = opt.oauth(ts.URL)
	}
	var second *mfa.Service
	if opt.mfa {
		second, err = mfa.New(mfa.Config{
			TOTP: st.mfa, RecoveryCodes: st.mfa, Challenges: st.mfa,
			Seal: testSeal, Open: testOpen, Now: st.clock.Now,
			Passkeys: st.mfa, Nonces: st.nonces, RPID: passkeyRPID, RPOrigins: []string{passkeyOrigin},
			Settings: st.settings,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	api, wait, patterns, err := httpapi.NewForTest(httpapi.Config{
		MFA:                 second,
		MFALoginURL:         opt.mfaLoginURL,
		Manager:             m,
		Authenticator:       auth,
		RequireVerification: opt.requireVerification,
		Fields:              opt.fields,
		MaxBodyBytes:        opt.maxBody,
		Roles:               when(opt.authz, st.roles),
		APIKeys:             when(opt.authz, st.apikeys),
		Policies:            opt.policies,
		OAuth:               providers,
		OAuthAccounts:       when(providers != nil, st.oauth),
		Seal:                when(providers != nil, testSeal),
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		ForwardAuth:         when(opt.services, standIn("", "")),
		JWKS:                when(opt.services, standIn("application/json", `{"keys":[]}`)),
		Docs:                when(opt.services, standIn("text/html; charset=utf-8", "<!doctype html><title>API</title>")),
		Metrics:             when(opt.services, standIn("text/plain; version=0.0.4; charset=utf-8", "up 1\n")),
		Limiter:             opt.limiter,
		Limits:              opt.limits,
		ClientIP:            opt.clientIP,
		Audit:               when(opt.audit, st.audit),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := loadContract(t, api)
	h = c.wrap(t, api)
	return &server{t: t, URL: ts.URL, handler: api, contract: c, patterns: patterns, wait: wait, stack: st, users: st.users, clock: st.clock, m: m}
}

func newTransport(t testing.TB, name string, clk *clock) gatehouse.Transport {
	switch name {
	case "bearer":
		return &bearer.Transport{Now: clk.Now}
	case "apikey":
		return &apikey.Transport{}
	case "cookie":
		c, err := cookie.New(cookie.Config{MaxAge: lifetime, RefreshPath: "/auth/", RefreshMaxAge: absoluteTTL})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Fatalf("unknown transport %q", name)
	return nil
}

func newStrategy(t testing.TB, name string, st *stack) gatehouse.Strategy {
	var s gatehouse.Strategy
	var err error
	switch name {
	case "jwt":
		key, kerr := jwt.HMACKey([]byte("0123456789abcdef0123456789abcdef-test-secret"))
		if kerr != nil {
			t.Fatal(kerr)
		}
		s, err = jwt.New(jwt.Config{Key: key, Lifetime: lifetime, Revocations: st.revs, Now: st.clock.Now})
	case "database":
		s, err = opaque.New(opaque.Config{Store: st.tokens, Lifetime: lifetime, Now: st.clock.Now})
	case "apikey":
		s = &apikey.Strategy{Store: st.apikeys, Now: st.clock.Now}
	case "redis":
		if st.redis == nil {
			t.Fatal("a redis strategy needs stack.useRedis first")
		}
		s, err = opaque.New(opaque.Config{Store: st.redis, Lifetime: lifetime, Now: st.clock.Now})
	default:
		t.Fatalf("unknown strategy %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// response is what a test asserts on.
type response struct {
	status int
	header http.Header
	body   string
}

// json decodes the body.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return v
}

// do sends a request. body is sent as is with contentType (if non-empty);
// token, if non-empty, goes in a bearer header.
func (s *server) do(method, path, contentType, body, token string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.doRequest(req)
}

// doRequest sends req and reads the whole answer.
func (s *server) doRequest(req *http.Request) response {
	s.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (s *server) json(method, path, body, token string) response {
	s.t.Helper()
	return s.do(method, path, "application/json", body, token)
}

func (s *server) form(path string, values url.Values) response {
	s.t.Helper()
	return s.do(http.MethodPost, path, "application/x-www-form-urlencoded", values.Encode(), "")
}

// register creates a user through the API and returns it as the API shows it.
func (s *server) register(email, pw string) map[string]any {
	s.t.Helper()
	// Users are listed by creation time: give each its own instant.
	s.clock.Add(time.Second)
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	res := s.json(http.MethodPost, "/auth/register", string(b), "")
	if res.status != http.StatusCreated {
		s.t.Fatalf("register %s: %d %s", email, res.status, res.body)
	}
	return res.json(s.t)
}

// login returns an access token.
func (s *server) login(email, pw string) string {
	s.t.Helper()
	res := s.form("/auth/jwt/login", url.Values{"username": {email}, "password": {pw}})
	if res.status != http.StatusOK {
		s.t.Fatalf("login %s: %d %s", email, res.status, res.body)
	}
	tok, _ := res.json(s.t)["access_token"].(string)
	if tok == "" {
		s.t.Fatalf("login %s: no access_token in %s", email, res.body)
	}
	return tok
}

// set changes a user directly in the store (flags no route may set for
// oneself), as an operator would.
func (s *server) set(email string, upd gatehouse.UserUpdate) *gatehouse.User {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.users.FindUserByEmail(ctx, email)
	if err != nil {
		s.t.Fatal(err)
	}
	u, err = s.users.UpdateUser(ctx, u.ID, upd)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// user registers email with password "password123" and applies flags.
func (s *server) user(email string, superuser, verified, active bool) (id, token string) {
	s.t.Helper()
	u := s.register(email, "password123")
	s.set(email, gatehouse.UserUpdate{IsSuperuser: &superuser, IsVerified: &verified})
	id = u["id"].(string)
	token = s.login(email, "password123")
	if !active {
		s.set(email, gatehouse.UserUpdate{IsActive: &active})
	}
	return id, token
}

func ptr[T any](v T) *T { return &v }

// standIn is a handler answering 200 with a fixed body, in place of the
// optional handlers of the Config.
func standIn(contentType, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		io.WriteString(w, body)
	})
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// when returns v if on, else the zero value: an option left off.
func when[T any](on bool, v T) T {
	if on {
		return v
	}
	var zero T
	return zero
}

// testSeal stands in for the server's AES-GCM sealing: reversible, and
// visibly not the token.
func testSeal(plain []byte) ([]byte, error) {
	out := []byte("sealed:")
	for i := len(plain) - 1; i >= 0; i-- {
		out = append(out, plain[i])
	}
	return out, nil
}

// testOpen is testSeal's inverse.
func testOpen(sealed []byte) ([]byte, error) {
	body, ok := bytes.CutPrefix(sealed, []byte("sealed:"))
	if !ok {
		return nil, errors.New("not sealed by testSeal")
	}
	out := make([]byte, len(body))
	for i, b := range body {
		out[len(body)-1-i] = b
	}
	return out, nil
}

// json2 decodes a JSON array of objects.
func (r response) json2(t testing.TB) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q is not a JSON array: %v", r.body, err)
	}
	return v
}
