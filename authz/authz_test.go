package authz_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

const (
	forbiddenBody    = `{"detail":"Forbidden"}`
	unauthorizedBody = `{"detail":"Unauthorized"}`
)

func TestRequireMatrix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	log, logs := testLogger()
	az := &authz.Resolver{Roles: w.roles, Logger: log}
	// Requirement{} lets inactive users through authentication, so that the
	// resolver's own handling of them is tested too.
	authn := w.auth.Require(gatehouse.Requirement{})
	routes := map[string]http.Handler{
		"roles editor|admin": authn(az.RequireRoles("editor", "admin")(ok)),
		"roles staff":        authn(az.RequireRoles("staff")(ok)),
		"perms write":        authn(az.RequirePermissions("articles:write")(ok)),
		"perms read":         authn(az.RequirePermissions("articles:read")(ok)),
		"perms read+write":   authn(az.RequirePermissions("articles:read", "articles:write")(ok)),
		"perms users:delete": authn(az.RequirePermissions("users:delete")(ok)),
	}
	tests := []struct {
		route string
		want  map[string]int // token -> status
	}{
		{"roles editor|admin", map[string]int{
			"": 401, "unknown": 401,
			"viewer": 403, "editor": 200, "admin": 200, "nobody": 403, "staff": 403,
			"root": 403, // superusers hold every permission, not every role
			// A key holds a role only when its scopes cover the role.
			"editor-key": 403, "admin-key": 200, "empty-key": 403,
			"inactive": 403, "inactive-root": 403,
		}},
		{"roles staff", map[string]int{
			"staff": 200, "editor": 403, "root": 403,
		}},
		{"perms write", map[string]int{
			"": 401, "unknown": 401,
			"viewer": 403, "editor": 200, "admin": 403, "nobody": 403, "staff": 403,
			"root": 200, "root-key": 403, "editor-key": 403, "admin-key": 403, "empty-key": 403,
			"inactive": 403, "inactive-root": 403,
		}},
		{"perms read", map[string]int{
			"viewer": 200, "editor": 200, "admin": 403, "root": 200,
			"root-key": 200, "editor-key": 200, "empty-key": 403,
		}},
		{"perms read+write", map[string]int{
			"viewer": 403, "editor": 200, "root": 200, "editor-key": 403, "root-key": 403,
		}},
		{"perms users:delete", map[string]int{
			"admin": 200, "admin-key": 200, "root": 200, "root-key": 403, "editor": 403,
		}},
	}
	for _, tt := range tests {
		for token, want := range tt.want {
			t.Run(tt.route+"/"+token, func(t *testing.T) {
				t.Parallel()
				rec := serve(routes[tt.route], "GET", "/x", token)
				if rec.Code != want {
					t.Fatalf("status = %d, want %d (body %s)", rec.Code, want, rec.Body)
				}
				switch want {
				case 200:
					if rec.Body.String() != "ok" {
						t.Errorf("body = %q", rec.Body)
					}
				case 401:
					if rec.Body.String() != unauthorizedBody || rec.Header().Get("WWW-Authenticate") != "Bearer" {
						t.Errorf("401 answer: %q, WWW-Authenticate %q", rec.Body, rec.Header().Get("WWW-Authenticate"))
					}
				case 403:
					if rec.Body.String() != forbiddenBody {
						t.Errorf("403 body = %q, want the generic %q", rec.Body, forbiddenBody)
					}
				}
			})
		}
	}
	t.Cleanup(func() {
		if !strings.Contains(logs.String(), "authz: forbidden") || !strings.Contains(logs.String(), "reason=") {
			t.Errorf("refusals were not logged with a reason:\n%s", logs)
		}
	})
}

func TestRequireWithoutAuthenticator(t *testing.T) {
	t.Parallel()
	az := &authz.Resolver{Roles: newMemRoles()}
	for name, h := range map[string]http.Handler{
		"roles": az.RequireRoles("admin")(ok),
		"perms": az.RequirePermissions("articles:read")(ok),
		"guard": authz.Guard(az, "read", func(*http.Request) (int, error) { return 1, nil }, allowAll[int])(ok),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := serve(h, "GET", "/", "")
			if rec.Code != 401 || rec.Body.String() != unauthorizedBody || rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("got %d %q %q, want 401", rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestScopedRequestIsToldTheScope(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	az := &authz.Resolver{Roles: w.roles}
	h := w.auth.Handler(az.RequirePermissions("articles:write")(ok))
	rec := serve(h, "POST", "/articles", "root-key")
	if rec.Code != 403 {
		t.Fatalf("status = %d, want 403", rec.Code)
	}
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer error="insufficient_scope", scope="articles:write"`; got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
	if rec := serve(h, "POST", "/articles", "viewer"); rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("unscoped refusal has WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	t.Parallel()
	for name, storeErr := range map[string]error{
		"unavailable": &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: errors.New("connection refused")},
		"unknown":     errors.New("disk on fire"),
		"not found":   &gatehouse.Error{Code: gatehouse.CodeNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.roles.setErr(storeErr)
			log, logs := testLogger()
			az := &authz.Resolver{Roles: w.roles, Logger: log}
			for _, h := range []http.Handler{
				w.auth.Handler(az.RequireRoles("editor")(ok)),
				w.auth.Handler(az.RequirePermissions("articles:read")(ok)),
				w.auth.Handler(authz.Guard(az, "read", func(*http.Request) (int, error) { return 1, nil }, allowAll[int])(ok)),
			} {
				// Even a superuser, who needs no role, is refused: the
				// answer is unknown.
				for _, token := range []string{"editor", "root"} {
					rec := serve(h, "GET", "/", token)
					if rec.Code != 503 || rec.Body.String() != `{"detail":"SERVICE_UNAVAILABLE"}` {
						t.Errorf("%s: got %d %q, want 503", token, rec.Code, rec.Body)
					}
				}
			}
			if strings.Contains(logs.String(), "disk on fire") != (name == "unknown") {
				t.Errorf("log:\n%s", logs)
			}
		})
	}
}

func TestRoleRemovalIsImmediate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	az := &authz.Resolver{Roles: w.roles}
	h := w.auth.Handler(az.RequirePermissions("articles:write")(ok))
	if rec := serve(h, "PUT", "/articles/1", "editor"); rec.Code != 200 {
		t.Fatalf("before: status %d", rec.Code)
	}
	// The same token, after the role is taken away.
	if err := w.roles.SetUserRoles(context.Background(), w.users["editor"].ID, []string{"viewer"}); err != nil {
		t.Fatal(err)
	}
	if rec := serve(h, "PUT", "/articles/1", "editor"); rec.Code != 403 {
		t.Fatalf("after removal: status %d, want 403", rec.Code)
	}
	// And after the role itself is deleted.
	if err := w.roles.SetUserRoles(context.Background(), w.users["editor"].ID, []string{"editor"}); err != nil {
		t.Fatal(err)
	}
	if rec := serve(h, "PUT", "/articles/1", "editor"); rec.Code != 200 {
		t.Fatalf("given back: status %d", rec.Code)
	}
	if err := w.roles.DeleteRole(context.Background(), "editor"); err != nil {
		t.Fatal(err)
	}
	if rec := serve(h, "PUT", "/articles/1", "editor"); rec.Code != 403 {
		t.Fatalf("after deletion: status %d, want 403", rec.Code)
	}
}

func TestSubjectResolvedOncePerRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	az := &authz.Resolver{Roles: w.roles}
	var inHandler *authz.Subject
	final := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s, found := authz.SubjectFrom(r.Context())
		auth, _ := gatehouse.AuthFrom(r.Context())
		again, err := az.Subject(r.Context(), auth)
		if !found || err != nil || again != s {
			t.Errorf("SubjectFrom = %v, %v; Subject = %v, %v", s, found, again, err)
		}
		inHandler = s
	})
	h := w.auth.Handler(az.RequireRoles("editor")(az.RequirePermissions("articles:write")(
		authz.Guard(az, "edit", func(*http.Request) (string, error) { return "article", nil }, allowAll[string])(final))))
	before := w.roles.callCount()
	if rec := serve(h, "PUT", "/", "editor"); rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if n := w.roles.callCount() - before; n != 1 {
		t.Errorf("UserRoles called %d times in one request, want 1", n)
	}
	if inHandler == nil || !inHandler.Can("articles:write") {
		t.Errorf("handler subject = %+v", inHandler)
	}
	// The next request reads the store again.
	serve(h, "PUT", "/", "editor")
	if n := w.roles.callCount() - before; n != 2 {
		t.Errorf("UserRoles called %d times in two requests, want 2", n)
	}
}

func TestResolverSubject(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	az := &authz.Resolver{Roles: w.roles}
	tests := []struct {
		token       string
		roles       []string
		permissions []string
		scoped      bool
		can         map[string]bool
	}{
		{token: "editor", roles: []string{"editor"}, permissions: []string{"articles:read", "articles:write"},
			can: map[string]bool{"articles:write": true, "users:delete": false}},
		{token: "root", can: map[string]bool{"articles:write": true, "users:delete": true, "anything": true}},
		{token: "root-key", permissions: []string{"articles:read"}, scoped: true,
			can: map[string]bool{"articles:read": true, "articles:write": false, "users:delete": false}},
		{token: "editor-key", permissions: []string{"articles:read"}, scoped: true,
			can: map[string]bool{"articles:read": true, "articles:write": false}},
		{token: "empty-key", scoped: true, can: map[string]bool{"articles:read": false}},
		{token: "admin-key", roles: []string{"admin"}, permissions: []string{"articles:delete", "users:delete"}, scoped: true,
			can: map[string]bool{"users:delete": true, "articles:read": false}},
		{token: "inactive", can: map[string]bool{"articles:read": false}},
		{token: "inactive-root", can: map[string]bool{"articles:read": false}},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			t.Parallel()
			u := w.users[tt.token]
			p, err := w.auth.Backends()[0].Strategy.Read(context.Background(), tt.token)
			if err != nil {
				t.Fatal(err)
			}
			s, err := az.Subject(context.Background(), &gatehouse.Auth{User: u, Principal: p})
			if err != nil {
				t.Fatal(err)
			}
			if s.User != u || !reflect.DeepEqual(s.Roles, tt.roles) || !reflect.DeepEqual(s.Permissions, tt.permissions) || s.Scoped != tt.scoped {
				t.Errorf("Subject = {Roles: %q, Permissions: %q, Scoped: %v}, want {%q, %q, %v}",
					s.Roles, s.Permissions, s.Scoped, tt.roles, tt.permissions, tt.scoped)
			}
			for perm, want := range tt.can {
				if got := s.Can(perm); got != want {
					t.Errorf("Can(%q) = %v, want %v", perm, got, want)
				}
			}
		})
	}
	if _, err := az.Subject(context.Background(), nil); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
		t.Errorf("Subject(nil) error = %v, want Unauthorized", err)
	}
}

func TestSubjectAsksFailSafe(t *testing.T) {
	t.Parallel()
	var nilSubject *authz.Subject
	s := &authz.Subject{Roles: []string{"editor"}, Permissions: []string{"b", "a"}}
	root := &authz.Subject{User: &gatehouse.User{IsActive: true, IsSuperuser: true}}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"nil Can", nilSubject.Can("a"), false},
		{"nil HasRole", nilSubject.HasRole("editor"), false},
		{"Can nothing", s.Can(), false},
		{"HasRole nothing", s.HasRole(), false},
		{"superuser Can nothing", root.Can(), false},
		{"unsorted permissions", s.Can("a", "b"), true},
		{"all of", s.Can("a", "c"), false},
		{"any of", s.HasRole("admin", "editor"), true},
		{"no user", s.Can("a"), true},
		{"superuser", root.Can("x", "y"), true},
		{"scoped superuser", (&authz.Subject{User: root.User, Scoped: true, Permissions: []string{"x"}}).Can("x", "y"), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestCustomOnError(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var codes []gatehouse.Code
	az := &authz.Resolver{Roles: w.roles, OnError: func(rw http.ResponseWriter, _ *http.Request, err error) {
		codes = append(codes, gatehouse.ErrorCode(err))
		rw.WriteHeader(418)
	}}
	h := az.RequireRoles("admin")(ok)
	serve(h, "GET", "/", "")                       // no Authenticator: no user
	serve(w.auth.Handler(h), "GET", "/", "viewer") // lacks the role
	if want := []gatehouse.Code{gatehouse.CodeUnauthorized, gatehouse.CodeForbidden}; !reflect.DeepEqual(codes, want) {
		t.Errorf("OnError got %q, want %q", codes, want)
	}
}

func TestBadConfigurationPanicsAtConstruction(t *testing.T) {
	t.Parallel()
	roles := newMemRoles()
	load := func(*http.Request) (int, error) { return 0, nil }
	for name, f := range map[string]func(){
		"no roles":           func() { (&authz.Resolver{Roles: roles}).RequireRoles() },
		"no permissions":     func() { (&authz.Resolver{Roles: roles}).RequirePermissions() },
		"no RoleStore":       func() { (&authz.Resolver{}).RequirePermissions("a") },
		"nil Resolver":       func() { authz.Guard(nil, "read", load, allowAll[int]) },
		"Guard no load":      func() { authz.Guard(&authz.Resolver{Roles: roles}, "read", nil, allowAll[int]) },
		"Guard no policy":    func() { authz.Guard[int](&authz.Resolver{Roles: roles}, "read", load, nil) },
		"Guard no RoleStore": func() { authz.Guard(&authz.Resolver{}, "read", load, allowAll[int]) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			f()
		})
	}
}
