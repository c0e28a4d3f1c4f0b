package httpapi_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
)

// New serves the FastAPI Users routes: here a registration with a password
// that is too short, then one that works.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "httpapi-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
	users := sqlite.NewUserStore(db)
	key, _ := jwt.HMACKey([]byte("an example secret of at least 32 bytes"))
	tokens, _ := jwt.New(jwt.Config{Key: key, Revocations: sqlite.NewRevocations(db)})
	auth, _ := gatehouse.NewAuthenticator(users,
		gatehouse.Backend{Name: "jwt", Transport: bearer.Transport{}, Strategy: tokens})

	api, err := httpapi.New(httpapi.Config{
		Manager:       &gatehouse.Manager{Users: users, Hasher: &password.Hasher{}, Passwords: password.Policy{}},
		Authenticator: auth,
	})
	if err != nil {
		log.Fatal(err)
	}

	for _, body := range []string{
		`{"email":"alice@example.com","password":"short"}`,
		`{"email":"alice@example.com","password":"correct horse battery"}`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/auth/register", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.Split(w.Body.String(), `"id"`)[0])
	}
	// Output:
	// 400 {"detail":{"code":"REGISTER_INVALID_PASSWORD","reason":"Password should be at least 8 characters"}}
	// 201 {
}
