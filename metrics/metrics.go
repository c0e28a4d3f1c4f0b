// Package metrics exports Prometheus metrics of a Gatehouse server: HTTP
// requests by route, logins by outcome, rate-limit rejections, password
// hashing time and token checks by backend.
//
// Everything is registered on a registry the caller passes to [New]; the
// package keeps no global state and never touches Prometheus's default
// registry, so two servers (or two tests) in one process do not collide.
// [Handler] serves what a prometheus.Gatherer, usually the same registry,
// collects. The Go runtime and process collectors are the caller's choice,
// registered next to ours:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
//	m := metrics.New(reg)
//	auth.SetObserver(m.ObserveToken)           // token checks of a *gatehouse.Authenticator
//	manager.Hasher = m.Hasher(&password.Hasher{}) // before the Manager serves
//	mux.Handle("GET /metrics", metrics.Handler(reg))
//	http.ListenAndServe(addr, m.Middleware(mux))  // directly around the ServeMux
//
// The metrics are:
//
//	gatehouse_http_requests_total{route,method,status}      counter
//	gatehouse_http_request_duration_seconds{route}          histogram
//	gatehouse_logins_total{backend,outcome}                 counter: success, failure, throttled, error
//	gatehouse_rate_limit_rejections_total{route}            counter: 429 answers
//	gatehouse_password_hash_seconds{op}                     histogram: hash, verify
//	gatehouse_token_verifications_total{backend,outcome}    counter: valid, invalid, unavailable
//
// Every label value comes from configuration (route patterns, backend names)
// or a fixed set, never from the request as sent, so an attacker cannot grow
// the number of series.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse"
)

// unmatched is the route label of a request that no ServeMux pattern
// matched, or whose pattern the middleware could not see (see
// Metrics.Middleware).
const unmatched = "unmatched"

// Metrics holds the collectors registered by New.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	hashing     *prometheus.HistogramVec
	tokenChecks *prometheus.CounterVec
}

// New creates the metrics and registers them on reg. It panics if reg is nil
// or refuses them (they are registered there already): a wiring mistake,
// caught at start-up.
func New(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		panic("metrics: New: nil Registerer")
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by ServeMux route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by ServeMux route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_logins_total",
			Help: "Password logins by backend and outcome (success, failure, throttled, error).",
		}, []string{"backend", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_rate_limit_rejections_total",
			Help: "Requests refused with 429 Too Many Requests, by ServeMux route pattern.",
		}, []string{"route"}),
		hashing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_password_hash_seconds",
			Help:    "Time of successful password hash and verify calls, including any wait for a hashing slot.",
			Buckets: prometheus.DefBuckets,
		}, []string{"op"}),
		tokenChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_verifications_total",
			Help: "Tokens checked while authenticating requests, by backend and outcome (valid, invalid, unavailable).",
		}, []string{"backend", "outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.logins, m.rejections, m.hashing, m.tokenChecks)
	return m
}

// Handler serves the metrics g gathers in the Prometheus exposition format.
// Metrics show traffic and failure rates: serve them on an internal
// listener or behind authentication.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// Middleware counts and times the requests next answers. Wrap the
// http.ServeMux directly (or through middlewares that pass the *Request
// they are given on, unchanged): the route label is the pattern the mux
// matched, which it records in that *Request. A middleware in between that
// calls r.WithContext hands the mux a copy, and those requests are labelled
// "unmatched", like requests no pattern matched; the raw URL path is never a
// label.
//
// A POST to a pattern /auth/NAME/login also counts a login of backend NAME:
// success for 2xx and 3xx answers, throttled for 429, error for 5xx and
// failure for other 4xx. Any 429 answer counts a rate-limit rejection.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		route := unmatched
		if r.Pattern != "" {
			route = r.Pattern
			if _, path, ok := strings.Cut(route, " "); ok {
				route = path // the method is a label of its own
			}
		}
		m.requests.WithLabelValues(route, method(r.Method), strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		if status == http.StatusTooManyRequests {
			m.rejections.WithLabelValues(route).Inc()
		}
		if backend, ok := loginBackend(r.Method, route); ok {
			m.logins.WithLabelValues(backend, loginOutcome(status)).Inc()
		}
	})
}

// loginBackend returns NAME for a POST matched by the pattern
// /auth/NAME/login. NAME is the pattern's text, so a wildcard pattern
// yields "{name}": labels stay bounded by the registered routes.
func loginBackend(method, route string) (string, bool) {
	if method != http.MethodPost {
		return "", false
	}
	name, ok := strings.CutPrefix(route, "/auth/")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, "/login")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

func loginOutcome(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "throttled"
	case status >= 500:
		return "error"
	case status >= 400:
		return "failure"
	}
	return "success"
}

// method bounds the method label: anything but the standard methods is
// "other".
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// recorder remembers the status of the answer.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	// 1xx answers are interim (except 101, which switches protocols).
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush keeps streaming answers streaming through the middleware.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	// http.Flusher has no error to return; a writer that cannot flush
	// simply does not.
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer's other abilities
// (Hijack, deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ObserveToken counts one token check. Pass it to
// gatehouse.Authenticator.SetObserver.
func (m *Metrics) ObserveToken(backend, outcome string) {
	m.tokenChecks.WithLabelValues(backend, outcome).Inc()
}

// Hasher returns h timed: each successful Hash and Verify call is observed
// in gatehouse_password_hash_seconds. Failed calls (a canceled wait, an
// unknown hash format) are not, since they say nothing about hashing cost.
func (m *Metrics) Hasher(h gatehouse.Hasher) gatehouse.Hasher {
	return &hasher{next: h, hash: m.hashing.WithLabelValues("hash"), verify: m.hashing.WithLabelValues("verify")}
}

type hasher struct {
	next         gatehouse.Hasher
	hash, verify prometheus.Observer
}

func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	start := time.Now()
	encoded, err := h.next.Hash(ctx, password)
	if err == nil {
		h.hash.Observe(time.Since(start).Seconds())
	}
	return encoded, err
}

func (h *hasher) Verify(ctx context.Context, password, hash string) (bool, string, error) {
	start := time.Now()
	ok, rehash, err := h.next.Verify(ctx, password, hash)
	if err == nil {
		h.verify.Observe(time.Since(start).Seconds())
	}
	return ok, rehash, err
}
