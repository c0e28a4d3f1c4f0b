// Package authz decides what an authenticated user may do: role-based
// checks (RBAC), typed attribute policies over a user, an action and a
// resource (ABAC), and policies written in CEL for servers that read them
// from their configuration.
//
// Authentication comes first: the middleware of this package runs after
// gatehouse.Authenticator.Require and answers 401 when the request carries
// no user, 403 when the user may not, and 503 when the role store cannot
// say (it fails closed, never open).
//
// A [Resolver] turns the authenticated user into a [Subject]: the user, the
// roles it holds and the permissions they give. Roles are read from the
// RoleStore on every request, so taking a role away (or deleting it) takes
// effect on the very next request, even for tokens issued before the
// change. They are read once per request: the first middleware caches the
// Subject in the request's context and the others, and the handler through
// [SubjectFrom], reuse it.
//
//	az := &authz.Resolver{Roles: roles}
//	mux.Handle("POST /articles", authn.Handler(az.RequirePermissions("articles:write")(create)))
//	mux.Handle("PUT /articles/{id}", authn.Handler(authz.Guard(az, "edit", loadArticle, canEdit)(update)))
//
// Superusers hold every permission. A request made with an API key is
// scoped (gatehouse.Principal.Scopes is non-nil): it may use only the key's
// scopes, whatever its owner holds, superusers included.
//
// Every check fails safe: a missing subject, policy or attribute, a policy
// that panics and a CEL expression that errors or runs over its cost limit
// all deny.
package authz

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// Subject is who is asking, as authorization sees it: the user with the
// roles and permissions it holds for this request.
type Subject struct {
	User *gatehouse.User
	// Roles are the names of the roles the user holds, sorted. In a scoped
	// request it keeps only the roles whose permissions the scopes cover
	// entirely, so an API key never passes a role check its scopes could
	// not: a role without permissions is then not held.
	Roles []string
	// Permissions are the effective permissions, sorted: the union of the
	// roles' permissions, narrowed to the scopes in a scoped request. A
	// superuser's unscoped request holds every permission, whether listed
	// here or not; a scoped one holds its scopes.
	Permissions []string
	// Scoped is true when the request is limited to the scopes of its
	// credential (an API key).
	Scoped bool
}

// HasRole reports whether s holds any of the named roles. It reports false
// for no names: asking for nothing is a mistake, and checks fail safe.
// Superusers hold every permission but only the roles they were given.
func (s *Subject) HasRole(names ...string) bool {
	if s == nil {
		return false
	}
	for _, n := range names {
		if slices.Contains(s.Roles, n) {
			return true
		}
	}
	return false
}

// Can reports whether s holds all of the permissions. An active
// superuser holds every permission unless the request is scoped: then it
// holds only the scopes. Can reports false for no permissions: asking for
// nothing is a mistake, and checks fail safe.
func (s *Subject) Can(perms ...string) bool {
	if s == nil || len(perms) == 0 {
		return false
	}
	if s.superuser() {
		return true
	}
	for _, p := range perms {
		if !slices.Contains(s.Permissions, p) {
			return false
		}
	}
	return true
}

// superuser reports whether s holds every permission: an active superuser
// in an unscoped request.
func (s *Subject) superuser() bool {
	return s.User != nil && s.User.IsSuperuser && s.User.IsActive && !s.Scoped
}

// Resolver finds the roles and permissions of authenticated users and
// builds the middleware that checks them. The zero value is not usable:
// Roles is required.
type Resolver struct {
	// Roles is where users' roles are read, on every request.
	Roles gatehouse.RoleStore
	// OnError writes refusals: 401 without a user, 403 when the check
	// fails, 503 when Roles is down. The default is gatehouse.WriteError,
	// whose 403 body is {"detail":"Forbidden"}, without the reason.
	OnError func(http.ResponseWriter, *http.Request, error)
	// Logger records refusals with their reason, and store failures. The
	// default is slog.Default().
	Logger *slog.Logger
}

// Subject returns the subject auth speaks for. The user's roles come from
// Roles, as they are now: a role taken away is gone on the next request.
// Permissions are the union of the roles' permissions, narrowed to
// auth.Principal.Scopes when those are non-nil. An inactive user holds no
// roles and no permissions.
//
// When ctx already carries the subject of auth (a middleware of r resolved
// it earlier in the request) Subject returns it without asking the store
// again. A store error is returned with CodeUnavailable, so that callers
// fail closed with a 503.
func (r *Resolver) Subject(ctx context.Context, auth *gatehouse.Auth) (*Subject, error) {
	if c, ok := ctx.Value(subjectKey{}).(*cachedSubject); ok && c.resolver == r && c.auth == auth {
		return c.subject, nil
	}
	return r.resolve(ctx, auth)
}

func (r *Resolver) resolve(ctx context.Context, auth *gatehouse.Auth) (*Subject, error) {
	if auth == nil || auth.User == nil {
		return nil, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	}
	u := auth.User
	scopes := auth.Principal.Scopes
	s := &Subject{User: u, Scoped: scopes != nil}
	if !u.IsActive {
		return s, nil
	}
	if r.Roles == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeInternal, "authz: Resolver without a RoleStore")
	}
	roles, err := r.Roles.UserRoles(ctx, u.ID)
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			// Whatever went wrong, the answer is unknown: fail closed.
			err = &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: err}
		}
		return nil, err
	}
	inScope := func(p string) bool { return !s.Scoped || slices.Contains(scopes, p) }
	for _, role := range roles {
		if s.Scoped && (len(role.Permissions) == 0 || !all(role.Permissions, inScope)) {
			continue
		}
		s.Roles = append(s.Roles, role.Name)
	}
	for _, role := range roles {
		for _, p := range role.Permissions {
			if inScope(p) {
				s.Permissions = append(s.Permissions, p)
			}
		}
	}
	if u.IsSuperuser && s.Scoped {
		// A superuser holds every permission, so all of its scopes.
		s.Permissions = append(s.Permissions, scopes...)
	}
	s.Roles = sortedSet(s.Roles)
	s.Permissions = sortedSet(s.Permissions)
	return s, nil
}

func all(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

func sortedSet(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}

type subjectKey struct{}

// cachedSubject remembers which resolver made a subject from which Auth,
// so that a subject is reused only for the request it was made for.
type cachedSubject struct {
	resolver *Resolver
	auth     *gatehouse.Auth
	subject  *Subject
}

// SubjectFrom returns the subject that RequireRoles, RequirePermissions or
// Guard resolved for the request, so that handlers can ask further
// questions (s.Can, s.HasRole) without another store lookup.
func SubjectFrom(ctx context.Context) (*Subject, bool) {
	c, ok := ctx.Value(subjectKey{}).(*cachedSubject)
	if !ok {
		return nil, false
	}
	return c.subject, true
}

// subject returns the request's subject and a context that carries it,
// resolving it only if no earlier middleware of r did. A nil subject comes
// with the error to answer with.
func (r *Resolver) subject(req *http.Request) (context.Context, *Subject, error) {
	ctx := req.Context()
	auth, ok := gatehouse.AuthFrom(ctx)
	if !ok || auth.User == nil {
		return ctx, nil, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	}
	if c, ok := ctx.Value(subjectKey{}).(*cachedSubject); ok && c.resolver == r && c.auth == auth {
		return ctx, c.subject, nil
	}
	s, err := r.resolve(ctx, auth)
	if err != nil {
		r.logger().LogAttrs(ctx, slog.LevelError, "authz: cannot resolve subject",
			slog.String("user_id", auth.User.ID.String()), slog.String("method", req.Method),
			slog.String("path", req.URL.Path), slog.Any("error", err))
		return ctx, nil, err
	}
	return context.WithValue(ctx, subjectKey{}, &cachedSubject{resolver: r, auth: auth, subject: s}), s, nil
}

// RequireRoles returns middleware that lets a request through only when
// its user holds any of the named roles. It goes after
// gatehouse.Authenticator.Require: a request without a user gets 401, a
// user without the roles 403. It panics when given no role.
func (r *Resolver) RequireRoles(names ...string) func(http.Handler) http.Handler {
	r.mustBeUsable("RequireRoles", len(names))
	reason := "lacks any role of " + strings.Join(names, ", ")
	return r.require(func(s *Subject) (bool, string) { return s.HasRole(names...), reason }, "")
}

// RequirePermissions returns middleware that lets a request through only
// when its user holds all of the permissions (superusers hold all, within
// the scopes of a scoped request). It goes after
// gatehouse.Authenticator.Require: a request without a user gets 401, a
// user lacking a permission 403; a scoped request is also told, by
// WWW-Authenticate: Bearer error="insufficient_scope", which scopes the
// route needs. It panics when given no permission.
func (r *Resolver) RequirePermissions(perms ...string) func(http.Handler) http.Handler {
	r.mustBeUsable("RequirePermissions", len(perms))
	reason := "lacks a permission of " + strings.Join(perms, ", ")
	challenge := `Bearer error="insufficient_scope", scope="` + strings.Join(perms, " ") + `"`
	return r.require(func(s *Subject) (bool, string) {
		return s.Can(perms...), reason
	}, challenge)
}

// require builds the middleware of RequireRoles and RequirePermissions:
// check reports whether the subject passes, and why not. A scoped request
// that fails gets the WWW-Authenticate challenge, if any.
func (r *Resolver) require(check func(*Subject) (bool, string), challenge string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ctx, s, err := r.subject(req)
			if err != nil {
				r.fail(w, req, err)
				return
			}
			if ok, reason := check(s); !ok {
				if s.Scoped && challenge != "" {
					w.Header().Set("WWW-Authenticate", challenge)
				}
				r.deny(w, req.WithContext(ctx), s, reason)
				return
			}
			next.ServeHTTP(w, req.WithContext(ctx))
		})
	}
}

// mustBeUsable panics on configuration that could never let a request
// through: chi-style, bad configuration fails at construction, not per
// request.
func (r *Resolver) mustBeUsable(fn string, n int) {
	switch {
	case r == nil:
		panic("authz: " + fn + " on a nil Resolver")
	case r.Roles == nil:
		panic("authz: " + fn + ": Resolver without a RoleStore")
	case n == 0:
		panic("authz: " + fn + " needs at least one name")
	}
}

// deny logs the refusal with its reason and answers 403 without it.
func (r *Resolver) deny(w http.ResponseWriter, req *http.Request, s *Subject, reason string) {
	attrs := []slog.Attr{slog.String("method", req.Method), slog.String("path", req.URL.Path),
		slog.String("reason", reason), slog.Bool("scoped", s.Scoped)}
	if s.User != nil {
		attrs = append(attrs, slog.String("user_id", s.User.ID.String()))
	}
	r.logger().LogAttrs(req.Context(), slog.LevelWarn, "authz: forbidden", attrs...)
	r.fail(w, req, &gatehouse.Error{Code: gatehouse.CodeForbidden})
}

func (r *Resolver) fail(w http.ResponseWriter, req *http.Request, err error) {
	if r.OnError != nil {
		r.OnError(w, req, err)
		return
	}
	gatehouse.WriteError(w, err)
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
