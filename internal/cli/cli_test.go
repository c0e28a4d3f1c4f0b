package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/password"
)

// cheap are password hashing costs fit for tests.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

const (
	testPassword = "correct-horse-battery-staple"
	testSecret   = "0123456789abcdef0123456789abcdef-test-secret"
)

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// environ lists e as os.Environ does.
func (e env) environ() []string {
	var kv []string
	for k, v := range e {
		kv = append(kv, k+"="+v)
	}
	return kv
}

func opts(e env) cli.Options {
	return cli.Options{Getenv: e.get, Environ: e.environ, HashParams: cheap}
}

// logBuffer collects what a command writes to stderr, safe for concurrent
// use, and reports the address of the "listening on" line.
type logBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string
	once      sync.Once
}

var listeningRE = regexp.MustCompile(`listening on (https?://[^\s"\\]+)`)

func newLogBuffer() *logBuffer { return &logBuffer{listening: make(chan string, 1)} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if m := listeningRE.FindSubmatch(b.buf.Bytes()); m != nil {
		b.once.Do(func() { b.listening <- string(m[1]) })
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a running "gatehouse serve".
type server struct {
	URL    string
	Log    *logBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Stop cancels the server's context and returns what Run returned; Run
// must return within 10 seconds.
func (s *server) Stop(t *testing.T) error {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(10 * time.Second):
			s.err = errors.New("Run did not return within 10s of cancel")
		}
	})
	return s.err
}

// startServer runs serve on 127.0.0.1:0 with the given extra arguments and
// waits until it listens.
func startServer(t *testing.T, e env, args ...string) *server {
	t.Helper()
	return startServerWith(t, opts(e), args...)
}

// startServerWith is startServer with the given options.
func startServerWith(t *testing.T, o cli.Options, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{Log: newLogBuffer(), cancel: cancel, done: make(chan error, 1)}
	args = append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)
	go func() { s.done <- cli.RunWith(ctx, args, nil, io.Discard, s.Log, o) }()
	t.Cleanup(func() {
		if err := s.Stop(t); err != nil {
			t.Errorf("serve: %v\nlog:\n%s", err, s.Log)
		}
	})
	select {
	case s.URL = <-s.Log.listening:
	case err := <-s.done:
		s.once.Do(func() { s.err = err })
		t.Fatalf("serve returned before listening: %v\nlog:\n%s", err, s.Log)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen within 30s\nlog:\n%s", s.Log)
	}
	return s
}

func sqliteURL(t *testing.T) (url, path string) {
	path = filepath.Join(t.TempDir(), "gatehouse.db")
	return "sqlite://" + path, path
}

// do sends a request and returns the status and body.
func do(t *testing.T, method, u string, body io.Reader, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func register(t *testing.T, base, email, pw string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	status, b := do(t, "POST", base+"/auth/register", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, b)
	}
}

func login(t *testing.T, base, email, pw string) string {
	t.Helper()
	form := url.Values{"username": {email}, "password": {pw}}
	status, b := do(t, "POST", base+"/auth/jwt/login", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, b)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "bearer" {
		t.Fatalf("login body %s: %v", b, err)
	}
	return tok.AccessToken
}

func me(t *testing.T, base, token string) (int, map[string]any) {
	t.Helper()
	status, b := do(t, "GET", base+"/users/me", nil, http.Header{"Authorization": {"Bearer " + token}})
	var m map[string]any
	json.Unmarshal(b, &m)
	return status, m
}

func healthz(t *testing.T, base string) {
	t.Helper()
	if status, b := do(t, "GET", base+"/healthz", nil, nil); status != http.StatusOK {
		t.Fatalf("GET /healthz: %d %s", status, b)
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || strings.HasSuffix(s.URL, ":0") {
		t.Fatalf("listening on %q, want http://127.0.0.1:PORT", s.URL)
	}
	if n := strings.Count(s.Log.String(), "listening on"); n != 1 {
		t.Errorf("%d lines say listening on, want 1", n)
	}
	healthz(t, s.URL)

	status, b := do(t, "GET", s.URL+"/.well-known/jwks.json", nil, nil)
	if status != http.StatusOK || strings.TrimSpace(string(b)) != `{"keys":[]}` {
		t.Errorf("JWKS with HS256: %d %s, want 200 {\"keys\":[]}", status, b)
	}

	register(t, s.URL, "alice@example.com", testPassword)
	token := login(t, s.URL, "alice@example.com", testPassword)
	if status, m := me(t, s.URL, token); status != http.StatusOK || m["email"] != "alice@example.com" {
		t.Errorf("GET /users/me: %d %v", status, m)
	}
	// Logout revokes the token: the server wired the revocation store.
	if status, b := do(t, "POST", s.URL+"/auth/jwt/logout", nil, http.Header{"Authorization": {"Bearer " + token}}); status != http.StatusNoContent {
		t.Errorf("logout: %d %s", status, b)
	}
	if status, m := me(t, s.URL, token); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me after logout: %d %v, want 401", status, m)
	}

	if err := s.Stop(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	log := s.Log.String()
	for _, secret := range []string{testPassword, token, testSecret} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains a secret %.12q...", secret)
		}
	}
}

// TestServeSecretFile checks that with SQLite and no secret one is
// generated into a 0600 file next to the database and reused, so tokens
// outlive a restart.
func TestServeSecretFile(t *testing.T) {
	t.Parallel()
	dbURL, dbPath := sqliteURL(t)
	secretPath := dbPath + ".secret"

	s := startServer(t, env{}, "--database-url", dbURL)
	fi, err := os.Stat(secretPath)
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("secret file mode %o, want 600", mode)
	}
	first, _ := os.ReadFile(secretPath)
	if secret := strings.TrimSpace(string(first)); len(secret) != 43 {
		t.Errorf("secret is %d characters, want 43 (32 bytes base64url)", len(secret))
	}
	log := s.Log.String()
	if !strings.Contains(log, "GATEHOUSE_SECRET") || !strings.Contains(log, secretPath) {
		t.Errorf("no warning naming the secret file and GATEHOUSE_SECRET in:\n%s", log)
	}
	if strings.Contains(log, strings.TrimSpace(string(first))) {
		t.Error("the log contains the generated secret")
	}
	register(t, s.URL, "bob@example.com", testPassword)
	token := login(t, s.URL, "bob@example.com", testPassword)
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}

	s = startServer(t, env{}, "--database-url", dbURL)
	second, _ := os.ReadFile(secretPath)
	if !bytes.Equal(first, second) {
		t.Error("the secret file changed on restart")
	}
	if status, m := me(t, s.URL, token); status != http.StatusOK {
		t.Errorf("token from before the restart: GET /users/me %d %v", status, m)
	}
}

// TestServeKeyPairs checks that the asymmetric algorithms keep one key pair
// in the database, publish it, and reuse it after a restart.
func TestServeKeyPairs(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			dbURL, _ := sqliteURL(t)
			e := env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_JWT_ALGORITHM": alg}
			kids := make([]string, 2)
			for i := range kids {
				s := startServer(t, e, "--database-url", dbURL)
				status, b := do(t, "GET", s.URL+"/.well-known/jwks.json", nil, nil)
				var set struct {
					Keys []struct {
						Kid string `json:"kid"`
						Alg string `json:"alg"`
						D   string `json:"d"`
					} `json:"keys"`
				}
				if err := json.Unmarshal(b, &set); status != http.StatusOK || err != nil || len(set.Keys) != 1 {
					t.Fatalf("JWKS: %d %s %v", status, b, err)
				}
				if k := set.Keys[0]; k.Alg != alg || k.Kid == "" || k.D != "" {
					t.Fatalf("JWKS key %+v: want alg %s, a kid and no private part", k, alg)
				}
				kids[i] = set.Keys[0].Kid
				if i == 0 {
					register(t, s.URL, "carol@example.com", testPassword)
				}
				token := login(t, s.URL, "carol@example.com", testPassword)
				if status, m := me(t, s.URL, token); status != http.StatusOK {
					t.Errorf("GET /users/me: %d %v", status, m)
				}
				if err := s.Stop(t); err != nil {
					t.Fatal(err)
				}
			}
			if kids[0] != kids[1] {
				t.Errorf("kid changed on restart: %s then %s", kids[0], kids[1])
			}

			// Another secret cannot open the stored key.
			ctx := context.Background()
			e2 := env{"GATEHOUSE_SECRET": strings.Repeat("x", 32), "GATEHOUSE_JWT_ALGORITHM": alg}
			err := cli.RunWith(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL}, nil, io.Discard, io.Discard, opts(e2))
			if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
				t.Errorf("serve with another secret: %v, want an error naming GATEHOUSE_SECRET", err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	settings := []struct{ flag, env string }{
		{"--addr", "GATEHOUSE_ADDR"},
		{"--database-url", "GATEHOUSE_DATABASE_URL"},
		{"--secret", "GATEHOUSE_SECRET"},
		{"--backends", "GATEHOUSE_BACKENDS"},
		{"--jwt-algorithm", "GATEHOUSE_JWT_ALGORITHM"},
		{"--jwt-issuer", "GATEHOUSE_JWT_ISSUER"},
		{"--access-token-ttl", "GATEHOUSE_ACCESS_TOKEN_TTL"},
		{"--require-verification", "GATEHOUSE_REQUIRE_VERIFICATION"},
		{"--password-min-length", "GATEHOUSE_PASSWORD_MIN_LENGTH"},
		{"--public-url", "GATEHOUSE_PUBLIC_URL"},
		{"--passkey-rp-id", "GATEHOUSE_PASSKEY_RP_ID"},
		{"--passkey-origins", "GATEHOUSE_PASSKEY_ORIGINS"},
		{"--redis-url", "GATEHOUSE_REDIS_URL"},
		{"--redis-prefix", "GATEHOUSE_REDIS_PREFIX"},
		{"--cookie-secure", "GATEHOUSE_COOKIE_SECURE"},
		{"--cookie-name", "GATEHOUSE_COOKIE_NAME"},
		{"--cookie-domain", "GATEHOUSE_COOKIE_DOMAIN"},
		{"--cookie-path", "GATEHOUSE_COOKIE_PATH"},
		{"--cookie-samesite", "GATEHOUSE_COOKIE_SAMESITE"},
		{"--cookie-max-age", "GATEHOUSE_COOKIE_MAX_AGE"},
		{"--trusted-origins", "GATEHOUSE_TRUSTED_ORIGINS"},
		{"--verify-token-ttl", "GATEHOUSE_VERIFY_TOKEN_TTL"},
		{"--reset-token-ttl", "GATEHOUSE_RESET_TOKEN_TTL"},
		{"--smtp-url", "GATEHOUSE_SMTP_URL"},
		{"--mail-dir", "GATEHOUSE_MAIL_DIR"},
		{"--mail-from", "GATEHOUSE_MAIL_FROM"},
		{"--mail-templates", "GATEHOUSE_MAIL_TEMPLATES"},
		{"--webhook-url", "GATEHOUSE_WEBHOOK_URL"},
		{"--webhook-secret", "GATEHOUSE_WEBHOOK_SECRET"},
		{"--user-fields", "GATEHOUSE_USER_FIELDS"},
		{"--log-level", "GATEHOUSE_LOG_LEVEL"},
		{"--log-format", "GATEHOUSE_LOG_FORMAT"},
		{"--refresh-idle-ttl", "GATEHOUSE_REFRESH_IDLE_TTL"},
		{"--refresh-absolute-ttl", "GATEHOUSE_REFRESH_ABSOLUTE_TTL"},
		{"--refresh-grace", "GATEHOUSE_REFRESH_GRACE"},
		{"--keep-sessions-on-password-change", "GATEHOUSE_KEEP_SESSIONS_ON_PASSWORD_CHANGE"},
		{"--api-key-query", "GATEHOUSE_API_KEY_QUERY"},
		{"--policies", "GATEHOUSE_POLICIES"},
		{"--metrics", "GATEHOUSE_METRICS"},
		{"--rate-limit", "GATEHOUSE_RATE_LIMIT"},
		{"--trusted-proxies", "GATEHOUSE_TRUSTED_PROXIES"},
		{"--audit-retention", "GATEHOUSE_AUDIT_RETENTION"},
		{"--cache-ttl", "GATEHOUSE_CACHE_TTL"},
		{"--mfa", "GATEHOUSE_MFA"},
		{"--forward-auth-policies", "GATEHOUSE_FORWARD_AUTH_POLICIES"},
		{"--pprof-addr", "GATEHOUSE_PPROF_ADDR"},
		{"--tls-cert", "GATEHOUSE_TLS_CERT"},
		{"--tls-key", "GATEHOUSE_TLS_KEY"},
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"serve", "--help"}, {"serve", "-h"}} {
		var stdout, stderr bytes.Buffer
		if err := cli.RunWith(context.Background(), args, nil, &stdout, &stderr, opts(env{})); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		help := stderr.String()
		for _, s := range settings {
			if !strings.Contains(help, s.flag+" ") && !strings.Contains(help, s.flag+"\n") {
				t.Errorf("%v: help lacks %s", args, s.flag)
			}
			if !strings.Contains(help, s.env) {
				t.Errorf("%v: help lacks %s", args, s.env)
			}
		}
		for _, def := range []string{"127.0.0.1:8000", "sqlite://gatehouse.db", "jwt=bearer+jwt,cookie=cookie+jwt", "HS256", "15m", "info", "gatehouse_auth", "lax", "gatehouse:",
			"336h", "2160h", "10s"} {
			if !strings.Contains(help, def) {
				t.Errorf("%v: help lacks the default %s", args, def)
			}
		}
	}

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"serve", "migrate", "users create", "--email", "--superuser", "--verified", "--inactive"}},
		{[]string{"migrate", "--help"}, []string{"--database-url", "GATEHOUSE_DATABASE_URL"}},
		{[]string{"users", "create", "--help"}, []string{"--email", "--superuser", "--verified", "--inactive", "--role ROLE", "--database-url", "GATEHOUSE_DATABASE_URL", "--password-min-length", "GATEHOUSE_PASSWORD_MIN_LENGTH"}},
		{[]string{"users", "--help"}, []string{"create", "roles [ROLE...]"}},
		{[]string{"--help"}, []string{"roles create NAME", "roles list", "users roles [ROLE...]", "--permission PERMISSION", "--description",
			"apikey", "NAME: EXPRESSION"}},
		{[]string{"roles", "--help"}, []string{"create NAME", "list"}},
		{[]string{"roles", "create", "--help"}, []string{"roles create [flags] NAME", "--permission PERMISSION", "--description", "--database-url"}},
		{[]string{"users", "roles", "-h"}, []string{"users roles [flags] [ROLE...]", "--email ADDRESS", "--database-url"}},
		{[]string{"--help"}, []string{"keys list", "keys rotate", "keys retire KID", "--json", "--algorithm", "--force"}},
		{[]string{"keys", "--help"}, []string{"list", "rotate", "retire KID"}},
		{[]string{"keys", "retire", "--help"}, []string{"keys retire [flags] KID", "--force", "--database-url", "GATEHOUSE_SECRET", "GATEHOUSE_JWT_ALGORITHM", "--access-token-ttl"}},
		{[]string{"keys", "rotate", "-h"}, []string{"--algorithm", "EdDSA, ES256 or RS256", "--database-url", "--secret"}},
		{[]string{"keys", "list", "--help"}, []string{"--json", "--database-url"}},
		{[]string{"--help"}, oauthHelp},
		{[]string{"serve", "--help"}, oauthHelp},
	} {
		var stderr bytes.Buffer
		if err := cli.RunWith(context.Background(), c.args, nil, io.Discard, &stderr, opts(env{})); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: help lacks %s:\n%s", c.args, w, stderr.String())
			}
		}
	}
}

// oauthHelp is what help says of the OAuth providers' variables.
var oauthHelp = []string{"GATEHOUSE_OAUTH_<NAME>_CLIENT_ID", "GATEHOUSE_OAUTH_<NAME>_CLIENT_SECRET", "GATEHOUSE_OAUTH_<NAME>_ISSUER",
	"GATEHOUSE_OAUTH_<NAME>_PROVIDER", "github or google", "GATEHOUSE_OAUTH_<NAME>_SCOPES", "GATEHOUSE_OAUTH_<NAME>_ASSOCIATE_BY_EMAIL",
	"GATEHOUSE_OAUTH_<NAME>_BACKEND", "GATEHOUSE_OAUTH_<NAME>_RETURN_URLS", "PUBLIC_URL/auth/NAME/callback",
	"PUBLIC_URL/auth/associate/NAME/callback"}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"serve", "--no-such-flag"},
		{"serve", "extra"},
		{"users"},
		{"users", "delete"},
		{"users", "create"}, // no --email
		{"migrate", "--access-token-ttl", "1m"},
		{"keys"},
		{"keys", "delete"},
		{"keys", "list", "extra"},
		{"keys", "list", "--no-such-flag"},
		{"keys", "rotate", "--algorithm", "PS256"},
		{"keys", "rotate", "--algorithm", "HS256"},
		{"keys", "rotate", "KID"},
		{"keys", "retire"},
		{"keys", "retire", "--force"},
		{"keys", "retire", "a", "b"},
		{"keys", "retire", "a", "--force", "b"},
		{"keys", "retire", "--", "a", "--force"},
		{"keys", "retire", "a", "--bogus"},
		{"keys", "list", "--password-min-length", "9"},
		{"roles"},
		{"roles", "delete"},
		{"roles", "list", "--policies", "p.txt"},
	} {
		err := cli.RunWith(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard, opts(env{}))
		if code := cli.ExitCode(err); code != 2 {
			t.Errorf("%q: exit code %d (%v), want 2", args, code, err)
		}
	}
}

// TestBadSettings checks that a bad value is an error naming the setting,
// whether it comes from a flag or the environment.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	for _, c := range []struct {
		name string
		args []string
		env  env
		want string
	}{
		{"short secret flag", []string{"--secret", "tiny-secret-value"}, nil, "--secret"},
		{"short secret env", nil, env{"GATEHOUSE_SECRET": strings.Repeat("s", 31)}, "GATEHOUSE_SECRET"},
		{"word secret", []string{"--secret", "secret"}, nil, "GATEHOUSE_SECRET"},
		{"backends empty entry", []string{"--backends", "jwt=bearer+jwt,"}, nil, "--backends"},
		{"backends no strategy", []string{"--backends", "jwt=bearer"}, nil, "GATEHOUSE_BACKENDS"},
		{"backends duplicate", []string{"--backends", "a=bearer+jwt,a=bearer+jwt"}, nil, "twice"},
		{"backends bad name", []string{"--backends", "JWT=bearer+jwt"}, nil, "--backends"},
		{"backends unsupported transport", nil, env{"GATEHOUSE_BACKENDS": "key=apikey+jwt"}, "supported: bearer, cookie"},
		{"backends unsupported strategy", []string{"--backends", "db=bearer+sql"}, nil, "supported: jwt, database, redis"},
		{"backends apikey reserved", []string{"--backends", "jwt=bearer+jwt,apikey=bearer+database"}, nil, "reserved"},
		{"backends apikey reserved env", nil, env{"GATEHOUSE_BACKENDS": "apikey=bearer+jwt"}, "GATEHOUSE_BACKENDS"},
		{"api key query bool", nil, env{"GATEHOUSE_API_KEY_QUERY": "sometimes"}, "GATEHOUSE_API_KEY_QUERY"},
		{"policies missing", []string{"--policies", "/nonexistent/policies.txt"}, nil, "--policies"},
		{"redis strategy without redis", []string{"--backends", "jwt=bearer+jwt,r=cookie+redis"}, nil, "--redis-url (GATEHOUSE_REDIS_URL)"},
		{"redis strategy without redis names backends", nil, env{"GATEHOUSE_BACKENDS": "r=bearer+redis"}, "--backends (GATEHOUSE_BACKENDS)"},
		{"redis url scheme", []string{"--redis-url", "http://127.0.0.1:6379"}, nil, "--redis-url"},
		{"redis url not a url", nil, env{"GATEHOUSE_REDIS_URL": "127.0.0.1:6379"}, "GATEHOUSE_REDIS_URL"},
		{"redis url password not quoted", []string{"--redis-url", "tcp://:tiny-secret-value@h:6379/0"}, nil, "--redis-url"},
		{"redis prefix", []string{"--redis-prefix", "a b"}, nil, "--redis-prefix"},
		{"cookie secure bool", nil, env{"GATEHOUSE_COOKIE_SECURE": "sometimes"}, "GATEHOUSE_COOKIE_SECURE"},
		{"cookie samesite", []string{"--cookie-samesite", "relaxed"}, nil, "--cookie-samesite"},
		{"cookie samesite none insecure", []string{"--cookie-samesite", "none", "--cookie-secure=false"}, nil,
			"--cookie-secure (GATEHOUSE_COOKIE_SECURE) and --cookie-samesite (GATEHOUSE_COOKIE_SAMESITE)"},
		{"cookie samesite none insecure env", nil, env{"GATEHOUSE_COOKIE_SAMESITE": "none", "GATEHOUSE_COOKIE_SECURE": "false"},
			"--cookie-samesite (GATEHOUSE_COOKIE_SAMESITE)"},
		{"cookie name", []string{"--cookie-name", "bad name;"}, nil, "--cookie-name"},
		{"cookie host prefix with domain", []string{"--cookie-name", "__Host-auth", "--cookie-domain", "example.com"}, nil,
			"--cookie-name (GATEHOUSE_COOKIE_NAME) and --cookie-domain (GATEHOUSE_COOKIE_DOMAIN)"},
		{"cookie host prefix insecure", nil, env{"GATEHOUSE_COOKIE_NAME": "__Host-auth", "GATEHOUSE_COOKIE_SECURE": "false"},
			"GATEHOUSE_COOKIE_NAME"},
		{"cookie path", []string{"--cookie-path", "/a;b"}, nil, "--cookie-path"},
		{"cookie domain", nil, env{"GATEHOUSE_COOKIE_DOMAIN": "exa mple.com"}, "GATEHOUSE_COOKIE_DOMAIN"},
		{"cookie max age negative", []string{"--cookie-max-age", "-1h"}, nil, "--cookie-max-age"},
		{"cookie max age too long", nil, env{"GATEHOUSE_COOKIE_MAX_AGE": "10000h"}, "GATEHOUSE_COOKIE_MAX_AGE"},
		{"cookie max age number", []string{"--cookie-max-age", "3600"}, nil, "--cookie-max-age"},
		{"trusted origin path", []string{"--trusted-origins", "https://app.example.com/"}, nil, "--trusted-origins"},
		{"trusted origin scheme", nil, env{"GATEHOUSE_TRUSTED_ORIGINS": "https://a.example,app.example.com"}, "GATEHOUSE_TRUSTED_ORIGINS"},
		{"trusted origin empty entry", []string{"--trusted-origins", "https://a.example,,https://b.example"}, nil, "--trusted-origins"},
		{"duration", []string{"--access-token-ttl", "10"}, nil, "--access-token-ttl"},
		{"negative duration", nil, env{"GATEHOUSE_ACCESS_TOKEN_TTL": "-1m"}, "GATEHOUSE_ACCESS_TOKEN_TTL"},
		{"database url scheme", []string{"--database-url", "mysql://root@localhost/db"}, nil, "--database-url"},
		{"sqlite no file", nil, env{"GATEHOUSE_DATABASE_URL": "sqlite://"}, "GATEHOUSE_DATABASE_URL"},
		{"algorithm", []string{"--jwt-algorithm", "none"}, nil, "--jwt-algorithm"},
		{"addr", []string{"--addr", "localhost"}, nil, "--addr"},
		{"bool", nil, env{"GATEHOUSE_REQUIRE_VERIFICATION": "maybe"}, "GATEHOUSE_REQUIRE_VERIFICATION"},
		{"min length", []string{"--password-min-length", "0"}, nil, "--password-min-length"},
		{"public url", []string{"--public-url", "example.com"}, nil, "--public-url"},
		{"public url query", nil, env{"GATEHOUSE_PUBLIC_URL": "https://auth.example.com/?next=1"}, "GATEHOUSE_PUBLIC_URL"},
		{"public url unclean path", []string{"--public-url", "https://example.com/a/../auth"}, nil, "--public-url"},
		{"verify ttl", []string{"--verify-token-ttl", "0s"}, nil, "--verify-token-ttl"},
		{"reset ttl", nil, env{"GATEHOUSE_RESET_TOKEN_TTL": "1 hour"}, "GATEHOUSE_RESET_TOKEN_TTL"},
		{"smtp scheme", []string{"--smtp-url", "http://user:tiny-secret-value@mail.example.com"}, nil, "--smtp-url"},
		{"smtp no host", nil, env{"GATEHOUSE_SMTP_URL": "smtp://user:tiny-secret-value@"}, "GATEHOUSE_SMTP_URL"},
		{"smtp bad parameter", nil, env{"GATEHOUSE_SMTP_URL": "smtps://u:tiny-secret-value@mail.example.com?tls=no"}, "GATEHOUSE_SMTP_URL"},
		{"smtp and mail dir", []string{"--smtp-url", "smtps://u:tiny-secret-value@mail.example.com", "--mail-dir", "/tmp/mails"}, nil,
			"--smtp-url (GATEHOUSE_SMTP_URL) and --mail-dir (GATEHOUSE_MAIL_DIR)"},
		{"smtp and mail dir env", nil, env{"GATEHOUSE_SMTP_URL": "smtp://localhost", "GATEHOUSE_MAIL_DIR": "mails"},
			"--smtp-url (GATEHOUSE_SMTP_URL) and --mail-dir (GATEHOUSE_MAIL_DIR)"},
		{"mail from", []string{"--mail-from", "not an address"}, nil, "--mail-from"},
		{"mail from two lines", nil, env{"GATEHOUSE_MAIL_FROM": "a@example.com\r\nBcc: b@example.com"}, "GATEHOUSE_MAIL_FROM"},
		{"mail templates missing", []string{"--mail-templates", "/nonexistent/templates"}, nil, "--mail-templates"},
		{"webhook url without secret", []string{"--webhook-url", "https://hooks.example.com/x"}, nil,
			"--webhook-url (GATEHOUSE_WEBHOOK_URL) and --webhook-secret (GATEHOUSE_WEBHOOK_SECRET)"},
		{"webhook secret without url", nil, env{"GATEHOUSE_WEBHOOK_SECRET": testSecret},
			"--webhook-url (GATEHOUSE_WEBHOOK_URL) and --webhook-secret (GATEHOUSE_WEBHOOK_SECRET)"},
		{"webhook secret short", []string{"--webhook-url", "https://hooks.example.com/x", "--webhook-secret", "tiny-secret-value"}, nil,
			"--webhook-secret"},
		{"webhook url scheme", []string{"--webhook-url", "ftp://hooks.example.com/tiny-secret-value", "--webhook-secret", testSecret}, nil,
			"--webhook-url"},
		{"webhook url plain http", nil, env{"GATEHOUSE_WEBHOOK_URL": "http://hooks.example.com/tiny-secret-value", "GATEHOUSE_WEBHOOK_SECRET": testSecret},
			"GATEHOUSE_WEBHOOK_URL"},
		{"user fields type", []string{"--user-fields", "age:integer"}, nil, "--user-fields"},
		{"user fields reserved", nil, env{"GATEHOUSE_USER_FIELDS": "email:string"}, "GATEHOUSE_USER_FIELDS"},
		{"user fields name", []string{"--user-fields", "First:string"}, nil, "--user-fields"},
		{"user fields duplicate", []string{"--user-fields", "a:string,a:int"}, nil, "twice"},
		{"user fields suffix", []string{"--user-fields", "a:string:optional"}, nil, "--user-fields"},
		{"oauth secret missing", nil, env{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID": "id", "GATEHOUSE_OAUTH_GOOGLE_PROVIDER": "google"},
			"GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET"},
		{"oauth name of a backend", []string{"--backends", "web=cookie+jwt"}, env{"GATEHOUSE_OAUTH_WEB_CLIENT_ID": "id",
			"GATEHOUSE_OAUTH_WEB_CLIENT_SECRET": "tiny-secret-value", "GATEHOUSE_OAUTH_WEB_PROVIDER": "github"}, "GATEHOUSE_OAUTH_WEB_CLIENT_ID"},
		{"oauth unknown provider", nil, env{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": "tiny-secret-value",
			"GATEHOUSE_OAUTH_X_PROVIDER": "gitlab"}, "GATEHOUSE_OAUTH_X_PROVIDER"},
		{"oauth issuer and provider", nil, env{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": "tiny-secret-value",
			"GATEHOUSE_OAUTH_X_PROVIDER": "google", "GATEHOUSE_OAUTH_X_ISSUER": "https://idp.example.com"}, "GATEHOUSE_OAUTH_X_ISSUER"},
		{"oauth backend", nil, env{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": "tiny-secret-value",
			"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_BACKEND": "nope"}, "GATEHOUSE_OAUTH_X_BACKEND"},
		{"passkey rp id", []string{"--passkey-rp-id", "https://example.com"}, nil, "--passkey-rp-id"},
		{"passkey origin", nil, env{"GATEHOUSE_PASSKEY_ORIGINS": "example.com"}, "GATEHOUSE_PASSKEY_ORIGINS"},
		{"passkey origin off the rp id", []string{"--passkey-rp-id", "example.com", "--passkey-origins", "https://example.org"}, nil,
			"--passkey-rp-id (GATEHOUSE_PASSKEY_RP_ID) and --passkey-origins (GATEHOUSE_PASSKEY_ORIGINS)"},
		{"passkey origin of a lookalike", []string{"--passkey-rp-id", "example.com", "--passkey-origins", "https://badexample.com"}, nil,
			"--passkey-rp-id (GATEHOUSE_PASSKEY_RP_ID) and --passkey-origins (GATEHOUSE_PASSKEY_ORIGINS)"},
		{"log level", nil, env{"GATEHOUSE_LOG_LEVEL": "loud"}, "GATEHOUSE_LOG_LEVEL"},
		{"log format", []string{"--log-format", "xml"}, nil, "--log-format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--addr", "127.0.0.1:0"}, c.args...)
			e := env{"GATEHOUSE_DATABASE_URL": dbURL}
			maps.Copy(e, c.env)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // should the settings pass, serve stops at once
			err := cli.RunWith(ctx, args, nil, io.Discard, io.Discard, opts(e))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
			if code := cli.ExitCode(err); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if strings.Contains(err.Error(), "tiny-secret-value") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

// TestFlagBeatsEnv checks the order flag, environment, default.
func TestFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	envPath := filepath.Join(dir, "env.db")
	flagPath := filepath.Join(dir, "flag.db")
	e := env{"GATEHOUSE_DATABASE_URL": "sqlite://" + envPath}

	if err := cli.RunWith(ctx, []string{"migrate"}, nil, io.Discard, io.Discard, opts(e)); err != nil {
		t.Fatalf("migrate with the environment: %v", err)
	}
	if _, err := os.Stat(envPath); err != nil {
		t.Errorf("GATEHOUSE_DATABASE_URL was not used: %v", err)
	}
	if err := cli.RunWith(ctx, []string{"migrate", "--database-url", "sqlite://" + flagPath}, nil, io.Discard, io.Discard, opts(e)); err != nil {
		t.Fatalf("migrate with a flag: %v", err)
	}
	if _, err := os.Stat(flagPath); err != nil {
		t.Errorf("--database-url did not win over GATEHOUSE_DATABASE_URL: %v", err)
	}

	// A bad value in the environment is ignored when the flag is given.
	bad := env{"GATEHOUSE_ACCESS_TOKEN_TTL": "forever", "GATEHOUSE_ADDR": "nowhere", "GATEHOUSE_SECRET": testSecret}
	s := startServer(t, bad, "--database-url", "sqlite://"+filepath.Join(dir, "serve.db"), "--access-token-ttl", "5m")
	healthz(t, s.URL)
}

func TestPostgresNeedsSecret(t *testing.T) {
	t.Parallel()
	// The check comes before any connection, so no server is needed.
	for _, u := range []string{"postgres://gatehouse@127.0.0.1:1/gatehouse?sslmode=disable", "postgresql://127.0.0.1:1/x"} {
		err := cli.RunWith(context.Background(), []string{"serve", "--database-url", u}, nil, io.Discard, io.Discard, opts(env{}))
		if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
			t.Errorf("%s without a secret: %v, want an error naming GATEHOUSE_SECRET", u, err)
		}
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	var out bytes.Buffer
	if err := cli.RunWith(context.Background(), []string{"migrate", "--database-url", dbURL}, nil, &out, io.Discard, opts(env{})); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s == "" || strings.Contains(s, "up to date") {
		t.Errorf("first migrate printed %q, want the applied migrations", s)
	}
	out.Reset()
	if err := cli.RunWith(context.Background(), []string{"migrate", "--database-url", dbURL}, nil, &out, io.Discard, opts(env{})); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s != "up to date\n" {
		t.Errorf("second migrate printed %q, want \"up to date\"", s)
	}
}

func TestUsersCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL, _ := sqliteURL(t)
	create := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		args = append([]string{"users", "create", "--database-url", dbURL}, args...)
		err := cli.RunWith(ctx, args, strings.NewReader(stdin), &out, io.Discard, opts(env{}))
		return out.String(), err
	}

	out, err := create(testPassword+"\n", "--email", "root@example.com", "--superuser", "--verified")
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	want := map[string]any{"email": "root@example.com", "is_active": true, "is_superuser": true, "is_verified": true}
	for k, v := range want {
		if u[k] != v {
			t.Errorf("%s = %v, want %v", k, u[k], v)
		}
	}
	if id, _ := u["id"].(string); len(id) != 36 {
		t.Errorf("id = %v, want a UUID", u["id"])
	}
	if len(u) != 6 || u["roles"] == nil {
		t.Errorf("output has keys %v, want id, email, is_active, is_superuser, is_verified, roles", u)
	}
	if strings.Contains(out, testPassword) || strings.Contains(out, "argon2") {
		t.Error("the output shows the password or its hash")
	}

	out, err = create("another-long-password\r\n", "--email", "lazy@example.com", "--inactive")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"is_active":false`) || !strings.Contains(out, `"is_superuser":false`) {
		t.Errorf("inactive user: %s", out)
	}

	if _, err := create(testPassword+"\n", "--email", "root@example.com"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate e-mail: %v, want an error saying it already exists", err)
	}
	if _, err := create(testPassword+"\n", "--email", "ROOT@example.com"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate e-mail in other case: %v, want an error saying it already exists", err)
	}
	if _, err := create("short\n", "--email", "short@example.com"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("short password: %v", err)
	}
	if _, err := create("", "--email", "empty@example.com"); err == nil || !strings.Contains(err.Error(), "standard input") {
		t.Errorf("no password: %v", err)
	}
	if _, err := create(testPassword+"\n", "--email", "not an address"); err == nil || !strings.Contains(err.Error(), "e-mail") {
		t.Errorf("bad e-mail: %v", err)
	}
	if _, err := create("w0rd\n", "--email", "four@example.com", "--password-min-length", "4"); err != nil {
		t.Errorf("--password-min-length 4 refused a 4-character password: %v", err)
	}

	// The created superuser can log in to the server.
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL)
	token := login(t, s.URL, "root@example.com", testPassword)
	if status, m := me(t, s.URL, token); status != http.StatusOK || m["is_superuser"] != true {
		t.Errorf("GET /users/me: %d %v", status, m)
	}
}

// TestServePostgres runs the server on a fresh PostgreSQL database.
func TestServePostgres(t *testing.T) {
	t.Parallel()
	dbURL := freshPostgres(t)
	e := env{"GATEHOUSE_SECRET": testSecret}

	var out bytes.Buffer
	if err := cli.RunWith(context.Background(), []string{"migrate", "--database-url", dbURL}, nil, &out, io.Discard, opts(e)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for _, alg := range []string{"HS256", "EdDSA"} {
		s := startServer(t, e, "--database-url", dbURL, "--jwt-algorithm", alg)
		healthz(t, s.URL)
		email := strings.ToLower(alg) + "@example.com"
		register(t, s.URL, email, testPassword)
		token := login(t, s.URL, email, testPassword)
		if status, m := me(t, s.URL, token); status != http.StatusOK {
			t.Errorf("%s: GET /users/me: %d %v", alg, status, m)
		}
		if err := s.Stop(t); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s.Log.String(), dbURL) && strings.Contains(dbURL, "@") {
			t.Error("the log shows the database URL")
		}
	}
	var stdout bytes.Buffer
	err := cli.RunWith(context.Background(), []string{"users", "create", "--database-url", dbURL, "--email", "pg@example.com"},
		strings.NewReader(testPassword+"\n"), &stdout, io.Discard, opts(e))
	if err != nil || !strings.Contains(stdout.String(), `"email":"pg@example.com"`) {
		t.Errorf("users create: %v %s", err, stdout.String())
	}
}
