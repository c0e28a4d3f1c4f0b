package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

const testPassword = "correct horse battery"

// client talks to a test server as its users.
type client struct {
	srv *httptest.Server
	db  *sqlite.DB
}

func newClient(t *testing.T) *client {
	db := sqlitetest.New(t)
	cheap := &password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1}}
	h, err := newServer(t.Context(), db, cheap, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client{srv, db}
}

// do sends body (JSON, or a form when it is url.Values) with token as
// bearer, and returns the status and the decoded answer.
func (c *client) do(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		r, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, c.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// must is do for setup steps, which must answer want.
func (c *client) must(t *testing.T, want int, method, path, token string, body any) map[string]any {
	t.Helper()
	status, out := c.do(t, method, path, token, body)
	if status != want {
		t.Fatalf("%s %s = %d %v, want %d", method, path, status, out, want)
	}
	return out
}

// user registers email and returns its id, and a token once logged in.
func (c *client) user(t *testing.T, email string) (id, token string) {
	t.Helper()
	u := c.must(t, http.StatusCreated, "POST", "/auth/register", "", map[string]string{"email": email, "password": testPassword})
	login := c.must(t, http.StatusOK, "POST", "/auth/jwt/login", "", url.Values{"username": {email}, "password": {testPassword}})
	return u["id"].(string), login["access_token"].(string)
}

// superuser makes the user email a superuser, as `gatehouse users create
// --superuser` would, and returns its id and token.
func (c *client) superuser(t *testing.T, email string) (id, token string) {
	t.Helper()
	id, token = c.user(t, email)
	uid, _ := gatehouse.ParseID(id)
	yes := true
	if _, err := sqlite.NewUserStore(c.db).UpdateUser(t.Context(), uid, gatehouse.UserUpdate{IsSuperuser: &yes}); err != nil {
		t.Fatal(err)
	}
	return id, token
}

// TestRules runs every rule for every kind of user. Each case gets fresh
// articles and a fresh user to delete, so cases do not depend on each other.
func TestRules(t *testing.T) {
	c := newClient(t)
	rootID, rootToken := c.superuser(t, "root@example.com")
	tokens := map[string]string{"anonymous": ""}
	for name, roles := range map[string][]string{
		"viewer": {"viewer"},
		"author": {"editor"}, // writes the articles below
		"editor": {"editor"}, // another editor
		"admin":  {"admin"},
	} {
		id, token := c.user(t, name+"@example.com")
		c.must(t, http.StatusOK, "PUT", "/users/"+id+"/roles", rootToken, map[string][]string{"roles": roles})
		tokens[name] = token
	}
	article := map[string]any{"title": "Hello", "body": "World"}

	for _, tc := range []struct {
		who, method, path string
		want              int
	}{
		// Any logged-in user reads reports.
		{"anonymous", "GET", "/reports", 401},
		{"viewer", "GET", "/reports", 200},
		{"editor", "GET", "/reports", 200},
		{"author", "GET", "/reports", 200},
		{"admin", "GET", "/reports", 200},

		// Editors and admins create articles.
		{"anonymous", "POST", "/articles", 401},
		{"viewer", "POST", "/articles", 403},
		{"editor", "POST", "/articles", 201},
		{"author", "POST", "/articles", 201},
		{"admin", "POST", "/articles", 201},

		// An author edits their own article, an admin any.
		{"anonymous", "PUT", "/articles/{draft}", 401},
		{"viewer", "PUT", "/articles/{draft}", 403},
		{"editor", "PUT", "/articles/{draft}", 403}, // not another's
		{"editor", "PUT", "/articles/{published}", 403},
		{"author", "PUT", "/articles/{draft}", 200},
		{"author", "PUT", "/articles/{published}", 200},
		{"admin", "PUT", "/articles/{published}", 200},
		{"anonymous", "PUT", "/articles/{missing}", 401}, // 401 first: no hint whether it exists
		{"author", "PUT", "/articles/{missing}", 404},

		// An author deletes their own draft, an admin anything.
		{"anonymous", "DELETE", "/articles/{draft}", 401},
		{"viewer", "DELETE", "/articles/{draft}", 403},
		{"editor", "DELETE", "/articles/{draft}", 403},
		{"author", "DELETE", "/articles/{draft}", 204},
		{"author", "DELETE", "/articles/{published}", 403}, // published: no longer the author's to delete
		{"admin", "DELETE", "/articles/{draft}", 204},
		{"admin", "DELETE", "/articles/{published}", 204},
		{"admin", "DELETE", "/articles/{missing}", 404},

		// Only admins delete users, and not superusers.
		{"anonymous", "DELETE", "/admin/users/{victim}", 401},
		{"viewer", "DELETE", "/admin/users/{victim}", 403},
		{"editor", "DELETE", "/admin/users/{victim}", 403},
		{"author", "DELETE", "/admin/users/{victim}", 403},
		{"admin", "DELETE", "/admin/users/{victim}", 204},
		{"admin", "DELETE", "/admin/users/{missing}", 404},
		{"admin", "DELETE", "/admin/users/{root}", 403},
	} {
		t.Run(tc.who+" "+tc.method+" "+tc.path, func(t *testing.T) {
			draft := c.must(t, 201, "POST", "/articles", tokens["author"], article)
			published := c.must(t, 201, "POST", "/articles", tokens["author"],
				map[string]any{"title": "News", "body": "Out now", "published": true})
			victim, _ := c.user(t, "victim-"+gatehouse.NewID().String()+"@example.com")
			path := strings.NewReplacer(
				"{draft}", draft["id"].(string),
				"{published}", published["id"].(string),
				"{missing}", gatehouse.NewID().String(),
				"{victim}", victim,
				"{root}", rootID,
			).Replace(tc.path)

			var body any
			if tc.method == "POST" || tc.method == "PUT" {
				body = map[string]any{"title": "Edited", "body": "by " + tc.who}
			}
			if status, out := c.do(t, tc.method, path, tokens[tc.who], body); status != tc.want {
				t.Fatalf("%s %s as %s = %d %v, want %d", tc.method, path, tc.who, status, out, tc.want)
			}
			if tc.method == "DELETE" && tc.want == 204 {
				c.must(t, 404, "DELETE", path, tokens["admin"], nil) // gone
			}
		})
	}
}

// TestRoleChange shows that roles are read at each request: taking a role
// away applies at once, without a new login.
func TestRoleChange(t *testing.T) {
	c := newClient(t)
	_, root := c.superuser(t, "root@example.com")
	id, token := c.user(t, "writer@example.com")
	article := map[string]string{"title": "Hello"}

	c.must(t, 403, "POST", "/articles", token, article)
	c.must(t, 200, "PUT", "/users/"+id+"/roles", root, map[string][]string{"roles": {"editor"}})
	c.must(t, 201, "POST", "/articles", token, article)
	c.must(t, 200, "PUT", "/users/"+id+"/roles", root, map[string][]string{"roles": {}})
	c.must(t, 403, "POST", "/articles", token, article)
}

// TestSeedRoles checks the roles made at start, and that a restart on the
// same database keeps them.
func TestSeedRoles(t *testing.T) {
	c := newClient(t)
	if _, err := newServer(t.Context(), c.db, &password.Hasher{}, []byte(strings.Repeat("k", 32))); err != nil {
		t.Fatalf("restart: %v", err)
	}
	_, root := c.superuser(t, "root@example.com")
	req, _ := http.NewRequestWithContext(t.Context(), "GET", c.srv.URL+"/roles", nil)
	req.Header.Set("Authorization", "Bearer "+root)
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []gatehouse.Role
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	byName := map[string][]string{}
	for _, r := range got {
		byName[r.Name] = r.Permissions
	}
	for _, want := range roles {
		if got := slices.Sorted(slices.Values(byName[want.Name])); !slices.Equal(got, want.Permissions) {
			t.Errorf("role %s: permissions %v, want %v", want.Name, got, want.Permissions)
		}
	}
}
