package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/metrics"
)

// scrape returns the sample lines of the named metric family that the
// /metrics handler serves, sorted. For a histogram, pass NAME_count.
func scrape(t *testing.T, reg *prometheus.Registry, name string) []string {
	t.Helper()
	w := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	var lines []string
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
	}
	slices.Sort(lines)
	return lines
}

// answer is a handler that answers with the status the request's X-Status
// header names ("none" writes nothing, "body" only a body).
var answer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch s := r.Header.Get("X-Status"); s {
	case "none":
	case "body":
		w.Write([]byte("hello"))
	default:
		code, _ := strconv.Atoi(s)
		w.WriteHeader(code)
	}
})

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, pattern := range []string{"GET /users/me", "GET /users/{id}", "POST /auth/jwt/login", "POST /auth/cookie/login", "POST /auth/jwt/logout", "POST /auth/{name}/login/extra"} {
		mux.Handle(pattern, answer)
	}
	return mux
}

// sameRequest is a middleware that passes the request on unchanged;
// newContext replaces it, as chi's and many others do.
func sameRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(w, r) })
}

type ctxKey struct{}

func newContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, 1)))
	})
}

type request struct{ method, path, status string }

func TestMiddleware(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		inner      func(http.Handler) http.Handler // between the middleware and the mux
		requests   []request
		want       []string // gatehouse_http_requests_total
		durations  []string // gatehouse_http_request_duration_seconds_count
		logins     []string // gatehouse_logins_total
		rejections []string // gatehouse_rate_limit_rejections_total
	}{{
		name:      "routes are patterns, not paths",
		requests:  []request{{"GET", "/users/me", "200"}, {"GET", "/users/123", "200"}, {"GET", "/users/456", "404"}, {"HEAD", "/users/789", "200"}},
		want:      []string{`gatehouse_http_requests_total{method="GET",route="/users/me",status="200"} 1`, `gatehouse_http_requests_total{method="GET",route="/users/{id}",status="200"} 1`, `gatehouse_http_requests_total{method="GET",route="/users/{id}",status="404"} 1`, `gatehouse_http_requests_total{method="HEAD",route="/users/{id}",status="200"} 1`},
		durations: []string{`gatehouse_http_request_duration_seconds_count{route="/users/me"} 1`, `gatehouse_http_request_duration_seconds_count{route="/users/{id}"} 3`},
	}, {
		name:      "no pattern matched",
		requests:  []request{{"GET", "/nope/secret-token", ""}, {"DELETE", "/users/me", ""}, {"BREW", "/users/me", ""}},
		want:      []string{`gatehouse_http_requests_total{method="DELETE",route="unmatched",status="405"} 1`, `gatehouse_http_requests_total{method="GET",route="unmatched",status="404"} 1`, `gatehouse_http_requests_total{method="other",route="unmatched",status="405"} 1`},
		durations: []string{`gatehouse_http_request_duration_seconds_count{route="unmatched"} 3`},
	}, {
		name:     "implicit 200",
		requests: []request{{"GET", "/users/me", "none"}, {"GET", "/users/me", "body"}},
		want:     []string{`gatehouse_http_requests_total{method="GET",route="/users/me",status="200"} 2`},
	}, {
		name:     "a middleware passing the request on keeps the pattern",
		inner:    sameRequest,
		requests: []request{{"GET", "/users/1", "200"}},
		want:     []string{`gatehouse_http_requests_total{method="GET",route="/users/{id}",status="200"} 1`},
	}, {
		name:     "a middleware replacing the request hides it",
		inner:    newContext,
		requests: []request{{"GET", "/users/1", "200"}, {"POST", "/auth/jwt/login", "200"}},
		want:     []string{`gatehouse_http_requests_total{method="GET",route="unmatched",status="200"} 1`, `gatehouse_http_requests_total{method="POST",route="unmatched",status="200"} 1`},
	}, {
		name: "logins by outcome",
		requests: []request{
			{"POST", "/auth/jwt/login", "200"}, {"POST", "/auth/jwt/login", "400"}, {"POST", "/auth/jwt/login", "400"},
			{"POST", "/auth/jwt/login", "429"}, {"POST", "/auth/jwt/login", "503"}, {"POST", "/auth/cookie/login", "204"},
			{"POST", "/auth/cookie/login", "422"}, {"POST", "/auth/jwt/logout", "204"}, {"POST", "/auth/x/login/extra", "200"},
			{"GET", "/auth/jwt/login", ""},
		},
		want: []string{
			`gatehouse_http_requests_total{method="GET",route="unmatched",status="405"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/cookie/login",status="204"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/cookie/login",status="422"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/jwt/login",status="200"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/jwt/login",status="400"} 2`,
			`gatehouse_http_requests_total{method="POST",route="/auth/jwt/login",status="429"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/jwt/login",status="503"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/jwt/logout",status="204"} 1`,
			`gatehouse_http_requests_total{method="POST",route="/auth/{name}/login/extra",status="200"} 1`,
		},
		logins: []string{
			`gatehouse_logins_total{backend="cookie",outcome="failure"} 1`,
			`gatehouse_logins_total{backend="cookie",outcome="success"} 1`,
			`gatehouse_logins_total{backend="jwt",outcome="error"} 1`,
			`gatehouse_logins_total{backend="jwt",outcome="failure"} 2`,
			`gatehouse_logins_total{backend="jwt",outcome="success"} 1`,
			`gatehouse_logins_total{backend="jwt",outcome="throttled"} 1`,
		},
		rejections: []string{`gatehouse_rate_limit_rejections_total{route="/auth/jwt/login"} 1`},
	}, {
		name:       "rate-limit rejections on any route",
		requests:   []request{{"GET", "/users/me", "429"}, {"GET", "/users/me", "429"}, {"GET", "/users/2", "429"}, {"GET", "/users/me", "200"}},
		want:       []string{`gatehouse_http_requests_total{method="GET",route="/users/me",status="200"} 1`, `gatehouse_http_requests_total{method="GET",route="/users/me",status="429"} 2`, `gatehouse_http_requests_total{method="GET",route="/users/{id}",status="429"} 1`},
		rejections: []string{`gatehouse_rate_limit_rejections_total{route="/users/me"} 2`, `gatehouse_rate_limit_rejections_total{route="/users/{id}"} 1`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			m := metrics.New(reg)
			var h http.Handler = newMux()
			if tc.inner != nil {
				h = tc.inner(h)
			}
			h = m.Middleware(h)
			for _, req := range tc.requests {
				r := httptest.NewRequest(req.method, req.path, nil)
				r.Header.Set("X-Status", req.status)
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
			for _, check := range []struct {
				name string
				want []string
			}{
				{"gatehouse_http_requests_total", tc.want},
				{"gatehouse_http_request_duration_seconds_count", tc.durations},
				{"gatehouse_logins_total", tc.logins},
				{"gatehouse_rate_limit_rejections_total", tc.rejections},
			} {
				if check.want == nil && check.name == "gatehouse_http_request_duration_seconds_count" {
					continue // not asserted by this case
				}
				if got := scrape(t, reg, check.name); !slices.Equal(got, check.want) {
					t.Errorf("%s:\n got %q\nwant %q", check.name, got, check.want)
				}
			}
		})
	}
}

// The recorder keeps the writer's other abilities reachable.
func TestMiddlewareKeepsFlush(t *testing.T) {
	t.Parallel()
	m := metrics.New(prometheus.NewRegistry())
	w := httptest.NewRecorder()
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if !w.Flushed {
		t.Error("not flushed")
	}
}

func TestObserveToken(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	for _, o := range []struct{ backend, outcome string }{
		{"jwt", gatehouse.TokenValid}, {"jwt", gatehouse.TokenValid}, {"jwt", gatehouse.TokenInvalid},
		{"apikey", gatehouse.TokenUnavailable},
	} {
		m.ObserveToken(o.backend, o.outcome)
	}
	want := []string{
		`gatehouse_token_verifications_total{backend="apikey",outcome="unavailable"} 1`,
		`gatehouse_token_verifications_total{backend="jwt",outcome="invalid"} 1`,
		`gatehouse_token_verifications_total{backend="jwt",outcome="valid"} 2`,
	}
	if got := scrape(t, reg, "gatehouse_token_verifications_total"); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// fakeHasher answers with the funcs it holds.
type fakeHasher struct {
	hash   func(password string) (string, error)
	verify func(password, hash string) (bool, string, error)
}

func (f fakeHasher) Hash(_ context.Context, password string) (string, error) {
	return f.hash(password)
}
func (f fakeHasher) Verify(_ context.Context, password, hash string) (bool, string, error) {
	return f.verify(password, hash)
}

func TestHasher(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	errCanceled := errors.New("canceled")
	h := m.Hasher(fakeHasher{
		hash: func(pw string) (string, error) {
			if pw == "" {
				return "", errCanceled
			}
			return "$h$" + pw, nil
		},
		verify: func(pw, hash string) (bool, string, error) {
			if hash == "junk" {
				return false, "", errCanceled
			}
			return hash == "$h$"+pw, "new", nil
		},
	})
	ctx := context.Background()
	if got, err := h.Hash(ctx, "pw"); got != "$h$pw" || err != nil {
		t.Errorf("Hash = %q, %v", got, err)
	}
	if _, err := h.Hash(ctx, ""); err != errCanceled {
		t.Errorf("Hash error = %v", err)
	}
	for _, tc := range []struct {
		hash   string
		ok     bool
		rehash string
		err    error
	}{{"$h$pw", true, "new", nil}, {"$h$other", false, "new", nil}, {"junk", false, "", errCanceled}} {
		ok, rehash, err := h.Verify(ctx, "pw", tc.hash)
		if ok != tc.ok || rehash != tc.rehash || err != tc.err {
			t.Errorf("Verify(%q) = %v, %q, %v", tc.hash, ok, rehash, err)
		}
	}
	want := []string{`gatehouse_password_hash_seconds_count{op="hash"} 1`, `gatehouse_password_hash_seconds_count{op="verify"} 2`}
	if got := scrape(t, reg, "gatehouse_password_hash_seconds_count"); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	for name, reg := range map[string]prometheus.Registerer{"nil": nil, "registered twice": reg} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			metrics.New(reg)
		}()
	}
}

// Two sets of metrics on two registries do not meet: no global state.
func TestRegistriesAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := prometheus.NewRegistry(), prometheus.NewRegistry()
	metrics.New(a).ObserveToken("jwt", gatehouse.TokenValid)
	metrics.New(b)
	if got := scrape(t, b, "gatehouse_token_verifications_total"); len(got) != 0 {
		t.Errorf("b sees %q", got)
	}
}
