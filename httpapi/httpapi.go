// Package httpapi serves the HTTP routes of FastAPI Users (and Gatehouse's
// additions) over a gatehouse.Manager and gatehouse.Authenticator.
//
// Paths, form and JSON fields, status codes and error bodies follow the
// contract in shared/api-contract.md, so clients written for FastAPI Users
// work unchanged. That includes the order in which a route checks things:
// authentication before body validation, and both before the 404 lookup.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/mfa"
)

// Config configures the routes. Manager and Authenticator are required.
type Config struct {
	Manager       *gatehouse.Manager
	Authenticator *gatehouse.Authenticator
	// RequireVerification refuses login to unverified users
	// (LOGIN_USER_NOT_VERIFIED) and gives them 403 on the user routes.
	RequireVerification bool
	// Fields are the app-defined user fields that the routes read and write.
	Fields []gatehouse.Field
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// Roles turns role-based access control on: the /roles routes,
	// PUT /users/{id}/roles, and roles and permissions in user responses.
	Roles gatehouse.RoleStore
	// APIKeys turns the API-key routes on. Requests made with a key may
	// only use the key's scopes.
	APIKeys gatehouse.APIKeyStore
	// Policies answer POST /authorize; with none, every request is denied.
	Policies authz.CELPolicies

	// OAuth turns login with identity providers on, one entry per
	// provider name; OAuthAccounts keeps the linked accounts and Seal
	// encrypts the providers' tokens before they are stored (nil: they are
	// not stored).
	OAuth         map[string]OAuthProvider
	OAuthAccounts gatehouse.OAuthAccountStore
	Seal          func(plain []byte) ([]byte, error)

	// MFA turns second factors on: users may add an authenticator app
	// (TOTP) with recovery codes under /users/me/mfa, and a login of a
	// user who has one answers 401 LOGIN_MFA_REQUIRED with an mfa_token,
	// completed at POST /auth/NAME/mfa.
	MFA *mfa.Service
	// MFALoginURL is where a browser OAuth flow (return_to) of a user with
	// a second factor continues: the URL, with ?mfa_token=…, of a page
	// that asks for the code (the pages' /login/mfa). Empty: such a flow
	// answers 401 LOGIN_MFA_REQUIRED like an API login.
	MFALoginURL string

	// KeepSessionsOnPasswordChange keeps a user's other sessions alive
	// when their password changes or is reset; by default they end.
	// (Sessions are on when the Authenticator has them: SetSessions.)
	KeepSessionsOnPasswordChange bool
	Logger                       *slog.Logger // default slog.Default()

	// Limiter throttles password guessing, token guessing and mail
	// floods with the rules of Limits: over a limit a request gets 429
	// {"detail":"TOO_MANY_REQUESTS"} and Retry-After; when the Limiter
	// cannot decide, 503 {"detail":"SERVICE_UNAVAILABLE"}, never a pass.
	// nil: no throttling. Several server instances need a shared one
	// (redis.Limiter); one instance can use ratelimit.Memory.
	Limiter gatehouse.Limiter
	// Limits are the rules Limiter applies; zero fields take
	// DefaultLimits' values.
	Limits Limits
	// ClientIP finds the address of a request's client, for limits, the
	// audit log, session records and policies. Default: the connection's
	// peer (RemoteAddr). Behind a reverse proxy, use a clientip.Resolver
	// that trusts it; never a header the client can write.
	ClientIP func(*http.Request) netip.Addr
	// Audit records security events (logins, password changes, role
	// changes, API keys…) and serves them to superusers at GET /audit.
	// nil: no audit log and no /audit route.
	Audit gatehouse.AuditStore
	// Checks name the service's dependencies and check that each is
	// reachable, for GET /readyz ("database": db.Ping, say).
	Checks map[string]func(context.Context) error

	// Optional handlers, served as given (behind the same no-store and
	// nosniff headers) and documented in GET /openapi.json when set.
	// ForwardAuth answers GET /auth/forward for reverse proxies; JWKS
	// GET /.well-known/jwks.json; Docs GET /docs and everything under
	// /docs/ (the page's assets); Metrics GET /metrics.
	ForwardAuth http.Handler
	JWKS        http.Handler
	Docs        http.Handler
	Metrics     http.Handler
}

type api struct {
	Config
	fields map[string]gatehouse.Field
	user   gatehouse.Requirement // what the user routes demand
	flows  chan struct{}         // slots for flows running after their answer
	// resolver finds what an authenticated request may do.
	resolver *authz.Resolver
	// document is GET /openapi.json, rendered once from the route table.
	document []byte
	// limits are the throttling policies; nil without a Limiter.
	limits *policies
}

// maxBackgroundFlows bounds the flows that run after their answer; beyond
// it a flow runs before answering, so a flood cannot pile up goroutines.
const maxBackgroundFlows = 64

// readyTimeout bounds each dependency check, so /readyz answers even when a
// dependency hangs instead of refusing.
const readyTimeout = 2 * time.Second

var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reserved are the names a custom field may not take: the wire schema's own.
var reserved = map[string]bool{
	"id": true, "email": true, "password": true, "hashed_password": true,
	"is_active": true, "is_superuser": true, "is_verified": true,
	"oauth_accounts": true, "roles": true, "permissions": true,
	"created_at": true, "updated_at": true,
}

// New returns a handler serving every route of the contract. Bad
// configuration is an error here, never a failure per request.
func New(cfg Config) (http.Handler, error) {
	_, h, err := build(cfg)
	return h, err
}

func build(cfg Config) (*api, http.Handler, error) {
	if cfg.Manager == nil || cfg.Authenticator == nil {
		return nil, nil, errors.New("httpapi: Config needs a Manager and an Authenticator")
	}
	if (cfg.APIKeys != nil || len(cfg.Policies) > 0) && cfg.Roles == nil {
		// Key scopes and policies are checked against the user's
		// permissions, which come from the roles.
		return nil, nil, errors.New("httpapi: Config.APIKeys and Config.Policies need Config.Roles")
	}
	if len(cfg.OAuth) > 0 && cfg.OAuthAccounts == nil {
		return nil, nil, errors.New("httpapi: Config.OAuth needs Config.OAuthAccounts")
	}
	if len(cfg.OAuth) > 0 && !slices.ContainsFunc(cfg.Authenticator.Backends(), func(b gatehouse.Backend) bool {
		_, noLogin := b.Strategy.(gatehouse.NoLogin)
		return !noLogin
	}) {
		return nil, nil, errors.New("httpapi: Config.OAuth needs a backend with a login")
	}
	for name, p := range cfg.OAuth {
		if !roleName.MatchString(name) || name == "associate" {
			return nil, nil, fmt.Errorf("httpapi: invalid OAuth provider name %q", name)
		}
		if _, clash := cfg.Authenticator.Backend(name); clash {
			return nil, nil, fmt.Errorf("httpapi: OAuth provider %q has the name of a backend", name)
		}
		if p.Flow == nil || p.CallbackURL == "" || p.AssociateCallbackURL == "" {
			return nil, nil, fmt.Errorf("httpapi: OAuth provider %q needs a Flow and both callback URLs", name)
		}
		if p.Backend != "" {
			if _, ok := cfg.Authenticator.Backend(p.Backend); !ok {
				return nil, nil, fmt.Errorf("httpapi: OAuth provider %q: no backend %q", name, p.Backend)
			}
		}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = peer
	}
	var limits *policies
	if cfg.Limiter != nil {
		lim, err := cfg.Limits.withDefaults()
		if err != nil {
			return nil, nil, err
		}
		limits = newPolicies(cfg.Limiter, lim)
	}
	a := &api{
		Config: cfg,
		fields: make(map[string]gatehouse.Field),
		user:   gatehouse.Requirement{Active: true, Verified: cfg.RequireVerification},
		flows:  make(chan struct{}, maxBackgroundFlows),
		limits: limits,
	}
	for _, f := range cfg.Fields {
		if !fieldName.MatchString(f.Name) || reserved[f.Name] {
			return nil, nil, fmt.Errorf("httpapi: invalid custom field name %q", f.Name)
		}
		if _, dup := a.fields[f.Name]; dup {
			return nil, nil, fmt.Errorf("httpapi: duplicate custom field %q", f.Name)
		}
		if f.Type < gatehouse.FieldString || f.Type > gatehouse.FieldTime {
			return nil, nil, fmt.Errorf("httpapi: custom field %q has no valid type", f.Name)
		}
		a.fields[f.Name] = f
	}
	cfg.Authenticator.SetErrorHandler(a.writeError)
	a.resolver = &authz.Resolver{Roles: cfg.Roles, OnError: a.writeError, Logger: cfg.Logger}

	routes := a.routes()
	doc, err := a.openAPI(routes)
	if err != nil {
		return nil, nil, fmt.Errorf("httpapi: rendering the OpenAPI document: %w", err)
	}
	a.document = doc
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, rt.handler)
	}
	mux.HandleFunc("/", a.notFound(mux))
	return a, Recover(cfg.Logger)(a.headers(mux)), nil
}

// notFound answers what no other pattern takes, as the "/" pattern, with
// the contract's JSON 404 or, when the path exists for other methods, 405
// and Allow. Routing stays a single lookup for every matched request; the
// extra lookups happen only here.
func (a *api) notFound(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeMethodNotAllowed})
	}
}

// headers sets what every answer of an auth service needs: user data and
// tokens must not be cached, and content types must not be sniffed.
func (a *api) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func (a *api) serveDocument(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(a.document) // a failed write means the client has gone
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz reports each dependency: 200 when all answer, else 503 naming the
// ones that do not. /healthz, by contrast, only says the process is alive.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	status, checks := http.StatusOK, make(map[string]string, len(a.Checks))
	for name, check := range a.Checks {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := check(ctx)
		cancel()
		if err != nil {
			a.Logger.WarnContext(r.Context(), "dependency unavailable", "dependency", name, "error", err)
			status, checks[name] = http.StatusServiceUnavailable, "unavailable"
			continue
		}
		checks[name] = "ok"
	}
	word := "ok"
	if status != http.StatusOK {
		word = "unavailable"
	}
	writeJSON(w, status, struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}{word, checks})
}
