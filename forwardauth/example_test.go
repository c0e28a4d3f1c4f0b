package forwardauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/forwardauth"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/sqlite"
)

// The endpoint is mounted at GET /auth/forward. A proxy sends it the
// client's headers and describes the original request; here the requests
// are built by hand as nginx builds them.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "forwardauth-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	users, roles := sqlite.NewUserStore(db), sqlite.NewRoleStore(db)
	key, _ := jwt.HMACKey([]byte("an example secret of at least 32 bytes"))
	tokens, _ := jwt.New(jwt.Config{Key: key, Revocations: sqlite.NewRevocations(db)})
	authn, err := gatehouse.NewAuthenticator(users,
		gatehouse.Backend{Name: "jwt", Transport: bearer.Transport{}, Strategy: tokens})
	if err != nil {
		log.Fatal(err)
	}

	// Staff may read /docs/; nobody else gets anywhere.
	docs, err := authz.CompileCEL("docs",
		`action == "forward" && resource.path.startsWith("/docs/") && "docs:read" in user.permissions`)
	if err != nil {
		log.Fatal(err)
	}
	h, err := forwardauth.New(forwardauth.Config{
		Authenticator: authn,
		Requirement:   gatehouse.Requirement{Verified: true},
		Roles:         roles,
		Policies:      authz.CELPolicies{docs},
		LoginURL:      "https://app.example.com/login",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /auth/forward", h)

	alice := &gatehouse.User{Email: "alice@example.com", IsActive: true, IsVerified: true}
	users.CreateUser(ctx, alice)
	roles.CreateRole(ctx, gatehouse.Role{Name: "staff", Permissions: []string{"docs:read"}})
	roles.SetUserRoles(ctx, alice.ID, []string{"staff"})
	tok, _ := tokens.Write(ctx, alice, gatehouse.ID{})

	for _, c := range []struct{ uri, authorization string }{
		{"/docs/intro", ""},
		{"/docs/intro", "Bearer " + tok.AccessToken},
		{"/admin/", "Bearer " + tok.AccessToken},
	} {
		r := httptest.NewRequest("GET", "/auth/forward", nil)
		r.Header.Set("X-Forwarded-Method", "GET")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.example.com")
		r.Header.Set("X-Forwarded-Uri", c.uri)
		r.Header.Set("Accept", "text/html")
		if c.authorization != "" {
			r.Header.Set("Authorization", c.authorization)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Printf("%s: %d email=%q roles=%q location=%q body=%s\n", c.uri, w.Code,
			w.Header().Get(forwardauth.HeaderUserEmail), w.Header().Get(forwardauth.HeaderUserRoles),
			w.Header().Get("Location"), w.Body)
	}
	// Output:
	// /docs/intro: 401 email="" roles="" location="https://app.example.com/login?next=https%3A%2F%2Fapp.example.com%2Fdocs%2Fintro" body={"detail":"Unauthorized"}
	// /docs/intro: 200 email="alice@example.com" roles="staff" location="" body=
	// /admin/: 403 email="" roles="" location="" body={"detail":"Forbidden"}
}
