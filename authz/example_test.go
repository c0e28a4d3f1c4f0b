package authz_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// exampleSetup returns an Authenticator and a RoleStore for the examples.
// A program would use real ones, such as bearer.Transport with a
// jwt.Strategy and sqlite.NewRoleStore(db); these read the token "alice"
// or "bob" from the X-Test-Token header and keep roles in memory.
func exampleSetup() (authn *gatehouse.Authenticator, roles gatehouse.RoleStore, alice, bob *gatehouse.User) {
	alice = &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true}
	bob = &gatehouse.User{ID: gatehouse.NewID(), Email: "bob@example.com", IsActive: true}
	tokens := tokenStrategy{"alice": {UserID: alice.ID}, "bob": {UserID: bob.ID}}
	authn, err := gatehouse.NewAuthenticator(userMap{alice.ID: alice, bob.ID: bob},
		gatehouse.Backend{Name: "example", Transport: headerTransport{}, Strategy: tokens})
	if err != nil {
		log.Fatal(err)
	}
	return authn, newMemRoles(), alice, bob
}

// RequirePermissions protects a route by permission: anonymous requests
// get 401, users whose roles lack the permission 403.
func ExampleResolver_RequirePermissions() {
	ctx := context.Background()
	authn, roles, alice, _ := exampleSetup()
	roles.CreateRole(ctx, gatehouse.Role{Name: "editor", Permissions: []string{"articles:read", "articles:write"}})
	roles.SetUserRoles(ctx, alice.ID, []string{"editor"})

	az := &authz.Resolver{Roles: roles}
	mux := http.NewServeMux()
	mux.Handle("POST /articles", authn.Handler(az.RequirePermissions("articles:write")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, _ := authz.SubjectFrom(r.Context())
			fmt.Fprintf(w, "created by %s (%s)", s.User.Email, strings.Join(s.Roles, ", "))
		}))))

	for _, token := range []string{"", "bob", "alice"} {
		r := httptest.NewRequest("POST", "/articles", nil)
		if token != "" {
			r.Header.Set("X-Test-Token", token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body)
	}
	// Output:
	// 401 {"detail":"Unauthorized"}
	// 403 {"detail":"Forbidden"}
	// 200 created by alice@example.com (editor)
}

// Guard loads an article and checks an ownership policy: its author may
// edit it, and so may admins; anyone else gets 403, a missing article 404.
func ExampleGuard() {
	type Article struct {
		ID       string
		AuthorID gatehouse.ID
		Title    string
	}
	authn, roles, alice, _ := exampleSetup()
	articles := map[string]*Article{"1": {ID: "1", AuthorID: alice.ID, Title: "Hello"}}

	isAuthor := func(_ context.Context, s *authz.Subject, _ string, a *Article) authz.Decision {
		if a.AuthorID == s.User.ID {
			return authz.Allow("author")
		}
		return authz.Deny("not the author")
	}
	isAdmin := func(_ context.Context, s *authz.Subject, _ string, _ *Article) authz.Decision {
		if s.HasRole("admin") {
			return authz.Allow("admin")
		}
		return authz.Deny("not an admin")
	}
	canEdit := authz.Any[*Article](isAuthor, isAdmin)
	load := func(r *http.Request) (*Article, error) {
		a, ok := articles[r.PathValue("id")]
		if !ok {
			return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
		}
		return a, nil
	}

	az := &authz.Resolver{Roles: roles}
	mux := http.NewServeMux()
	mux.Handle("PUT /articles/{id}", authn.Handler(authz.Guard(az, "edit", load, canEdit)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, _ := authz.ResourceFrom[*Article](r.Context())
			fmt.Fprintf(w, "editing %q", a.Title)
		}))))

	for _, req := range []struct{ token, id string }{{"alice", "1"}, {"bob", "1"}, {"alice", "2"}} {
		r := httptest.NewRequest("PUT", "/articles/"+req.id, nil)
		r.Header.Set("X-Test-Token", req.token)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(req.token, w.Code, w.Body)
	}
	// Output:
	// alice 200 editing "Hello"
	// bob 403 {"detail":"Forbidden"}
	// alice 404 {"detail":"Not Found"}
}

// Server policies written in CEL: an author edits their own article,
// admins anything.
func ExampleCompileCEL() {
	owner, err := authz.CompileCEL("author-edits", `action == "edit" && resource.author_id == user.id`)
	if err != nil {
		log.Fatal(err)
	}
	admin, err := authz.CompileCEL("admin", `"admin" in user.roles`)
	if err != nil {
		log.Fatal(err)
	}
	policies := authz.CELPolicies{owner, admin}

	alice := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}}
	article := map[string]any{"author_id": alice.User.ID.String()}
	fmt.Println(policies.Evaluate(context.Background(), alice, "edit", article, nil).Reason)
	fmt.Println(policies.Evaluate(context.Background(), alice, "delete", article, nil).Reason)

	_, err = authz.CompileCEL("typo", `resource.author_id = user.id`)
	fmt.Println(err != nil && strings.Contains(err.Error(), `CEL policy "typo"`))
	// Output:
	// policy "author-edits" allowed
	// no policy allowed
	// true
}
