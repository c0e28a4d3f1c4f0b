package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// contract is the OpenAPI document an API handler serves, ready to check
// that handler's answers against.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

// loadContract fetches GET /openapi.json from h, and fails t unless it is
// a valid OpenAPI document.
func loadContract(t testing.TB, h http.Handler) *contract {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{doc, router}
}

// wrap returns h with every answer checked against the document: status
// (an undocumented one is a failure), headers and body. Requests that no
// route takes must get the JSON 404 or 405 of the fallback.
func (c *contract) wrap(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &captureWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if err := c.check(r, cw.status(), cw.Header(), cw.body.Bytes()); err != nil {
			t.Errorf("%s %s answered %d %s: %v", r.Method, r.URL, cw.status(), cw.body.String(), err)
		}
	})
}

// check checks one answer. The mux records the pattern it routed r by in
// r.Pattern; the document's router must find the same operation.
func (c *contract) check(r *http.Request, status int, header http.Header, body []byte) error {
	switch {
	case r.Method == http.MethodHead:
		return nil // no body to check; the GET is documented
	case r.Pattern == "":
		// The mux redirected a path that needed cleaning.
		if status != http.StatusMovedPermanently && status != http.StatusTemporaryRedirect && status != http.StatusPermanentRedirect {
			return errUnrouted
		}
		return nil
	case r.Pattern == "/":
		var v struct{ Detail string }
		if json.Unmarshal(body, &v) != nil ||
			!(status == http.StatusNotFound && v.Detail == "Not Found" || status == http.StatusMethodNotAllowed && v.Detail == "Method Not Allowed") {
			return errBadFallback
		}
		return nil
	case r.Pattern == "GET /docs/":
		return nil // the reference page's assets, not an API operation
	}
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		return err
	}
	if route.Method+" "+route.Path != r.Pattern {
		return &routeMismatch{r.Pattern, route.Method + " " + route.Path}
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

type checkError string

func (e checkError) Error() string { return string(e) }

const (
	errUnrouted    checkError = "no pattern took the request, yet it was not redirected"
	errBadFallback checkError = `the fallback must answer 404 {"detail":"Not Found"} or 405 {"detail":"Method Not Allowed"}`
)

type routeMismatch struct{ mux, doc string }

func (e *routeMismatch) Error() string {
	return "the mux routed by " + e.mux + " but the document's router found " + e.doc
}

// captureWriter keeps a copy of the answer while passing it on.
type captureWriter struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (w *captureWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// operations lists the document's operations as mux patterns.
func (c *contract) operations() []string {
	var ops []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	return ops
}

// fill replaces a path template's parameters with a value.
func fill(path string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return b.String() + path
		}
		j := strings.IndexByte(path[i:], '}')
		b.WriteString(path[:i] + "00000000-0000-4000-8000-000000000000")
		path = path[i+j+1:]
	}
}
