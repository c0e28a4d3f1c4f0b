package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// testPolicies is a policies file: an owner may do anything to what they
// own, editors may write articles.
const testPolicies = `# Policies of POST /authorize.
owner: has(resource.owner_id) && resource.owner_id == user.id

editors:
    action == "articles:write" &&
    "editor" in user.roles
`

// writePolicies writes a policies file and returns its path.
func writePolicies(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// createUser runs 'users create' with the password on standard input and
// returns the printed user.
func createUser(t *testing.T, e env, dbURL string, args ...string) map[string]any {
	t.Helper()
	var out bytes.Buffer
	args = append([]string{"users", "create", "--database-url", dbURL}, args...)
	if err := cli.RunWith(context.Background(), args, strings.NewReader(testPassword+"\n"), &out, io.Discard, opts(e)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var u map[string]any
	if err := json.Unmarshal(out.Bytes(), &u); err != nil {
		t.Fatalf("users create printed %q: %v", out.String(), err)
	}
	return u
}

// call sends a JSON request with the given credentials and returns the
// status and the body.
func call(t *testing.T, method, u string, body any, h http.Header) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
		if h == nil {
			h = http.Header{}
		}
		h = with(h, "Content-Type", "application/json")
	}
	return do(t, method, u, r, h)
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

// jwtPayload returns the decoded payload of a JWT.
func jwtPayload(t *testing.T, token string) []byte {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts in a JWT, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return b
}

func apiKeyHeader(key string) http.Header { return http.Header{"X-Api-Key": {key}} }

func strs(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestServeAuthorization(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	testServeAuthorization(t, dbURL)
}

// TestServeAuthorizationPostgres runs the same on PostgreSQL.
func TestServeAuthorizationPostgres(t *testing.T) {
	t.Parallel()
	testServeAuthorization(t, freshPostgres(t))
}

// testServeAuthorization checks that serve wires roles, API keys and
// policies: a superuser makes a role and gives it to a user, who then
// makes an API key within the role's permissions, uses it, and deletes it;
// POST /authorize answers with the policies file.
func testServeAuthorization(t *testing.T, dbURL string) {
	e := env{"GATEHOUSE_SECRET": testSecret}
	createUser(t, e, dbURL, "--email", "root@example.com", "--superuser", "--verified")
	policies := writePolicies(t, "policies.txt", testPolicies)
	s := startServer(t, e, "--database-url", dbURL, "--policies", policies)
	if !strings.Contains(s.Log.String(), "owner,editors") {
		t.Errorf("the log does not list the policies:\n%s", s.Log)
	}
	root := bearerHeader(login(t, s.URL, "root@example.com", testPassword))

	// The superuser creates a role and gives it to alice.
	status, b := call(t, "POST", s.URL+"/roles", map[string]any{
		"name": "editor", "description": "writes articles", "permissions": []string{"articles:read", "articles:write"},
	}, root)
	if status != http.StatusCreated {
		t.Fatalf("POST /roles: %d %s", status, b)
	}
	if status, b := call(t, "POST", s.URL+"/roles", map[string]any{"name": "editor"}, root); status != http.StatusBadRequest {
		t.Errorf("POST /roles again: %d %s, want 400", status, b)
	}
	register(t, s.URL, "alice@example.com", testPassword)
	alice := bearerHeader(login(t, s.URL, "alice@example.com", testPassword))
	if status, b := call(t, "POST", s.URL+"/roles", map[string]any{"name": "sneaky"}, alice); status != http.StatusForbidden {
		t.Errorf("POST /roles by a user: %d %s, want 403", status, b)
	}
	status, b = call(t, "GET", s.URL+"/users/me", nil, alice)
	if status != http.StatusOK {
		t.Fatalf("GET /users/me: %d %s", status, b)
	}
	aliceID, _ := decode(t, b)["id"].(string)
	status, b = call(t, "PUT", s.URL+"/users/"+aliceID+"/roles", map[string]any{"roles": []string{"editor"}}, root)
	if status != http.StatusOK {
		t.Fatalf("PUT /users/{id}/roles: %d %s", status, b)
	}
	status, b = call(t, "GET", s.URL+"/users/me", nil, alice)
	me := decode(t, b)
	if status != http.StatusOK || !slices.Equal(strs(me["roles"]), []string{"editor"}) ||
		!slices.Equal(strs(me["permissions"]), []string{"articles:read", "articles:write"}) {
		t.Fatalf("GET /users/me after the role: %d %s", status, b)
	}
	// Tokens issued from now on tell other services her roles.
	claims := decode(t, jwtPayload(t, login(t, s.URL, "alice@example.com", testPassword)))
	if !slices.Equal(strs(claims["roles"]), []string{"editor"}) || claims["scope"] != "articles:read articles:write" {
		t.Errorf("access token claims %v, want roles [editor] and scope \"articles:read articles:write\"", claims)
	}

	// alice makes an API key within her permissions; it is shown once.
	status, b = call(t, "POST", s.URL+"/users/me/api-keys", map[string]any{"name": "ci", "scopes": []string{"articles:read"}}, alice)
	if status != http.StatusCreated {
		t.Fatalf("POST /users/me/api-keys: %d %s", status, b)
	}
	created := decode(t, b)
	key, _ := created["key"].(string)
	keyID, _ := created["id"].(string)
	if !strings.HasPrefix(key, "ghk_") || len(key) != 53 || keyID == "" {
		t.Fatalf("created key %s: want a ghk_ key of 53 characters and an id", b)
	}
	status, b = call(t, "GET", s.URL+"/users/me/api-keys", nil, alice)
	if status != http.StatusOK || strings.Contains(string(b), key) || !strings.Contains(string(b), keyID) {
		t.Errorf("GET /users/me/api-keys: %d %s, want the key listed without its secret", status, b)
	}
	status, b = call(t, "POST", s.URL+"/users/me/api-keys", map[string]any{"name": "too much", "scopes": []string{"users:delete"}}, alice)
	if status != http.StatusBadRequest || !strings.Contains(string(b), "API_KEY_SCOPE_NOT_ALLOWED") {
		t.Errorf("a key with a scope alice lacks: %d %s, want 400 API_KEY_SCOPE_NOT_ALLOWED", status, b)
	}

	// The key works in the header, not in the query (off by default).
	status, b = call(t, "GET", s.URL+"/users/me", nil, apiKeyHeader(key))
	if status != http.StatusOK || decode(t, b)["email"] != "alice@example.com" {
		t.Errorf("GET /users/me with X-API-Key: %d %s", status, b)
	}
	if status, b := call(t, "GET", s.URL+"/users/me?api_key="+url.QueryEscape(key), nil, nil); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me?api_key= without --api-key-query: %d %s, want 401", status, b)
	}
	// A scoped key cannot make keys: it lacks the api-keys scope.
	if status, b := call(t, "POST", s.URL+"/users/me/api-keys", map[string]any{"name": "child", "scopes": []string{"articles:read"}},
		apiKeyHeader(key)); status != http.StatusForbidden {
		t.Errorf("a key making a key: %d %s, want 403", status, b)
	}
	// API keys are not issued by logging in: no routes for the backend.
	if status, b := call(t, "POST", s.URL+"/auth/apikey/login", nil, nil); status != http.StatusNotFound {
		t.Errorf("POST /auth/apikey/login: %d %s, want 404", status, b)
	}

	// Deleted, the key stops working at once.
	if status, b := call(t, "DELETE", s.URL+"/users/me/api-keys/"+keyID, nil, alice); status != http.StatusNoContent {
		t.Fatalf("DELETE /users/me/api-keys/{id}: %d %s", status, b)
	}
	if status, b := call(t, "GET", s.URL+"/users/me", nil, apiKeyHeader(key)); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me with a deleted key: %d %s, want 401", status, b)
	}

	// POST /authorize answers with the policies of the file.
	register(t, s.URL, "bob@example.com", testPassword)
	bob := bearerHeader(login(t, s.URL, "bob@example.com", testPassword))
	for _, c := range []struct {
		who      string
		h        http.Header
		action   string
		resource map[string]any
		allow    bool
	}{
		{"owner", alice, "articles:delete", map[string]any{"owner_id": aliceID}, true},
		{"not the owner", bob, "articles:delete", map[string]any{"owner_id": aliceID}, false},
		{"editor", alice, "articles:write", map[string]any{"owner_id": "someone"}, true},
		{"no editor", bob, "articles:write", map[string]any{}, false},
		{"editor, other action", alice, "articles:publish", map[string]any{}, false},
	} {
		status, b := call(t, "POST", s.URL+"/authorize", map[string]any{"action": c.action, "resource": c.resource}, c.h)
		if status != http.StatusOK || decode(t, b)["allow"] != c.allow {
			t.Errorf("%s: POST /authorize: %d %s, want allow %v", c.who, status, b, c.allow)
		}
	}
	if status, b := call(t, "POST", s.URL+"/authorize", map[string]any{"action": "x"}, nil); status != http.StatusUnauthorized {
		t.Errorf("POST /authorize without credentials: %d %s, want 401", status, b)
	}

	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Log.String(), key) || strings.Contains(s.Log.String(), key[4:]) {
		t.Error("the log shows the API key")
	}
}

// TestServeAPIKeyQuery checks --api-key-query: keys work in ?api_key=, but
// never in the query and the header at once.
func TestServeAPIKeyQuery(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret}
	for i, on := range []struct {
		args []string
		env  env
	}{
		{[]string{"--api-key-query"}, e},
		{nil, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_API_KEY_QUERY": "true"}},
	} {
		s := startServer(t, on.env, append([]string{"--database-url", dbURL}, on.args...)...)
		if !strings.Contains(s.Log.String(), "api_key query parameter") {
			t.Errorf("no warning about keys in URLs:\n%s", s.Log)
		}
		email := fmt.Sprintf("q%d@example.com", i)
		register(t, s.URL, email, testPassword)
		user := bearerHeader(login(t, s.URL, email, testPassword))
		status, b := call(t, "POST", s.URL+"/users/me/api-keys", map[string]any{"name": "q", "scopes": []string{}}, user)
		if status != http.StatusCreated {
			t.Fatalf("POST /users/me/api-keys: %d %s", status, b)
		}
		key, _ := decode(t, b)["key"].(string)
		q := s.URL + "/users/me?api_key=" + url.QueryEscape(key)
		if status, b := call(t, "GET", q, nil, nil); status != http.StatusOK {
			t.Errorf("GET /users/me?api_key=: %d %s, want 200", status, b)
		}
		if status, b := call(t, "GET", q, nil, apiKeyHeader(key)); status != http.StatusUnauthorized {
			t.Errorf("a key in the query and the header: %d %s, want 401", status, b)
		}
		if err := s.Stop(t); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeBadPolicies checks that a policies file that does not compile
// stops the server before it serves, with an error naming the file and the
// policy.
func TestServeBadPolicies(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"syntax", "fine: true\nbroken: resource.owner_id == \n", []string{"broken", "line 2"}},
		{"not a bool", "count: 1 + 2\n", []string{"count"}},
		{"unknown variable", "# ok\n\nwho: nobody.id == user.id\n", []string{"who", "line 3"}},
		{"duplicate", "a: true\na: false\n", []string{`"a"`, "line 2", "line 1"}},
		{"no colon", "just an expression\n", []string{"NAME: EXPRESSION", "line 1"}},
		{"bad name", "has space: true\n", []string{"has space"}},
		{"empty expression", "empty:\n", []string{"empty", "no expression"}},
		{"continuation first", "  true\n", []string{"line 1"}},
		{"no policy", "# nothing\n\n", []string{"no policy"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := writePolicies(t, "policies.txt", c.text)
			for _, how := range []struct {
				args []string
				env  env
			}{
				{[]string{"--policies", path}, env{"GATEHOUSE_SECRET": testSecret}},
				{nil, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_POLICIES": path}},
			} {
				args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL}, how.args...)
				err := cli.RunWith(context.Background(), args, nil, io.Discard, io.Discard, opts(how.env))
				if err == nil {
					t.Fatal("serve started with a bad policies file")
				}
				for _, w := range append([]string{"--policies (GATEHOUSE_POLICIES)", path}, c.want...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want one mentioning %q", err, w)
					}
				}
				if code := cli.ExitCode(err); code != 1 {
					t.Errorf("exit code %d, want 1", code)
				}
			}
		})
	}
	err := cli.RunWith(context.Background(), []string{"serve", "--database-url", dbURL, "--policies", "/nonexistent/policies.txt"},
		nil, io.Discard, io.Discard, opts(env{"GATEHOUSE_SECRET": testSecret}))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/policies.txt") || cli.ExitCode(err) != 1 {
		t.Errorf("missing file: %v, want exit 1 naming the file", err)
	}
}

// TestRoleCommands checks roles create / list, users create --role and
// users roles.
func TestRoleCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL, _ := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret}
	runOut := func(args ...string) (string, error) {
		var out bytes.Buffer
		args = append(args, "--database-url", dbURL)
		err := cli.RunWith(ctx, args, strings.NewReader(testPassword+"\n"), &out, io.Discard, opts(e))
		return out.String(), err
	}

	out, err := runOut("roles", "create", "editor", "--description", "writes articles", "--permission", "articles:write", "--permission", "articles:read")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"editor","description":"writes articles","permissions":["articles:read","articles:write"]}` + "\n"; out != want {
		t.Errorf("roles create printed %q, want %q", out, want)
	}
	if _, err := runOut("roles", "create", "viewer", "--permission", "articles:read"); err != nil {
		t.Fatal(err)
	}
	if _, err := runOut("roles", "create", "editor"); err == nil || !strings.Contains(err.Error(), "already exists") || cli.ExitCode(err) != 1 {
		t.Errorf("roles create twice: %v, want exit 1 saying it already exists", err)
	}
	for _, args := range [][]string{
		{"roles", "create"},
		{"roles", "create", "Editor"},
		{"roles", "create", "a", "b"},
		{"roles", "create", "x", "--permission", "Bad Perm"},
		{"roles", "list", "extra"},
		{"users", "roles", "alice@example.com"}, // no --email
		{"users", "roles", "--email", "a@example.com", "Bad"},
		{"users", "create", "--email", "a@example.com", "--role", "Not-A-Role"},
	} {
		if _, err := runOut(args...); cli.ExitCode(err) != 2 {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	out, err = runOut("roles", "list")
	if err != nil || !strings.Contains(out, `"name":"editor"`) || !strings.Contains(out, `"name":"viewer"`) {
		t.Errorf("roles list: %v %s", err, out)
	}

	u := createUser(t, e, dbURL, "--email", "alice@example.com", "--role", "viewer", "--role", "editor", "--role", "viewer")
	if got := strs(u["roles"]); !slices.Equal(got, []string{"editor", "viewer"}) {
		t.Errorf("users create --role printed roles %v, want [editor viewer]", got)
	}
	if _, err := runOut("users", "create", "--email", "bob@example.com", "--role", "ghost"); err == nil ||
		!strings.Contains(err.Error(), "ghost") || cli.ExitCode(err) != 1 {
		t.Errorf("users create with an unknown role: %v, want exit 1 naming it", err)
	}
	out, err = runOut("users", "roles", "--email", "alice@example.com", "viewer")
	if err != nil || !strings.Contains(out, `"roles":["viewer"]`) {
		t.Errorf("users roles: %v %s", err, out)
	}
	if _, err := runOut("users", "roles", "--email", "alice@example.com", "ghost"); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("users roles with an unknown role: %v", err)
	}
	if _, err := runOut("users", "roles", "--email", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "nobody@example.com") {
		t.Errorf("users roles for an unknown user: %v", err)
	}

	// The server sees what the commands did: bob was not created, alice
	// is a viewer.
	s := startServer(t, e, "--database-url", dbURL)
	token := login(t, s.URL, "alice@example.com", testPassword)
	status, m := me(t, s.URL, token)
	if status != http.StatusOK || !slices.Equal(strs(m["roles"]), []string{"viewer"}) || !slices.Equal(strs(m["permissions"]), []string{"articles:read"}) {
		t.Errorf("GET /users/me: %d %v, want the viewer role", status, m)
	}
	form := url.Values{"username": {"bob@example.com"}, "password": {testPassword}}
	if status, _ := do(t, "POST", s.URL+"/auth/jwt/login", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); status != http.StatusBadRequest {
		t.Errorf("bob logs in: %d, want 400 (he was never created)", status)
	}
	// Clearing alice's roles.
	if out, err := runOut("users", "roles", "--email", "alice@example.com"); err != nil || !strings.Contains(out, `"roles":[]`) {
		t.Errorf("users roles with no role: %v %s", err, out)
	}
}
