package pages_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/pages"
)

// Handler is mounted beside the API on each of its patterns. Here a
// stand-in answers for the API (httpapi.New in a real program) that nobody
// is logged in, so the account page sends the browser to log in first.
func ExampleHandler() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"detail":"Unauthorized"}`)
	})
	cfg := pages.Config{
		API:           api,
		CookieBackend: "cookie",
		CSRFKey:       []byte("derive me from the server's secret with HKDF"),
		AppName:       "Example",
	}
	p := pages.Handler(cfg)
	mux := http.NewServeMux()
	for _, pattern := range pages.Patterns(cfg) {
		mux.Handle(pattern, p)
	}
	mux.Handle("/", api)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/account", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output: 303 /login?next=%2Faccount
}
