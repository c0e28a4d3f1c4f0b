package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gatehouse/gatehouse"
)

// Recover returns middleware that answers a request whose handler panicked
// with a generic 500 and logs the panic with its stack: one bad request
// never takes the process down, and the client learns nothing about it.
// A handler that already started its answer keeps it. http.ErrAbortHandler
// passes through, as net/http expects.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &headerWatcher{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !rw.wrote {
					clear(w.Header()) // drop whatever the handler had set
					gatehouse.WriteError(w, &gatehouse.Error{Code: gatehouse.CodeInternal})
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// headerWatcher notes whether the response was started.
type headerWatcher struct {
	http.ResponseWriter
	wrote bool
}

func (w *headerWatcher) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWatcher) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *headerWatcher) Unwrap() http.ResponseWriter { return w.ResponseWriter }
