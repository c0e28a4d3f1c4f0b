package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/httpapi"
)

func TestRecover(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	recoverer := httpapi.Recover(slog.New(slog.NewTextHandler(&logs, nil)))
	h := recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Leak", "1")
		panic("boom: secret detail")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || rec.Body.String() != `{"detail":"Internal Server Error"}` {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Leak") != "" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", rec.Header())
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "/x") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}

	// A handler that started its answer keeps it.
	h = recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late")
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusAccepted {
		t.Errorf("got %d", rec.Code)
	}

	// http.ErrAbortHandler passes through.
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
