package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/97 {
		i := bucket(v)
		if i < prev {
			t.Fatalf("bucket(%d) = %d, below bucket of a smaller value (%d)", v, i, prev)
		}
		prev = i
		hi := bucketHigh(i)
		if hi < v {
			t.Fatalf("bucketHigh(bucket(%d)) = %d, below the value", v, hi)
		}
		if hi-v > v/128 {
			t.Fatalf("bucket of %d reaches %d: wider than 1/128 of the value", v, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Fatalf("%d also fits the bucket below (up to %d)", v, bucketHigh(i-1))
		}
	}
	if got := bucket(1 << 62); got != histBuckets-1 {
		t.Errorf("bucket(2^62) = %d, want the last bucket %d", got, histBuckets-1)
	}
}

func TestHistogramPercentile(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		var h histogram
		if got := h.Percentile(99); got != 0 {
			t.Errorf("Percentile(99) = %v, want 0", got)
		}
	})
	t.Run("Exact", func(t *testing.T) {
		// Below 256µs every microsecond has a bucket of its own.
		var h histogram
		for v := 1; v <= 200; v++ {
			h.Record(time.Duration(v) * time.Microsecond)
		}
		for _, tc := range []struct {
			p    float64
			want time.Duration
		}{{0, 1 * time.Microsecond}, {50, 100 * time.Microsecond}, {99, 198 * time.Microsecond}, {100, 200 * time.Microsecond}} {
			if got := h.Percentile(tc.p); got != tc.want {
				t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		}
	})
	t.Run("Wide", func(t *testing.T) {
		// 1ms..100ms in 10µs steps, recorded by two workers and merged.
		var a, b histogram
		n := 0
		for v := time.Millisecond; v <= 100*time.Millisecond; v += 10 * time.Microsecond {
			if n%2 == 0 {
				a.Record(v)
			} else {
				b.Record(v)
			}
			n++
		}
		a.Merge(&b)
		if a.Count() != n {
			t.Fatalf("Count = %d, want %d", a.Count(), n)
		}
		for _, tc := range []struct {
			p    float64
			want time.Duration
		}{{50, 50500 * time.Microsecond}, {99, 99010 * time.Microsecond}} {
			got := a.Percentile(tc.p)
			if got < tc.want || got > tc.want+tc.want/128 {
				t.Errorf("Percentile(%v) = %v, want %v within 1/128", tc.p, got, tc.want)
			}
		}
	})
	t.Run("Negative", func(t *testing.T) {
		var h histogram
		h.Record(-time.Second)
		if got := h.Percentile(50); got != 0 {
			t.Errorf("Percentile(50) = %v, want 0", got)
		}
	})
}

const wrkOutput = `Running 10m test @ http://127.0.0.1:43127/users/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.53ms    3.10ms  45.20ms   80.10%
    Req/Sec     4.90k   320.11     5.31k    70.00%
  Latency Distribution
     50%    5.53ms
     75%    7.01ms
     90%    9.80ms
     99%    1.20s
  50012 requests in 10.25s, 12.31MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:   4879.22
Transfer/sec:      1.20MB
bench non-2xx: 9
`

func TestParseWrk(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, err := parseWrk(wrkOutput)
		if err != nil {
			t.Fatal(err)
		}
		want := Stats{Requests: 50012, Non2xx: 9, Errors: 10, Elapsed: 10250 * time.Millisecond,
			P50: 5530 * time.Microsecond, P99: 1200 * time.Millisecond}
		if s != want {
			t.Errorf("parseWrk = %+v, want %+v", s, want)
		}
	})
	t.Run("Units", func(t *testing.T) {
		for _, tc := range []struct {
			in   string
			want time.Duration
		}{{"812.00us", 812 * time.Microsecond}, {"2.50m", 150 * time.Second}, {"1h", time.Hour}} {
			out := strings.Replace(wrkOutput, "     50%    5.53ms", "     50%    "+tc.in, 1)
			s, err := parseWrk(out)
			if err != nil {
				t.Fatal(err)
			}
			if s.P50 != tc.want {
				t.Errorf("p50 %q = %v, want %v", tc.in, s.P50, tc.want)
			}
		}
	})
	t.Run("ErrIncomplete", func(t *testing.T) {
		for _, drop := range []string{"     99%    1.20s\n", "bench non-2xx: 9\n", "  50012 requests in 10.25s, 12.31MB read\n"} {
			if _, err := parseWrk(strings.Replace(wrkOutput, drop, "", 1)); err == nil {
				t.Errorf("without %q: no error", strings.TrimSpace(drop))
			}
		}
	})
}

func TestWrkScript(t *testing.T) {
	s := wrkScript(Load{Method: "POST", Body: []byte("a=\"b\"\n"), Requests: 640,
		Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {`Bearer x\y`}}})
	for _, want := range []string{
		`wrk.method = "POST"`,
		`wrk.body = "a=\"b\"\010"`,
		`wrk.headers["Authorization"] = "Bearer x\\y"`,
		`wrk.headers["Content-Type"] = "application/json"`,
		"local limit = 640",
		`io.write("` + wrkStopped + `\n")`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %s:\n%s", want, s)
		}
	}
}

// server counts what the generators do to it: every tenth request gets a
// 503, and no more than one connection per worker may be opened.
type server struct {
	*httptest.Server
	requests, conns atomic.Int64
	inFlight, peak  atomic.Int64
	mu              sync.Mutex
	bodies          map[string]int
}

func newServer(t *testing.T) *server {
	s := &server{bodies: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies[r.Method+" "+r.Header.Get("X-Test")+" "+string(body)]++
		s.mu.Unlock()
		if s.requests.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestGoGen(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		srv := newServer(t)
		l := Load{Method: "POST", URL: srv.URL + "/x", Body: []byte("payload"),
			Header: http.Header{"X-Test": {"yes"}}, Requests: 500, Concurrency: 8}
		s, err := goGen{}.Run(context.Background(), l)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 500 || s.Non2xx != 50 || s.Errors != 0 {
			t.Errorf("requests, non-2xx, errors = %d, %d, %d; want 500, 50, 0", s.Requests, s.Non2xx, s.Errors)
		}
		if got := srv.requests.Load(); got != 500 {
			t.Errorf("server saw %d requests, want 500", got)
		}
		if got := srv.bodies["POST yes payload"]; got != 500 {
			t.Errorf("%d requests had the method, header and body, want 500: %v", got, srv.bodies)
		}
		if got := srv.conns.Load(); got > 8 {
			t.Errorf("%d connections, want at most 8 (keep-alive)", got)
		}
		if got := srv.peak.Load(); got > 8 {
			t.Errorf("%d requests in flight at once, want at most 8", got)
		}
		if s.P50 <= 0 || s.P99 < s.P50 || s.Elapsed <= 0 || s.RPS() <= 0 {
			t.Errorf("implausible stats %+v", s)
		}
	})
	t.Run("MoreWorkersThanRequests", func(t *testing.T) {
		srv := newServer(t)
		s, err := goGen{}.Run(context.Background(), Load{Method: "GET", URL: srv.URL, Requests: 3, Concurrency: 32})
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests != 3 || srv.requests.Load() != 3 {
			t.Errorf("%d answers, server saw %d; want 3", s.Requests, srv.requests.Load())
		}
	})
	t.Run("ErrNoServer", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		s, err := goGen{}.Run(context.Background(), Load{Method: "GET", URL: srv.URL, Requests: 5, Concurrency: 2})
		if err == nil {
			t.Fatal("no error")
		}
		if s.Errors != 5 {
			t.Errorf("%d errors, want 5", s.Errors)
		}
	})
	t.Run("ErrNoBudget", func(t *testing.T) {
		if _, err := (goGen{}).Run(context.Background(), Load{Method: "GET", URL: "http://127.0.0.1:1"}); err == nil {
			t.Fatal("no error")
		}
	})
}

// TestWrkGen runs the real wrk, if installed, against a test server.
func TestWrkGen(t *testing.T) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed")
	}
	srv := newServer(t)
	l := Load{Method: "POST", URL: srv.URL + "/x", Body: []byte("payload"),
		Header: http.Header{"X-Test": {"yes"}}, Requests: 300, Concurrency: 4}
	s, err := wrkGen{path: path, dir: t.TempDir()}.Run(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	// wrk stops after the 300th answer; answers already read in the same
	// turn of its event loop still count.
	if s.Requests < 300 || s.Requests > 300+4 {
		t.Errorf("%d answers, want 300 (+ at most one per connection)", s.Requests)
	}
	// Every tenth request the server saw got a 503; a few of those may
	// have been in flight when wrk stopped.
	if lo, hi := s.Requests/10-4, int(srv.requests.Load())/10; s.Non2xx < lo || s.Non2xx > hi {
		t.Errorf("%d answers outside 2xx, want %d to %d", s.Non2xx, lo, hi)
	}
	srv.mu.Lock()
	if got := srv.bodies["POST yes payload"]; got < s.Requests || len(srv.bodies) != 1 {
		t.Errorf("requests seen: %v, want %d or more with the method, header and body", srv.bodies, s.Requests)
	}
	srv.mu.Unlock()
	// wrk opens one more connection at start, to pick a working address.
	if got := srv.conns.Load(); got > 4+1 {
		t.Errorf("%d connections, want at most 4 (+1)", got)
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\tgatehouse\nVmPeak:\t 1290476 kB\nVmHWM:\t  135000 kB\nVmRSS:\t  120000 kB\nThreads:\t8\n"
	rss, hwm, err := parseStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 120000<<10 || hwm != 135000<<10 {
		t.Errorf("rss, hwm = %d, %d", rss, hwm)
	}
	if _, _, err := parseStatus("Name:\tx\nVmRSS:\t 1 kB\n"); err == nil {
		t.Error("no VmHWM: no error")
	}
	if _, _, err := parseStatus("VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n"); err == nil {
		t.Error("unit MB: no error")
	}
}

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		filter, name string
		want         bool
	}{
		{"", "login", true},
		{"jwt", "jwt-eddsa", true},
		{"db-postgres, login", "login", true},
		{"db-postgres,login", "db-sqlite", false},
		{"jwt-hs256", "jwt-hs256-forward", true},
		{"redis", "jwt-hs256", false},
	} {
		if got := selected(tc.filter, tc.name); got != tc.want {
			t.Errorf("selected(%q, %q) = %v, want %v", tc.filter, tc.name, got, tc.want)
		}
	}
}

func TestConfigs(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range configs() {
		for _, sc := range c.scenarios {
			if seen[sc.name] {
				t.Errorf("scenario %s twice", sc.name)
			}
			seen[sc.name] = true
			l := sc.load(&session{url: "http://h", token: "t", apiKey: "k"})
			if !strings.HasPrefix(l.URL, "http://h/") || l.Method == "" {
				t.Errorf("%s: load %+v", sc.name, l)
			}
		}
	}
}
