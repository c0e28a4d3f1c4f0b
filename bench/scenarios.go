package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/password"
)

// The account every scenario authenticates as.
const (
	benchEmail    = "load@example.com"
	benchPassword = "Tr0ub4dor&3-horse" // #nosec G101 -- the password of a throwaway account in a throwaway database
)

// A scenario is one kind of request, measured against the server of its
// config.
type scenario struct {
	name    string
	request string // what is sent, for the table: "GET /users/me"
	apiKey  bool   // needs an API key
	login   bool   // the login storm: its own concurrency, the hash ceiling, memory
	load    func(s *session) Load
}

// A config is one way to run the server; its scenarios share one process.
type config struct {
	name      string
	args      []string // flags of gatehouse serve beyond the common ones
	backend   string   // the backend whose login gives the token
	postgres  bool     // needs -postgres-url
	redis     bool     // needs -redis-url
	scenarios []scenario
}

// session is what a scenario needs of a running, seeded server.
type session struct {
	url    string
	token  string // access token of the config's backend
	apiKey string
}

func bearerGet(path string) func(*session) Load {
	return func(s *session) Load {
		return Load{Method: http.MethodGet, URL: s.url + path, Header: http.Header{"Authorization": {"Bearer " + s.token}}}
	}
}

// configs returns every configuration; the database token on PostgreSQL
// and the Redis token are in it only with their URLs.
func configs() []config {
	usersMe := func(name string) scenario {
		return scenario{name: name, request: "GET /users/me", load: bearerGet("/users/me")}
	}
	return []config{
		{name: "jwt-hs256", backend: "jwt", scenarios: []scenario{
			usersMe("jwt-hs256"),
			{name: "jwt-hs256-forward", request: "GET /auth/forward", load: bearerGet("/auth/forward")},
			{name: "jwt-hs256-authorize", request: "POST /authorize", load: func(s *session) Load {
				return Load{Method: http.MethodPost, URL: s.url + "/authorize", Body: []byte(`{"action":"read"}`),
					Header: http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"application/json"}}}
			}},
			{name: "apikey", request: "GET /users/me (X-API-Key)", apiKey: true, load: func(s *session) Load {
				return Load{Method: http.MethodGet, URL: s.url + "/users/me", Header: http.Header{"X-Api-Key": {s.apiKey}}}
			}},
		}},
		{name: "jwt-eddsa", args: []string{"--jwt-algorithm", "EdDSA"}, backend: "jwt", scenarios: []scenario{
			usersMe("jwt-eddsa"),
		}},
		{name: "db-sqlite", args: []string{"--backends", "db=bearer+database"}, backend: "db", scenarios: []scenario{
			usersMe("db-sqlite"),
		}},
		{name: "db-postgres", args: []string{"--backends", "db=bearer+database"}, backend: "db", postgres: true, scenarios: []scenario{
			usersMe("db-postgres"),
		}},
		{name: "redis", args: []string{"--backends", "r=bearer+redis"}, backend: "r", redis: true, scenarios: []scenario{
			usersMe("redis"),
		}},
		// A server of its own, so that its peak memory is the storm's.
		{name: "login", backend: "jwt", scenarios: []scenario{
			{name: "login", request: "POST /auth/jwt/login", login: true, load: func(s *session) Load {
				form := url.Values{"username": {benchEmail}, "password": {benchPassword}}
				return Load{Method: http.MethodPost, URL: s.url + "/auth/jwt/login", Body: []byte(form.Encode()),
					Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
			}},
		}},
	}
}

// selected reports whether name passes the -scenarios filter: empty, or a
// comma list of names or name prefixes ("jwt" picks every jwt-* scenario).
func selected(filter, name string) bool {
	if filter == "" {
		return true
	}
	for f := range strings.SplitSeq(filter, ",") {
		if f = strings.TrimSpace(f); f != "" && strings.HasPrefix(name, f) {
			return true
		}
	}
	return false
}

// runConfig starts the server as cfg says, seeds it and measures scs.
func runConfig(ctx context.Context, o options, gen generator, bin, dir string, cfg config, scs []scenario,
	rep *Report, logf, fail func(string, ...any)) error {
	cfgDir, err := os.MkdirTemp(dir, cfg.name+"-")
	if err != nil {
		return err
	}
	dbURL := ""
	if cfg.postgres {
		u, drop, err := createPostgres(ctx, o.postgresURL)
		if err != nil {
			return err
		}
		defer func() {
			if err := drop(); err != nil {
				fail("%s: drop database: %v", cfg.name, err)
			}
		}()
		dbURL = u
	}
	args := append(serveArgs(cfgDir, dbURL), cfg.args...)
	if cfg.redis {
		prefix, cleanup, err := redisPrefix(o.redisURL)
		if err != nil {
			return err
		}
		defer func() {
			if err := cleanup(); err != nil {
				fail("%s: delete Redis keys: %v", cfg.name, err)
			}
		}()
		args = append(args, "--redis-url", o.redisURL, "--redis-prefix", prefix)
	}

	var ceiling float64
	var goroutines int
	for _, sc := range scs {
		if sc.login {
			// Measured before the server starts, while nothing else runs.
			logf("%s: hash ceiling (%d checks)", cfg.name, o.ceilingHashes)
			if ceiling, goroutines, err = hashCeiling(ctx, o.ceilingHashes); err != nil {
				return err
			}
		}
	}

	logf("%s: starting the server", cfg.name)
	srv, err := startChild(ctx, bin, args, []string{"GATEHOUSE_SECRET=" + benchSecret}, cfgDir)
	if err != nil {
		return err
	}
	defer srv.stop()
	needKey := false
	for _, sc := range scs {
		needKey = needKey || sc.apiKey
	}
	sess, err := seed(ctx, srv.URL, cfg.backend, needKey)
	if err != nil {
		return fmt.Errorf("seed: %w\n%s", err, srv.log())
	}

	for _, sc := range scs {
		l := sc.load(sess)
		l.Requests, l.Concurrency = o.requests, o.concurrency
		if sc.login {
			l.Requests, l.Concurrency = o.loginRequests, o.loginConcurrency
		}
		if err := check(ctx, l); err != nil {
			fail("%s: %v", sc.name, err)
			continue
		}
		var (
			st     Stats
			mem    memory
			memErr error
		)
		if sc.login {
			stopSampling := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				mem, memErr = sampleMemory(srv.pid(), 20*time.Millisecond, stopSampling)
				close(sampled)
			}()
			st, err = gen.Run(ctx, l)
			close(stopSampling)
			<-sampled
		} else {
			st, err = measure(ctx, gen, l)
		}
		if err != nil {
			fail("%s: %v", sc.name, err)
			continue
		}
		r := newResult(sc.name, sc.request, l.Concurrency, st)
		if rep.BareRPS > 0 && !sc.login {
			r.Ratio = r.RPS / rep.BareRPS
		}
		rep.Results = append(rep.Results, r)
		logf("%s: %.0f req/s, p99 %.2fms", sc.name, r.RPS, r.P99ms)
		if st.Non2xx > 0 || st.Errors > 0 {
			fail("%s: %d answers outside 2xx, %d errors\n%s", sc.name, st.Non2xx, st.Errors, srv.log())
		}
		if sc.login {
			lr := &LoginReport{
				Hasher: "argon2id m=19456 t=2 p=1 (password.DefaultParams)", Goroutines: goroutines,
				CeilingPerSecond: ceiling, LoginsPerSecond: r.RPS, PercentOfCeiling: 100 * r.RPS / ceiling,
				P99ms: r.P99ms, Concurrency: l.Concurrency, CeilingHashesTotal: o.ceilingHashes,
			}
			if memErr != nil {
				lr.MemoryUnavailable = memErr.Error()
			} else {
				lr.Memory = &mem
			}
			rep.Login = lr
		}
	}
	return nil
}

// measure warms the server up with a tenth of the load (at least a round
// per connection, not measured), then measures l.
func measure(ctx context.Context, gen generator, l Load) (Stats, error) {
	warm := l
	warm.Requests = max(l.Requests/10, l.Concurrency)
	if _, err := gen.Run(ctx, warm); err != nil {
		return Stats{}, fmt.Errorf("warm-up: %w", err)
	}
	return gen.Run(ctx, l)
}

// Result is one measured scenario.
type Result struct {
	Scenario    string  `json:"scenario"`
	Request     string  `json:"request"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Non2xx      int     `json:"non_2xx"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"requests_per_second"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Ratio       float64 `json:"ratio_to_bare,omitempty"`
}

func newResult(sc, request string, conc int, st Stats) Result {
	return Result{
		Scenario: sc, Request: request, Concurrency: conc,
		Requests: st.Requests, Non2xx: st.Non2xx, Errors: st.Errors,
		Seconds: st.Elapsed.Seconds(), RPS: st.RPS(),
		P50ms: ms(st.P50), P99ms: ms(st.P99),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// LoginReport is the login storm against the hash ceiling.
type LoginReport struct {
	Hasher             string  `json:"hasher"`
	Goroutines         int     `json:"ceiling_goroutines"`
	CeilingPerSecond   float64 `json:"ceiling_hashes_per_second"`
	LoginsPerSecond    float64 `json:"logins_per_second"`
	PercentOfCeiling   float64 `json:"percent_of_ceiling"`
	P99ms              float64 `json:"p99_ms"`
	Concurrency        int     `json:"concurrency"`
	Memory             *memory `json:"memory,omitempty"`
	MemoryUnavailable  string  `json:"memory_unavailable,omitempty"`
	CeilingHashesTotal int     `json:"ceiling_hashes"`
}

// hashCeiling measures how many password checks per second the machine
// does at the server's parameters (password.Hasher's defaults, which
// gatehouse serve uses), with GOMAXPROCS goroutines checking n hashes in
// all: the most logins per second any server could answer here.
func hashCeiling(ctx context.Context, n int) (perSecond float64, goroutines int, err error) {
	h := &password.Hasher{}
	hash, err := h.Hash(ctx, benchPassword)
	if err != nil {
		return 0, 0, err
	}
	goroutines = runtime.GOMAXPROCS(0)
	// One untimed round first: each goroutine's first check allocates
	// Params.Memory from a heap that has not grown yet.
	if _, err := checkHashes(ctx, h, hash, goroutines, goroutines); err != nil {
		return 0, 0, err
	}
	elapsed, err := checkHashes(ctx, h, hash, n, goroutines)
	if err != nil {
		return 0, 0, err
	}
	return float64(n) / elapsed.Seconds(), goroutines, nil
}

// checkHashes verifies benchPassword against hash n times with goroutines
// goroutines and returns the time it took.
func checkHashes(ctx context.Context, h *password.Hasher, hash string, n, goroutines int) (time.Duration, error) {
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	start := time.Now()
	for range goroutines {
		wg.Go(func() {
			for range work {
				ok, _, err := h.Verify(ctx, benchPassword, hash)
				if err == nil && !ok {
					err = errors.New("password does not match its own hash")
				}
				if err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("hash ceiling: %w", first)
	}
	return time.Since(start), nil
}

// seed registers the bench user, logs in with backend and, if apiKey, makes
// an API key with that login.
func seed(ctx context.Context, base, backend string, apiKey bool) (*session, error) {
	s := &session{url: base}
	body, _ := json.Marshal(map[string]string{"email": benchEmail, "password": benchPassword})
	if _, err := call(ctx, http.MethodPost, base+"/auth/register", "application/json", "", body, http.StatusCreated); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	form := url.Values{"username": {benchEmail}, "password": {benchPassword}}
	out, err := call(ctx, http.MethodPost, base+"/auth/"+backend+"/login", "application/x-www-form-urlencoded", "", []byte(form.Encode()), http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(out, &tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("login: no access_token in %s", out)
	}
	s.token = tok.AccessToken
	if apiKey {
		out, err := call(ctx, http.MethodPost, base+"/users/me/api-keys", "application/json", s.token, []byte(`{"name":"bench","scopes":[]}`), http.StatusCreated)
		if err != nil {
			return nil, fmt.Errorf("create API key: %w", err)
		}
		var key struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(out, &key); err != nil || key.Key == "" {
			return nil, fmt.Errorf("create API key: no key in %s", out)
		}
		s.apiKey = key.Key
	}
	return s, nil
}

// call sends one request and wants status back.
func call(ctx context.Context, method, u, contentType, token string, body []byte, status int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(req, status)
}

// check sends l once and wants a 2xx answer, so that a misconfigured
// scenario fails with the server's answer rather than a count of errors.
func check(ctx context.Context, l Load) error {
	req, err := http.NewRequestWithContext(ctx, l.Method, l.URL, bytes.NewReader(l.Body))
	if err != nil {
		return err
	}
	for k, v := range l.Header {
		req.Header[k] = v
	}
	_, err = send(req, 0)
	return err
}

// send does req and wants status (any 2xx if 0).
func send(req *http.Request, status int) ([]byte, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if (status == 0 && (res.StatusCode < 200 || res.StatusCode > 299)) || (status != 0 && res.StatusCode != status) {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, res.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// serveArgs are the flags of every server the bench starts.
func serveArgs(dir, databaseURL string) []string {
	if databaseURL == "" {
		databaseURL = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	}
	return []string{"serve", "--addr", "127.0.0.1:0", "--database-url", databaseURL, "--rate-limit", "off"}
}
