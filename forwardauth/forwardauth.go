package forwardauth

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// Action is the action that policies are asked about for a forwarded
// request.
const Action = "forward"

// The headers of a 200 answer, for the proxy to copy to the upstream
// request and for the upstream application to read.
const (
	HeaderUserID    = "X-Gatehouse-User-Id"
	HeaderUserEmail = "X-Gatehouse-User-Email"
	HeaderUserRoles = "X-Gatehouse-User-Roles" // sorted, comma-separated
)

// Config configures the forward-auth handler. Only Authenticator is
// required.
type Config struct {
	// Authenticator finds the user the original request speaks for, from
	// the Cookie, Authorization and X-API-Key headers the proxy forwards.
	Authenticator *gatehouse.Authenticator
	// Requirement is what the user must be. Active is always demanded,
	// whatever the field says: an inactive account must not reach the
	// application. Verified and Superuser apply as set (403 when not
	// met). Optional is refused: a forward-auth endpoint that lets anyone
	// through protects nothing.
	Requirement gatehouse.Requirement
	// Roles, when set, is where the user's roles are read on every
	// request: they fill X-Gatehouse-User-Roles and the user.roles and
	// user.permissions of policies. Without it the roles header is empty.
	Roles gatehouse.RoleStore
	// Policies, when non-empty, must allow a request (action "forward",
	// see the package documentation for what they read); otherwise it
	// gets 403. They need Roles.
	Policies authz.CELPolicies
	// LoginURL, when set, is where browsers without a valid credential are
	// sent, with the original URL in the next query parameter: an absolute
	// http or https URL, or a path such as "/login" (then resolved against
	// the protected application's host, which must serve it).
	LoginURL string
	// OnError writes refusals. The default is gatehouse.WriteError:
	// {"detail":"CODE"} with the status of the code.
	OnError func(http.ResponseWriter, *http.Request, error)
	// Logger records refusals by requirement or policy with their reason,
	// malformed forwarded headers and server-side failures. The default
	// is slog.Default().
	Logger *slog.Logger
	// Now is the clock behind the request.time of policies; default
	// time.Now.
	Now func() time.Time
}

// handler answers forward-auth subrequests.
type handler struct {
	authn       *gatehouse.Authenticator
	requirement gatehouse.Requirement
	resolver    *authz.Resolver // nil without Config.Roles
	policies    authz.CELPolicies
	login       *url.URL // nil without Config.LoginURL
	onError     func(http.ResponseWriter, *http.Request, error)
	logger      *slog.Logger
	now         func() time.Time
}

// New checks cfg and returns the handler to mount at GET /auth/forward. It
// refuses a missing Authenticator, an Optional requirement, policies
// without Roles or with a nil entry, and a LoginURL that is not an
// absolute http(s) URL or an absolute path.
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Authenticator == nil:
		return nil, errors.New("forwardauth: Config.Authenticator is required")
	case cfg.Requirement.Optional:
		return nil, errors.New("forwardauth: Config.Requirement.Optional would let every request through")
	case len(cfg.Policies) > 0 && cfg.Roles == nil:
		// Policies judge users by their roles and permissions, which come
		// from the roles store.
		return nil, errors.New("forwardauth: Config.Policies need Config.Roles")
	}
	for i, p := range cfg.Policies {
		if p == nil {
			return nil, fmt.Errorf("forwardauth: Config.Policies[%d] is nil", i)
		}
	}
	h := &handler{
		authn:       cfg.Authenticator,
		requirement: cfg.Requirement,
		policies:    cfg.Policies,
		onError:     cfg.OnError,
		logger:      cfg.Logger,
		now:         cfg.Now,
	}
	h.requirement.Active = true
	if cfg.Roles != nil {
		h.resolver = &authz.Resolver{Roles: cfg.Roles}
	}
	if cfg.LoginURL != "" {
		u, err := parseLoginURL(cfg.LoginURL)
		if err != nil {
			return nil, err
		}
		h.login = u
	}
	if h.onError == nil {
		h.onError = func(w http.ResponseWriter, _ *http.Request, err error) { gatehouse.WriteError(w, err) }
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// parseLoginURL accepts an absolute http(s) URL with a host, or a path that
// starts with a single "/". A scheme-relative "//host/…" or a URL with
// user info or a fragment is refused: the first is an easy mistake that
// points somewhere else, and next is appended to the query.
func parseLoginURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	bad := func(why string) error {
		return fmt.Errorf("forwardauth: Config.LoginURL %q: %s", s, why)
	}
	switch {
	case err != nil:
		return nil, bad("not a URL")
	case u.User != nil || u.Fragment != "" || u.Opaque != "":
		return nil, bad("want an http(s) URL or a path, without user info or fragment")
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		return u, nil
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		return u, nil
	}
	return nil, bad("want an absolute http(s) URL or a path starting with /")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Answers about one user's access must not be reused for another.
	w.Header().Set("Cache-Control", "no-store")

	o, err := parseOriginal(r.Header)
	if err == nil && len(h.policies) > 0 {
		err = o.complete()
	}
	if err != nil {
		h.logger.LogAttrs(ctx, slog.LevelWarn, "forwardauth: bad forwarded request", slog.Any("error", err))
		h.fail(w, r, &gatehouse.Error{Code: gatehouse.CodeBadRequest, Err: err})
		return
	}

	auth, err := h.authn.Authenticate(o.request(r))
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeUnauthorized {
			h.unauthorized(w, r, o, err)
			return
		}
		h.fail(w, r, err)
		return
	}
	u := auth.User
	if err := h.requirement.Check(u); err != nil {
		reason := "fails the requirement"
		if !u.IsActive {
			reason = "inactive"
		}
		h.deny(w, r, o, u, reason)
		return
	}

	subject := &authz.Subject{User: u, Scoped: auth.Principal.Scopes != nil}
	if h.resolver != nil {
		if subject, err = h.resolver.Subject(ctx, auth); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if len(h.policies) > 0 {
		request := map[string]any{"method": o.method, "path": o.path, "time": h.now().UTC()}
		if d := h.policies.Evaluate(ctx, subject, Action, o.resource(), request); !d.Allow {
			h.deny(w, r, o, u, d.Reason)
			return
		}
	}

	roles := strings.Join(subject.Roles, ",")
	if !safeValue(u.Email) || !safeRoles(subject.Roles) {
		h.fail(w, r, gatehouse.Errorf(gatehouse.CodeInternal,
			"forwardauth: user %s: e-mail %q or roles %q cannot be sent in a header", u.ID, u.Email, roles))
		return
	}
	hdr := w.Header()
	hdr.Set(HeaderUserID, u.ID.String())
	hdr.Set(HeaderUserEmail, u.Email)
	hdr.Set(HeaderUserRoles, roles)
	w.WriteHeader(http.StatusOK)
}

// unauthorized answers a request without a valid credential: a 401, which
// tells a browser navigation where to log in when LoginURL is set, or
// redirects it there when the proxy asked for redirects (redirect=1).
func (h *handler) unauthorized(w http.ResponseWriter, r *http.Request, o *original, err error) {
	if h.login != nil && o.navigation() && acceptsHTML(r.Header) {
		if next, ok := o.absoluteURL(); ok {
			loc := *h.login
			q := loc.Query()
			q.Set("next", next)
			loc.RawQuery = q.Encode()
			w.Header().Set("Location", loc.String())
			if r.URL.Query().Get("redirect") == "1" {
				w.WriteHeader(http.StatusFound)
				return
			}
		}
	}
	h.fail(w, r, err)
}

// deny answers 403 and logs why; the client sees only {"detail":"Forbidden"}.
func (h *handler) deny(w http.ResponseWriter, r *http.Request, o *original, u *gatehouse.User, reason string) {
	h.logger.LogAttrs(r.Context(), slog.LevelWarn, "forwardauth: forbidden",
		slog.String("user_id", u.ID.String()), slog.String("method", o.method),
		slog.String("host", o.hostname), slog.String("path", o.path), slog.String("reason", reason))
	h.fail(w, r, &gatehouse.Error{Code: gatehouse.CodeForbidden})
}

// fail writes err with OnError, logging server-side failures with their
// cause, which the client never sees.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if status := gatehouse.ErrorCode(err).Status(); status >= http.StatusInternalServerError {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "forwardauth: request failed",
			slog.Int("status", status), slog.Any("error", err))
	}
	h.onError(w, r, err)
}

// acceptsHTML reports whether an Accept header names text/html, as
// browsers do when they navigate. */* does not count: API clients send it.
func acceptsHTML(h http.Header) bool {
	for _, line := range h.Values("Accept") {
		for _, item := range strings.Split(line, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err == nil && mt == "text/html" {
				return true
			}
		}
	}
	return false
}

// safeValue reports whether s can be a header value as it is: valid UTF-8
// without control characters, so it can neither split the header (CR, LF)
// nor be cut short (NUL) by the proxy.
func safeValue(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	return true
}

// safeRoles reports whether the roles can be joined with commas and split
// back into the same list: no empty names, no commas, no spaces.
func safeRoles(roles []string) bool {
	for _, r := range roles {
		if r == "" || strings.ContainsAny(r, ", \t") || !safeValue(r) {
			return false
		}
	}
	return true
}
