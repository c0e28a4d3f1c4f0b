// Command library shows Gatehouse used as a library in a plain net/http
// program: the FastAPI Users routes plus one route of the program's own
// that only logged-in users reach. README.md shows the same code.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
)

func main() {
	db, err := sqlite.Open("app.db")
	check(err)
	_, err = db.Migrate(context.Background())
	check(err)
	users := sqlite.NewUserStore(db)

	key, err := jwt.HMACKey([]byte(os.Getenv("APP_SECRET"))) // at least 32 random bytes
	check(err)
	tokens, err := jwt.New(jwt.Config{Key: key, Revocations: sqlite.NewRevocations(db)})
	check(err)
	auth, err := gatehouse.NewAuthenticator(users,
		gatehouse.Backend{Name: "jwt", Transport: &bearer.Transport{}, Strategy: tokens})
	check(err)
	manager := &gatehouse.Manager{Users: users, Hasher: &password.Hasher{}, Passwords: password.Policy{}}
	api, err := httpapi.New(httpapi.Config{Manager: manager, Authenticator: auth})
	check(err)

	mux := http.NewServeMux()
	mux.Handle("/", api) // /auth/register, /auth/jwt/login, /users/me, ...
	mux.Handle("GET /hello", auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := gatehouse.UserFrom(r.Context())
		fmt.Fprintf(w, "Hello %s!\n", u.Email)
	})))
	// ReadHeaderTimeout: a client must not hold a connection open by never
	// finishing its headers.
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
