package swaggerui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/swaggerui"
)

// The reference is mounted next to the OpenAPI document it shows. A browser
// opening /docs loads the page's script and stylesheet from /docs/… and the
// document from /openapi.json.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"openapi":"3.1.0","info":{"title":"Example","version":"1"},"paths":{}}`)
	})
	docs := swaggerui.Handler(swaggerui.Config{SpecURL: "/openapi.json", Title: "Example API"})
	mux.Handle("/docs", docs)
	mux.Handle("/docs/", docs)

	for _, path := range []string{"/docs", "/docs/swagger-ui-bundle.js", "/docs/init.js"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// /docs 200 text/html; charset=utf-8
	// /docs/swagger-ui-bundle.js 200 text/javascript; charset=utf-8
	// /docs/init.js 200 text/javascript; charset=utf-8
}
