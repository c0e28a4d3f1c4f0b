package pages_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/pages"
)

// Handler is mounted beside the API (here a stand-in for httpapi.New's
// handler), on the paths the links in the mails open and the page's own
// script and stylesheet.
func ExampleHandler() {
	api := http.NotFoundHandler() // httpapi.New(...) in a real program
	p := pages.Handler(pages.Config{AppName: "Example"})

	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("GET /verify", p)
	mux.Handle("GET /reset-password", p)
	mux.Handle("GET /pages/", p)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/reset-password?token=abc", nil))
	fmt.Println(rec.Code, rec.Header().Get("Referrer-Policy"), rec.Header().Get("Cache-Control"))
	// Output: 200 no-referrer no-store
}
