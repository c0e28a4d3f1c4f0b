package forwardauth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/cookie"
	"github.com/gatehouse/gatehouse/forwardauth"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// policies are the CEL policies of the tests that use them: staff read the
// docs, admins go anywhere, and the public host takes reads from any user.
var policies = map[string]string{
	"docs":   `action == "forward" && resource.path.startsWith("/docs/") && "docs:read" in user.permissions`,
	"admin":  `action == "forward" && "admin" in user.roles`,
	"public": `action == "forward" && resource.host == "public.example.com" && request.method in ["GET", "HEAD"]`,
}

// fixture is a Gatehouse over a real SQLite database: a bearer, a cookie
// and an API key backend, users with roles, and their credentials.
type fixture struct {
	db       *sqlite.DB
	authn    *gatehouse.Authenticator
	roles    gatehouse.RoleStore
	policies authz.CELPolicies

	users map[string]*gatehouse.User // by first name
	// tokens are access tokens by user; keys are API keys by name.
	tokens map[string]string
	keys   map[string]string
	// expired is alice's token, issued an hour ago; revoked is one of
	// hers that was logged out.
	expired, revoked string
}

// cookieName is the cookie backend's cookie.
const cookieName = cookie.DefaultName

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	db := sqlitetest.New(t)
	f := &fixture{
		db:     db,
		roles:  sqlite.NewRoleStore(db),
		users:  make(map[string]*gatehouse.User),
		tokens: make(map[string]string),
		keys:   make(map[string]string),
	}
	users := sqlite.NewUserStore(db)
	key, err := jwt.HMACKey([]byte("0123456789abcdef0123456789abcdef-forwardauth"))
	must(t, err)
	tokens, err := jwt.New(jwt.Config{Key: key, Revocations: sqlite.NewRevocations(db)})
	must(t, err)
	jar, err := cookie.New(cookie.Config{})
	must(t, err)
	keyStore := sqlite.NewAPIKeyStore(db)
	f.authn, err = gatehouse.NewAuthenticator(users,
		gatehouse.Backend{Name: "jwt", Transport: bearer.Transport{}, Strategy: tokens},
		gatehouse.Backend{Name: "cookie", Transport: jar, Strategy: tokens},
		gatehouse.Backend{Name: "apikey", Transport: apikey.Transport{}, Strategy: apikey.Strategy{Store: keyStore}},
	)
	must(t, err)

	for _, r := range []gatehouse.Role{
		{Name: "staff", Permissions: []string{"docs:read", "docs:write"}},
		{Name: "admin", Permissions: []string{"admin:all"}},
		{Name: "comma,role"}, // only a store used without httpapi's checks holds such a name
	} {
		must(t, f.roles.CreateRole(ctx, r))
	}
	for _, u := range []struct {
		name, email             string
		active, verified, super bool
		roles                   []string
	}{
		{"alice", "alice@example.com", true, true, false, []string{"staff"}},
		{"root", "root@example.com", true, true, true, []string{"staff", "admin"}},
		{"ivan", "ivan@example.com", false, true, false, []string{"staff"}},
		{"una", "una@example.com", true, false, false, []string{"staff"}},
		{"eve", "eve@example.com\r\nX-Gatehouse-User-Id: 0", true, true, false, nil},
		{"carl", "carl@example.com", true, true, false, []string{"comma,role"}},
	} {
		user := &gatehouse.User{Email: u.email, HashedPassword: "unused", IsActive: u.active, IsVerified: u.verified, IsSuperuser: u.super}
		must(t, users.CreateUser(ctx, user))
		must(t, f.roles.SetUserRoles(ctx, user.ID, u.roles))
		tok, err := tokens.Write(ctx, user, gatehouse.ID{})
		must(t, err)
		f.users[u.name], f.tokens[u.name] = user, tok.AccessToken
	}

	alice := f.users["alice"]
	for name, scopes := range map[string][]string{"docs": {"docs:read"}, "none": {}} {
		k, prefix, hash := apikey.Generate()
		must(t, keyStore.CreateAPIKey(ctx, gatehouse.APIKey{ID: gatehouse.NewID(), UserID: alice.ID, Name: name,
			Prefix: prefix, Hash: hash, Scopes: scopes}))
		f.keys[name] = k
	}
	f.keys["unknown"], _, _ = apikey.Generate()

	past, err := jwt.New(jwt.Config{Key: key, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	must(t, err)
	tok, err := past.Write(ctx, alice, gatehouse.ID{})
	must(t, err)
	f.expired = tok.AccessToken
	tok, err = tokens.Write(ctx, alice, gatehouse.ID{})
	must(t, err)
	must(t, tokens.Destroy(ctx, tok.AccessToken))
	f.revoked = tok.AccessToken

	for name, expr := range policies {
		p, err := authz.CompileCEL(name, expr)
		must(t, err)
		f.policies = append(f.policies, p)
	}
	return f
}

// options pick the parts of forwardauth.Config that tests vary.
type options struct {
	policies bool   // the fixture's policies
	login    string // Config.LoginURL
	verified bool   // Requirement.Verified
	noRoles  bool   // leave Config.Roles out
}

// mux mounts the handler as the server does.
func (f *fixture) mux(t testing.TB, opt options) *http.ServeMux {
	t.Helper()
	cfg := forwardauth.Config{
		Authenticator: f.authn,
		Requirement:   gatehouse.Requirement{Verified: opt.verified},
		Roles:         f.roles,
		LoginURL:      opt.login,
		Logger:        quiet,
	}
	if opt.policies {
		cfg.Policies = f.policies
	}
	if opt.noRoles {
		cfg.Roles = nil
	}
	h, err := forwardauth.New(cfg)
	must(t, err)
	mux := http.NewServeMux()
	mux.Handle("GET /auth/forward", h)
	return mux
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
