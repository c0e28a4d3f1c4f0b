package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse/gatehouse/metrics"
)

// A server counts the requests its ServeMux answers and serves the counts
// at /metrics, along with the Go runtime's and the process's own metrics.
// With an Authenticator and a Manager it would also call
// auth.SetObserver(m.ObserveToken) and set manager.Hasher = m.Hasher(hasher).
func Example() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/jwt/login", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"detail":"LOGIN_BAD_CREDENTIALS"}`, http.StatusBadRequest)
	})
	mux.Handle("GET /metrics", metrics.Handler(reg))
	srv := m.Middleware(mux)

	srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/auth/jwt/login", nil))
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "gatehouse_http_requests_total") || strings.HasPrefix(line, "gatehouse_logins_total") {
			fmt.Print(line)
		}
	}
	// Output:
	// gatehouse_http_requests_total{method="POST",route="/auth/jwt/login",status="400"} 1
	// gatehouse_logins_total{backend="jwt",outcome="failure"} 1
}
