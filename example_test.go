package gatehouse_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
)

// An Authenticator protects a route of a plain net/http program: requests
// without a valid token get 401, the handler finds the user in the context.
func ExampleAuthenticator() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "gatehouse-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	users := sqlite.NewUserStore(db)

	key, _ := jwt.HMACKey([]byte("an example secret of at least 32 bytes"))
	tokens, _ := jwt.New(jwt.Config{Key: key, Revocations: sqlite.NewRevocations(db)})
	auth, err := gatehouse.NewAuthenticator(users,
		gatehouse.Backend{Name: "jwt", Transport: bearer.Transport{}, Strategy: tokens})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /hello", auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := gatehouse.UserFrom(r.Context())
		fmt.Fprintf(w, "Hello %s!", u.Email)
	})))

	// Register a user and issue a token the way the login route does.
	m := &gatehouse.Manager{Users: users, Hasher: &password.Hasher{}, Passwords: password.Policy{}}
	u, err := m.Register(ctx, gatehouse.UserCreate{Email: "alice@example.com", Password: "correct horse battery"})
	if err != nil {
		log.Fatal(err)
	}
	tok, _ := tokens.Write(ctx, u, gatehouse.ID{})

	for _, header := range []string{"", "Bearer " + tok.AccessToken} {
		r := httptest.NewRequest("GET", "/hello", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body)
	}
	// Output:
	// 401 {"detail":"Unauthorized"}
	// 200 Hello alice@example.com!
}
