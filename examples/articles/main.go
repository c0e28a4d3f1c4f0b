// Command articles is a small articles service whose access rules are
// Gatehouse roles (RBAC) and policies on the articles themselves (ABAC):
//
//	GET    /reports           any logged-in user
//	POST   /articles          holders of articles:write (the editor and admin roles)
//	PUT    /articles/{id}     the article's author, or an admin
//	DELETE /articles/{id}     the author while the article is an unpublished draft, or an admin
//	DELETE /admin/users/{id}  the admin role
//
// Next to them are the FastAPI Users routes of httpapi (/auth/register,
// /auth/jwt/login, /users/me, ...), with /roles and PUT /users/{id}/roles
// for superusers. The roles viewer, editor and admin are created at start.
//
// Users are deleted here by the admin role rather than by httpapi's
// DELETE /users/{id}, which needs a superuser: a superuser may do anything
// to anyone (change users, grant roles), while the admin role grants only
// what this service says. Granting or taking it (PUT /users/{id}/roles)
// applies at the next request, as roles are read from the store each time.
//
// Try it:
//
//	export APP_SECRET=$(openssl rand -hex 32)
//	echo 'a long password' | go run ./cmd/gatehouse users create --database-url sqlite://articles.db --email root@example.com --superuser
//	go run ./examples/articles
//
// then log in as root at POST /auth/jwt/login and give users their roles
// with PUT /users/{id}/roles {"roles":["editor"]}.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
)

func main() {
	ctx := context.Background()
	db, err := sqlite.Open("articles.db")
	check(err)
	_, err = db.Migrate(ctx)
	check(err)
	h, err := newServer(ctx, db, &password.Hasher{}, []byte(os.Getenv("APP_SECRET")))
	check(err)
	log.Print("articles: serving on http://127.0.0.1:8080")
	// ReadHeaderTimeout: a client must not hold a connection open by never
	// finishing its headers.
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// roles are the service's roles, created (or brought up to date) at start.
var roles = []gatehouse.Role{
	{Name: "viewer", Description: "reads reports", Permissions: []string{"reports:read"}},
	{Name: "editor", Description: "writes articles", Permissions: []string{"articles:write"}},
	{Name: "admin", Description: "manages articles and users",
		Permissions: []string{"articles:delete", "articles:write", "users:delete"}},
}

// newServer wires Gatehouse over db and mounts the article routes next to
// httpapi's. secret signs the access tokens: at least 32 bytes. The tests
// call it too, with a cheap hasher.
func newServer(ctx context.Context, db *sqlite.DB, hasher gatehouse.Hasher, secret []byte) (http.Handler, error) {
	users := sqlite.NewUserStore(db)
	roleStore := sqlite.NewRoleStore(db)
	if err := seedRoles(ctx, roleStore); err != nil {
		return nil, err
	}

	key, err := jwt.HMACKey(secret)
	if err != nil {
		return nil, err
	}
	tokens, err := jwt.New(jwt.Config{Key: key, Revocations: sqlite.NewRevocations(db)})
	if err != nil {
		return nil, err
	}
	auth, err := gatehouse.NewAuthenticator(users,
		gatehouse.Backend{Name: "jwt", Transport: &bearer.Transport{}, Strategy: tokens})
	if err != nil {
		return nil, err
	}
	manager := &gatehouse.Manager{Users: users, Hasher: hasher, Passwords: password.Policy{}}
	api, err := httpapi.New(httpapi.Config{Manager: manager, Authenticator: auth, Roles: roleStore})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/", api)
	s := &service{
		auth:     auth,
		authz:    &authz.Resolver{Roles: roleStore},
		manager:  manager,
		articles: &articleStore{},
	}
	s.register(mux)
	return mux, nil
}

func seedRoles(ctx context.Context, store gatehouse.RoleStore) error {
	for _, r := range roles {
		err := store.CreateRole(ctx, r)
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			_, err = store.UpdateRole(ctx, r.Name,
				gatehouse.RoleUpdate{Description: &r.Description, Permissions: &r.Permissions})
		}
		if err != nil {
			return fmt.Errorf("articles: seed role %s: %w", r.Name, err)
		}
	}
	return nil
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
