package forwardauth_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/forwardauth"
)

// nginxMain wraps the package documentation's snippet (%[3]s) into a whole
// configuration that runs in the foreground and keeps every file in the
// test's directory (%[1]s), listening on port %[2]d.
const nginxMain = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen 127.0.0.1:%[2]d;
%[3]s
    }
}
`

// TestNginx puts a real nginx in front of a toy application, protected by
// the snippet of the package documentation, exactly as written there.
func TestNginx(t *testing.T) {
	bin := os.Getenv("GATEHOUSE_TEST_NGINX")
	if bin == "" {
		t.Skip("set GATEHOUSE_TEST_NGINX to an nginx binary with auth_request (such as /usr/sbin/nginx) to run this test")
	}
	t.Parallel()
	f := newFixture(t)
	gatehouse := httptest.NewServer(f.mux(t, options{policies: true, login: loginURL}))
	t.Cleanup(gatehouse.Close)
	// The application shows every value it gets of the user headers, so
	// that a spoofed one next to the real one would show.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "id=%q email=%q roles=%q %s %s body=%q", r.Header.Values(forwardauth.HeaderUserID),
			r.Header.Values(forwardauth.HeaderUserEmail), r.Header.Values(forwardauth.HeaderUserRoles),
			r.Method, r.RequestURI, body)
	}))
	t.Cleanup(app.Close)
	base := startNginx(t, bin, gatehouse.URL, app.URL)

	alice, root := f.users["alice"], f.users["root"]
	echo := func(id, email, roles, method, uri, body string) string {
		list := func(v string) string {
			if v == "" {
				return "[]"
			}
			return fmt.Sprintf("[%q]", v)
		}
		return fmt.Sprintf("id=%s email=%s roles=%s %s %s body=%q", list(id), list(email), list(roles), method, uri, body)
	}
	aliceEcho := func(roles, method, uri, body string) string {
		return echo(alice.ID.String(), alice.Email, roles, method, uri, body)
	}
	bearer := "Bearer " + f.tokens["alice"]
	next := loginURL + "&next=" + url.QueryEscape(base+"/docs/a?x=1")

	for _, c := range []struct {
		name     string
		method   string
		path     string
		header   map[string]string
		status   int
		body     string // the application's answer; "" when it must not be reached
		location string
	}{
		{"bearer", "GET", "/docs/a?x=1", map[string]string{"Authorization": bearer}, 200, aliceEcho("staff", "GET", "/docs/a?x=1", ""), ""},
		{"cookie", "GET", "/docs/a", map[string]string{"Cookie": cookieName + "=" + f.tokens["alice"]}, 200, aliceEcho("staff", "GET", "/docs/a", ""), ""},
		{"api key", "GET", "/docs/a", map[string]string{"X-API-Key": f.keys["docs"]}, 200, aliceEcho("", "GET", "/docs/a", ""), ""},
		{"admin", "GET", "/admin/", map[string]string{"Authorization": "Bearer " + f.tokens["root"]}, 200,
			echo(root.ID.String(), root.Email, "admin,staff", "GET", "/admin/", ""), ""},
		{"POST with a body", "POST", "/docs/a", map[string]string{"Authorization": bearer}, 200, aliceEcho("staff", "POST", "/docs/a", "payload"), ""},
		{"denied by policy", "GET", "/admin/", map[string]string{"Authorization": bearer}, 403, "", ""},
		{"dot-dot", "GET", "/docs/%2e%2e/admin/", map[string]string{"Authorization": bearer}, 403, "", ""},
		{"spoofed user headers", "GET", "/docs/a", map[string]string{"Authorization": bearer,
			forwardauth.HeaderUserID: root.ID.String(), forwardauth.HeaderUserEmail: root.Email, forwardauth.HeaderUserRoles: "admin"},
			200, aliceEcho("staff", "GET", "/docs/a", ""), ""},
		{"spoofed user headers, anonymous", "GET", "/docs/a", map[string]string{forwardauth.HeaderUserID: root.ID.String()}, 401, "", ""},
		{"spoofed X-Forwarded-Uri", "GET", "/admin/", map[string]string{"Authorization": bearer, "X-Forwarded-Uri": "/docs/a"}, 403, "", ""},
		// nginx sets X-Forwarded-Uri; a client's X-Original-URI that
		// disagrees is a 400, which nginx turns into a 500: closed.
		{"spoofed X-Original-URI", "GET", "/admin/", map[string]string{"Authorization": bearer, "X-Original-URI": "/docs/a"}, 500, "", ""},
		{"cross-site form with a cookie", "POST", "/docs/a", map[string]string{"Cookie": cookieName + "=" + f.tokens["alice"],
			"Sec-Fetch-Site": "cross-site"}, 403, "", ""},
		{"logged out browser", "GET", "/docs/a?x=1", map[string]string{"Authorization": "Bearer " + f.revoked,
			"Accept": "text/html,*/*;q=0.8"}, 302, "", next},
		{"anonymous browser", "GET", "/docs/a?x=1", map[string]string{"Accept": "text/html"}, 302, "", next},
		{"anonymous API client", "GET", "/docs/a?x=1", map[string]string{"Accept": "application/json"}, 401, "", ""},
		{"expired token, API client", "GET", "/docs/a", map[string]string{"Authorization": "Bearer " + f.expired}, 401, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := ""
			if c.method == "POST" {
				body = "payload"
			}
			req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(body))
			must(t, err)
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			res, err := noRedirects.Do(req)
			must(t, err)
			got, err := io.ReadAll(res.Body)
			res.Body.Close()
			must(t, err)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, c.status, got)
			}
			if fromApp := strings.HasPrefix(string(got), "id="); c.body != "" && string(got) != c.body || c.body == "" && fromApp {
				t.Errorf("body %q, want %q", got, c.body)
			}
			if loc := res.Header.Get("Location"); loc != c.location {
				t.Errorf("Location %q, want %q", loc, c.location)
			}
		})
	}
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// startNginx runs nginx with the documentation's snippet, pointed at the
// given Gatehouse and application, until the test ends, and returns its
// base URL.
func startNginx(t *testing.T, bin, gatehouseURL, appURL string) string {
	t.Helper()
	snippet := docSnippet(t)
	snippet = strings.ReplaceAll(snippet, "http://127.0.0.1:8000", gatehouseURL)
	snippet = strings.ReplaceAll(snippet, "http://127.0.0.1:9000", appURL)

	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(nginxMain, dir, port, snippet)), 0o600))

	var log lockedBuffer
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", "stderr")
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("nginx log:\n%s", log.String())
		}
	})

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("nginx exited: %v\n%s", err, log.String())
		default:
		}
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx is not listening on %s after 10s\n%s", addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// docSnippet returns the nginx snippet of the package documentation: the
// indented block that starts with "location / {", without the comment
// markers.
func docSnippet(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	must(t, err)
	var lines []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if !in && line == "//\tlocation / {" {
			in = true
		}
		if !in {
			continue
		}
		if line == "//" {
			lines = append(lines, "")
			continue
		}
		code, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		lines = append(lines, code)
	}
	if len(lines) == 0 {
		t.Fatal("doc.go has no nginx snippet starting with \"location / {\"")
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer collects nginx's output while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
