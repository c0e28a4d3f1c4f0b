package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// The test binary is its own server program: TestInstances runs it again
// with these variables set, and TestInstanceProcess, in the new process,
// serves until it is told to stop.
const (
	// instanceProcessVar is "1" in a server process of TestInstances.
	instanceProcessVar = "GATEHOUSE_INSTANCE_PROCESS"
	// instanceSpecVar holds the instanceSpec of that process as JSON.
	instanceSpecVar = "GATEHOUSE_INSTANCE_SPEC"
)

// instanceSpec is what a server process runs: the command line and the
// environment it sees, which is not the process environment, so that
// nothing the test itself runs with leaks into the server's settings.
type instanceSpec struct {
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

// instanceBackends are the backends every instance serves: a JWT whose
// revocations live in Redis, opaque tokens in the database and in Redis,
// and the default cookie backend.
const instanceBackends = "jwt=bearer+jwt,db=bearer+database,r=bearer+redis,cookie=cookie+jwt"

// TestInstanceProcess is not a test but the server process TestInstances
// starts: without GATEHOUSE_INSTANCE_PROCESS=1 it returns at once. It runs
// the command of GATEHOUSE_INSTANCE_SPEC, with the cheap password hashing
// of the other tests, until SIGTERM or until its standard input closes,
// which happens when the test process ends, however it ends: no server
// outlives the test.
func TestInstanceProcess(t *testing.T) {
	if os.Getenv(instanceProcessVar) != "1" {
		return // only a helper of TestInstances
	}
	var spec instanceSpec
	if err := json.Unmarshal([]byte(os.Getenv(instanceSpecVar)), &spec); err != nil {
		t.Fatalf("%s: %v", instanceSpecVar, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := cli.RunWith(ctx, spec.Args, nil, os.Stdout, os.Stderr, opts(env(spec.Env))); err != nil {
		t.Fatalf("gatehouse %q: %v", spec.Args, err)
	}
}

// instance is a "gatehouse serve" running in a process of its own.
type instance struct {
	URL  string
	Log  *logBuffer // standard output and error
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and err is set
	err  error         // what Wait returned
}

// startInstances starts n server processes with the environment e and the
// serve arguments args, on 127.0.0.1:0, and waits until each listens.
// When the test ends each gets SIGTERM and must exit cleanly within 10
// seconds; it is killed otherwise.
func startInstances(t *testing.T, n int, e env, args ...string) []*instance {
	t.Helper()
	spec, err := json.Marshal(instanceSpec{Args: append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), Env: e})
	if err != nil {
		t.Fatal(err)
	}
	insts := make([]*instance, n)
	for i := range insts {
		in := &instance{Log: newLogBuffer(), done: make(chan struct{})}
		in.cmd = exec.Command(os.Args[0], "-test.run=^TestInstanceProcess$", "-test.count=1")
		in.cmd.Env = append(os.Environ(), instanceProcessVar+"=1", instanceSpecVar+"="+string(spec))
		in.cmd.Stdout, in.cmd.Stderr = in.Log, in.Log
		in.cmd.WaitDelay = 10 * time.Second // bounds the wait for the output after an exit
		// Kept open until Wait: the process stops when it closes, so
		// that a test process that dies takes its servers with it.
		if _, err := in.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := in.cmd.Start(); err != nil {
			t.Fatalf("start instance %d: %v", i+1, err)
		}
		go func() {
			in.err = in.cmd.Wait()
			close(in.done)
		}()
		t.Cleanup(func() { in.stop(t, i+1) })
		insts[i] = in
	}
	timeout := time.After(60 * time.Second)
	for i, in := range insts {
		select {
		case in.URL = <-in.Log.listening:
		case <-in.done:
			t.Fatalf("instance %d exited before listening: %v\nlog:\n%s", i+1, in.err, in.Log)
		case <-timeout:
			t.Fatalf("instance %d did not listen within 60s\nlog:\n%s", i+1, in.Log)
		}
	}
	return insts
}

// stop sends SIGTERM and waits for the process; it fails the test when the
// process does not exit cleanly.
func (in *instance) stop(t *testing.T, n int) {
	select {
	case <-in.done:
		return // exited already; startInstances reported it
	default:
	}
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("instance %d: SIGTERM: %v", n, err)
	}
	select {
	case <-in.done:
		if in.err != nil {
			t.Errorf("instance %d after SIGTERM: %v\nlog:\n%s", n, in.err, in.Log)
		}
	case <-time.After(10 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
		t.Errorf("instance %d did not exit within 10s of SIGTERM; killed\nlog:\n%s", n, in.Log)
	}
}

// visitor is one client behind the load balancer: its requests may reach
// any instance, and carry the address a balancer puts in X-Forwarded-For,
// so that each scenario is throttled as a client of its own. The jar keeps
// its cookies and, ignoring ports as browsers do, offers them to every
// instance.
type visitor struct {
	t     *testing.T
	addr  string
	jar   *http.Client // with the cookie jar
	plain *http.Client // without: for credentials given by hand
}

func newVisitor(t *testing.T, addr string) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{t: t, addr: addr, jar: &http.Client{Jar: jar}, plain: &http.Client{}}
}

// request sends a request with the header h and returns the response,
// whose body is read into the second result.
func (v *visitor) request(c *http.Client, method, u string, body io.Reader, h http.Header) (*http.Response, []byte) {
	v.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		v.t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("X-Forwarded-For", v.addr)
	resp, err := c.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return resp, b
}

// call sends body as JSON (none when nil) with the credentials h, without the
// jar, and returns the status and the body.
func (v *visitor) call(method, u string, body any, h http.Header) (int, []byte) {
	v.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			v.t.Fatal(err)
		}
		r = strings.NewReader(string(b))
		h = headerWith(h, "Content-Type", "application/json")
	}
	resp, b := v.request(v.plain, method, u, r, h)
	return resp.StatusCode, b
}

func (v *visitor) register(base, email string) {
	v.t.Helper()
	if status, b := v.call("POST", base+"/auth/register", map[string]string{"email": email, "password": testPassword}, nil); status != http.StatusCreated {
		v.t.Fatalf("register %s: %d %s", email, status, b)
	}
}

// login posts the login form to backend b with the jar, as a same-origin
// page would.
func (v *visitor) login(base, b, email, pw string) (*http.Response, []byte) {
	v.t.Helper()
	form := url.Values{"username": {email}, "password": {pw}}
	return v.request(v.jar, "POST", base+"/auth/"+b+"/login", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"same-origin"}})
}

// headerWith is h with the field k set to v; h may be nil.
func headerWith(h http.Header, k, v string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(k, v)
	return h
}

// credentials are what a login or a refresh hands out, ready to be sent
// again by hand: the access token as a header (Authorization or Cookie),
// and the refresh token (bearer) or the refresh cookie's name=value.
type credentials struct {
	access  http.Header
	refresh string
}

// credentialsFrom reads the credentials of a successful login or refresh
// at backend b.
func credentialsFrom(t *testing.T, b string, resp *http.Response, body []byte) credentials {
	t.Helper()
	if b != "cookie" {
		var p pair
		if err := json.Unmarshal(body, &p); resp.StatusCode != http.StatusOK || err != nil || p.AccessToken == "" || p.RefreshToken == "" {
			t.Fatalf("%s %s: %d %s, want an access and a refresh token", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
		}
		return credentials{access: bearerHeader(p.AccessToken), refresh: p.RefreshToken}
	}
	var c credentials
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, "_refresh") {
			c.refresh = ck.Name + "=" + ck.Value
		} else {
			c.access = cookieHeader(ck)
		}
	}
	if resp.StatusCode != http.StatusNoContent || c.access == nil || c.refresh == "" {
		t.Fatalf("%s %s: %d %s, Set-Cookie %q; want 204 with an access and a refresh cookie",
			resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, resp.Header["Set-Cookie"])
	}
	return c
}

// refresh presents the refresh token of c to backend b, without the jar,
// and returns the status, the error code and, on success, the new
// credentials.
func (v *visitor) refresh(base, b string, c credentials) (int, string, credentials) {
	v.t.Helper()
	var resp *http.Response
	var body []byte
	if b == "cookie" {
		resp, body = v.request(v.plain, "POST", base+"/auth/"+b+"/refresh", nil,
			http.Header{"Cookie": {c.refresh}, "Sec-Fetch-Site": {"same-origin"}})
	} else {
		js, _ := json.Marshal(map[string]string{"refresh_token": c.refresh})
		resp, body = v.request(v.plain, "POST", base+"/auth/"+b+"/refresh", strings.NewReader(string(js)),
			http.Header{"Content-Type": {"application/json"}})
	}
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, "", credentialsFrom(v.t, b, resp, body)
	}
	return resp.StatusCode, detail(v.t, body), credentials{}
}

// refusedEverywhere checks that every instance refuses the access token
// of h with 401, on the first request. One that does not is an error, and
// is then asked again until a second has passed, to report whether it
// would have caught up.
func (v *visitor) refusedEverywhere(insts []*instance, h http.Header, what string) {
	v.t.Helper()
	// Instances answer from memory what the stores said, and hear of a
	// change through Redis: not in the same instant, but within a second.
	for i, in := range insts {
		start := time.Now()
		deadline := start.Add(time.Second)
		status, _ := v.call("GET", in.URL+"/users/me", nil, h)
		for status != http.StatusUnauthorized && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			status, _ = v.call("GET", in.URL+"/users/me", nil, h)
		}
		if status != http.StatusUnauthorized {
			v.t.Errorf("instance %d, %s: %d for over a second, want 401 within one", i+1, what, status)
		}
	}
}

// TestInstances runs three server processes on one PostgreSQL database and
// one Redis key space, as behind a load balancer, and checks that they act
// as one server: what one does, the others see at once.
func TestInstances(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_POSTGRES_URL") == "" || os.Getenv("GATEHOUSE_TEST_REDIS_URL") == "" {
		t.Skip("set GATEHOUSE_TEST_POSTGRES_URL=postgres://... and GATEHOUSE_TEST_REDIS_URL=redis://... to run several instances on shared stores")
	}
	t.Parallel()
	dbURL := freshPostgres(t)
	rdb := redistest.New(t) // a random prefix, whose keys are deleted afterwards
	e := env{"GATEHOUSE_SECRET": testSecret}

	// As in a deployment: migrate once, then start the instances.
	mustRun(t, opts(e), "migrate", "--database-url", dbURL)
	createUser(t, e, dbURL, "--email", "root@example.com", "--superuser", "--verified")
	insts := startInstances(t, 3, e, "--database-url", dbURL,
		"--redis-url", os.Getenv("GATEHOUSE_TEST_REDIS_URL"), "--redis-prefix", rdb.Prefix,
		"--backends", instanceBackends, "--refresh-grace", "0",
		"--cookie-secure=false", // the jar keeps Secure cookies for https:// only
		"--trusted-proxies", "127.0.0.1")
	one, two, three := insts[0].URL, insts[1].URL, insts[2].URL

	for i, b := range strings.Split(instanceBackends, ",") {
		b, _, _ = strings.Cut(b, "=")
		t.Run("logout "+b, func(t *testing.T) {
			v := newVisitor(t, "192.0.2."+strconv.Itoa(10+i))
			email := "lou-" + b + "@example.com"
			v.register(one, email)
			resp, body := v.login(one, b, email, testPassword)
			c := credentialsFrom(t, b, resp, body)

			// The cookie travels in the jar; a bearer token by hand.
			var h http.Header
			if b != "cookie" {
				h = c.access
			}
			if resp, body := v.request(v.jar, "GET", two+"/users/me", nil, h); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /users/me on 2 after login on 1: %d %s", resp.StatusCode, body)
			}
			resp, body = v.request(v.jar, "POST", three+"/auth/"+b+"/logout", nil, headerWith(h, "Sec-Fetch-Site", "same-origin"))
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout on 3: %d %s", resp.StatusCode, body)
			}
			if b == "cookie" {
				if left := v.jar.Jar.Cookies(&url.URL{Scheme: "http", Host: "127.0.0.1", Path: "/auth/cookie/"}); len(left) != 0 {
					t.Errorf("cookies left after logout: %v", left)
				}
			}
			v.refusedEverywhere(insts, c.access, "the access token after logout on 3")
			if status, code, _ := v.refresh(one, b, c); status != http.StatusUnauthorized {
				t.Errorf("refresh on 1 after logout on 3: %d %s, want 401", status, code)
			}
		})
	}

	for i, b := range strings.Split(instanceBackends, ",") {
		b, _, _ = strings.Cut(b, "=")
		t.Run("refresh "+b, func(t *testing.T) {
			v := newVisitor(t, "192.0.2."+strconv.Itoa(20+i))
			email := "rae-" + b + "@example.com"
			v.register(one, email)
			resp, body := v.login(one, b, email, testPassword)
			first := credentialsFrom(t, b, resp, body)

			// Rotated on 2, the new tokens work on 3.
			status, code, next := v.refresh(two, b, first)
			if status/100 != 2 {
				t.Fatalf("refresh on 2 of the token of 1: %d %s", status, code)
			}
			if status, body := v.call("GET", three+"/users/me", nil, next.access); status != http.StatusOK {
				t.Fatalf("GET /users/me on 3 with the tokens of 2: %d %s", status, body)
			}
			// The old refresh token again, on 3: a reuse, which ends the
			// session on every instance.
			if status, code, _ := v.refresh(three, b, first); status != http.StatusUnauthorized || code != "REFRESH_TOKEN_REUSED" {
				t.Fatalf("reuse on 3: %d %s, want 401 REFRESH_TOKEN_REUSED", status, code)
			}
			v.refusedEverywhere(insts, next.access, "the rotated access token after the reuse")
			v.refusedEverywhere(insts, first.access, "the first access token after the reuse")
			for j, in := range insts {
				if status, code, _ := v.refresh(in.URL, b, next); status != http.StatusUnauthorized || code != "REFRESH_TOKEN_INVALID" {
					t.Errorf("refresh on %d of the ended session: %d %s, want 401 REFRESH_TOKEN_INVALID", j+1, status, code)
				}
			}
		})
	}

	t.Run("rate limit", func(t *testing.T) {
		// From a client not trusted for the account, both the (account,
		// client) and the account rule apply: the first to run out
		// refuses.
		rules := ratelimit.LoginRules()
		want := min(rules.Pair.Burst, rules.Account.Burst)

		// guess tries wrong passwords from addr, the i-th on bases[i%len],
		// and returns how many failed before the first 429.
		guess := func(addr, email string, bases ...string) int {
			t.Helper()
			v := newVisitor(t, addr)
			v.register(bases[0], email)
			for i := range 3 * want {
				resp, body := v.login(bases[i%len(bases)], "jwt", email, "wrong-guess-"+strconv.Itoa(i))
				switch {
				case resp.StatusCode == http.StatusBadRequest && detail(t, body) == "LOGIN_BAD_CREDENTIALS":
					continue
				case resp.StatusCode != http.StatusTooManyRequests || detail(t, body) != "TOO_MANY_REQUESTS" || resp.Header.Get("Retry-After") == "":
					t.Fatalf("guess %d: %d %s, want 400 LOGIN_BAD_CREDENTIALS or 429 TOO_MANY_REQUESTS with Retry-After", i+1, resp.StatusCode, body)
				}
				// Every instance refuses now, the right password too.
				for j, base := range bases {
					if resp, body := v.login(base, "jwt", email, testPassword); resp.StatusCode != http.StatusTooManyRequests {
						t.Errorf("after the 429, instance %d: %d %s, want 429", j+1, resp.StatusCode, body)
					}
				}
				return i
			}
			t.Fatalf("no 429 after %d failures", 3*want)
			return 0
		}
		single := guess("192.0.2.30", "sol@example.com", one)
		spread := guess("192.0.2.31", "sam@example.com", one, two, three)
		if single != want || spread != want {
			t.Errorf("first 429 after %d failures on one instance and %d spread over three, want %d for both (the counters live in Redis)",
				single, spread, want)
		}

		// Each instance wrote its share to the one audit log, under the
		// address the balancer forwarded.
		v := newVisitor(t, "192.0.2.32")
		resp, body := v.login(three, "jwt", "root@example.com", testPassword)
		root := credentialsFrom(t, "jwt", resp, body).access
		status, b := v.call("GET", three+"/audit?event=login.failed&limit=100", nil, root)
		var page struct {
			Items []struct{ IP, Detail string }
		}
		if err := json.Unmarshal(b, &page); status != http.StatusOK || err != nil {
			t.Fatalf("GET /audit: %d %s: %v", status, b, err)
		}
		failed := 0
		for _, it := range page.Items {
			if it.IP == "192.0.2.31" && it.Detail == "LOGIN_BAD_CREDENTIALS" {
				failed++
			}
		}
		if failed != want {
			t.Errorf("GET /audit on 3: %d failed logins from 192.0.2.31, want %d\n%s", failed, want, b)
		}
	})

	t.Run("roles", func(t *testing.T) {
		v := newVisitor(t, "192.0.2.40")
		resp, body := v.login(one, "jwt", "root@example.com", testPassword)
		root := credentialsFrom(t, "jwt", resp, body).access
		if status, b := v.call("POST", one+"/roles", map[string]any{"name": "editor", "permissions": []string{"articles:write"}}, root); status != http.StatusCreated {
			t.Fatalf("POST /roles on 1: %d %s", status, b)
		}
		v.register(two, "rita@example.com")
		resp, body = v.login(two, "jwt", "rita@example.com", testPassword)
		rita := credentialsFrom(t, "jwt", resp, body).access
		status, b := v.call("GET", three+"/users/me", nil, rita)
		if status != http.StatusOK {
			t.Fatalf("GET /users/me on 3: %d %s", status, b)
		}
		id := fmt.Sprint(decode(t, b)["id"])

		roles := func(base string) ([]string, []string) {
			t.Helper()
			status, b := v.call("GET", base+"/users/me", nil, rita)
			if status != http.StatusOK {
				t.Fatalf("GET /users/me: %d %s", status, b)
			}
			m := decode(t, b)
			return strs(m["roles"]), strs(m["permissions"])
		}
		for _, c := range []struct {
			on    string
			roles []string
			perms []string
		}{
			{two, []string{"editor"}, []string{"articles:write"}},
			{three, []string{}, []string{}},
		} {
			if status, b := v.call("PUT", c.on+"/users/"+id+"/roles", map[string]any{"roles": c.roles}, root); status != http.StatusOK {
				t.Fatalf("PUT /users/{id}/roles %v: %d %s", c.roles, status, b)
			}
			// Each instance hears of the change through PostgreSQL's
			// NOTIFY: within a second, not in the same instant.
			for j, in := range insts {
				deadline := time.Now().Add(time.Second)
				r, p := roles(in.URL)
				for (!slices.Equal(r, c.roles) || !slices.Equal(p, c.perms)) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
					r, p = roles(in.URL)
				}
				if !slices.Equal(r, c.roles) || !slices.Equal(p, c.perms) {
					t.Errorf("instance %d a second after PUT roles %v on another: roles %v, permissions %v", j+1, c.roles, r, p)
				}
			}
		}
	})
}
