package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// keyCredential sends an API key the way clients do.
func keyCredential(key string) credential { return credential{"X-API-Key", key} }

func TestRoles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{authz: true})
		_, admin := s.user("admin@example.com", true, true, true)
		aliceID, alice := s.user("alice@example.com", false, false, true)
		for _, tc := range []struct {
			name, method, path, body, token string
			status                          int
			want                            string
		}{
			{"list: no token", "GET", "/roles", "", "", 401, unauthorized},
			{"list: not a superuser", "GET", "/roles", "", alice, 403, forbidden},
			{"list: empty", "GET", "/roles", "", admin, 200, `[]`},
			{"create: not a superuser", "POST", "/roles", `{"name":"editor"}`, alice, 403, forbidden},
			{"create: malformed JSON first", "POST", "/roles", `{`, "", 422, ""},
			{"create: bad name", "POST", "/roles", `{"name":"Editor!"}`, admin, 422, ""},
			{"create: bad permission", "POST", "/roles", `{"name":"editor","permissions":["has space"]}`, admin, 422, ""},
			{"create", "POST", "/roles", `{"name":"editor","description":"writes","permissions":["articles:write","articles:read"]}`, admin, 201,
				`{"name":"editor","description":"writes","permissions":["articles:write","articles:read"]}`},
			{"create: again", "POST", "/roles", `{"name":"editor"}`, admin, 400, `{"detail":"ROLE_ALREADY_EXISTS"}`},
			{"create viewer", "POST", "/roles", `{"name":"viewer","permissions":["reports:read"]}`, admin, 201, ""},
			{"get", "GET", "/roles/viewer", "", admin, 200, `{"name":"viewer","description":"","permissions":["reports:read"]}`},
			{"get: unknown", "GET", "/roles/nope", "", admin, 404, notFound},
			{"patch", "PATCH", "/roles/viewer", `{"description":"reads"}`, admin, 200, `{"name":"viewer","description":"reads","permissions":["reports:read"]}`},
			{"patch: unknown", "PATCH", "/roles/nope", `{}`, admin, 404, notFound},
			{"assign: not a superuser", "PUT", "/users/" + aliceID + "/roles", `{"roles":["editor"]}`, alice, 403, forbidden},
			{"assign: unknown role", "PUT", "/users/" + aliceID + "/roles", `{"roles":["editor","ghost"]}`, admin, 400, `{"detail":"ROLE_NOT_FOUND"}`},
			{"assign: unknown user", "PUT", "/users/7b0f6d1c-1f55-4d4e-9b4b-6a2f5f0c9a11/roles", `{"roles":["editor"]}`, admin, 404, notFound},
			{"assign: missing field", "PUT", "/users/" + aliceID + "/roles", `{}`, admin, 422, ""},
			{"assign", "PUT", "/users/" + aliceID + "/roles", `{"roles":["editor","viewer"]}`, admin, 200,
				`{"id":"` + aliceID + `","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":false,"roles":["editor","viewer"],"permissions":["articles:read","articles:write","reports:read"]}`},
			{"me shows roles", "GET", "/users/me", "", alice, 200,
				`{"id":"` + aliceID + `","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":false,"roles":["editor","viewer"],"permissions":["articles:read","articles:write","reports:read"]}`},
			{"delete: not a superuser", "DELETE", "/roles/editor", "", alice, 403, forbidden},
			{"delete", "DELETE", "/roles/editor", "", admin, 204, ""},
			{"the role left its users", "GET", "/users/me", "", alice, 200,
				`{"id":"` + aliceID + `","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":false,"roles":["viewer"],"permissions":["reports:read"]}`},
			{"delete: unknown", "DELETE", "/roles/editor", "", admin, 404, notFound},
		} {
			res := s.json(tc.method, tc.path, tc.body, tc.token)
			if res.status != tc.status || (tc.want != "" && res.body != tc.want) {
				t.Fatalf("%s: got %d %s\nwant %d %s", tc.name, res.status, res.body, tc.status, tc.want)
			}
		}
		// Access tokens tell other services the roles and permissions.
		tok := s.login("alice@example.com", "password123")
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		json.Unmarshal(payload, &claims)
		if fmt.Sprint(claims["roles"]) != "[viewer]" || claims["scope"] != "reports:read" {
			t.Fatalf("claims %s", payload)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{authz: true, backends: []string{"jwt=bearer+jwt", "apikey=apikey+apikey"}})
		_, admin := s.user("admin@example.com", true, true, true)
		aliceID, alice := s.user("alice@example.com", false, false, true)
		s.json("POST", "/roles", `{"name":"editor","permissions":["articles:write","articles:read"]}`, admin)
		s.json("PUT", "/users/"+aliceID+"/roles", `{"roles":["editor"]}`, admin)

		create := func(token credential, body string) response {
			req, _ := http.NewRequest("POST", s.URL+"/users/me/api-keys", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			token.apply(req)
			return s.doRequest(req)
		}
		bearer := credential{"Authorization", "Bearer " + alice}
		res := create(bearer, `{"name":"ci","scopes":["articles:read","api-keys"]}`)
		if res.status != 201 {
			t.Fatalf("create: %d %s", res.status, res.body)
		}
		body := res.json(t)
		key := body["key"].(string)
		if !strings.HasPrefix(key, "ghk_") || body["prefix"] != key[:12] || fmt.Sprint(body["scopes"]) != "[api-keys articles:read]" {
			t.Fatalf("create: %s", res.body)
		}
		readOnly := create(bearer, `{"name":"ro","scopes":["articles:read"]}`).json(t)["key"].(string)

		for _, tc := range []struct {
			name   string
			c      credential
			body   string
			status int
			want   string
		}{
			{"a scope the owner lacks", bearer, `{"name":"x","scopes":["users:delete"]}`, 400, `{"detail":"API_KEY_SCOPE_NOT_ALLOWED"}`},
			{"no name", bearer, `{"scopes":[]}`, 422, ""},
			{"expiry in the past", bearer, `{"name":"x","scopes":[],"expires_at":"2000-01-01T00:00:00Z"}`, 422, ""},
			{"no credential", credential{}, `{"name":"x","scopes":[]}`, 401, unauthorized},
			{"a key without the api-keys scope", keyCredential(readOnly), `{"name":"x","scopes":[]}`, 403, forbidden},
			{"a key cannot grant more than itself", keyCredential(key), `{"name":"x","scopes":["articles:write"]}`, 400, `{"detail":"API_KEY_SCOPE_NOT_ALLOWED"}`},
			{"a key with api-keys makes a narrower key", keyCredential(key), `{"name":"x","scopes":["articles:read"]}`, 201, ""},
			{"bad checksum", keyCredential(otherLastChar(key)), `{"name":"x","scopes":[]}`, 401, unauthorized},
		} {
			res := create(tc.c, tc.body)
			if res.status != tc.status || (tc.want != "" && res.body != tc.want) {
				t.Fatalf("%s: %d %s", tc.name, res.status, res.body)
			}
		}

		// The key reads the account, does not manage it, and lists show no secret.
		if res := s.send("GET", "/users/me", keyCredential(readOnly)); res.status != 200 {
			t.Fatalf("GET /users/me with a key: %d", res.status)
		}
		if res := s.send("GET", "/users/me?api_key="+readOnly, credential{}); res.status != 401 {
			t.Fatalf("a key in the query string: %d", res.status)
		}
		req, _ := http.NewRequest("PATCH", s.URL+"/users/me", strings.NewReader(`{"password":"a new passphrase"}`))
		req.Header.Set("Content-Type", "application/json")
		keyCredential(key).apply(req)
		if res := s.doRequest(req); res.status != 403 {
			t.Fatalf("PATCH /users/me with a key: %d", res.status)
		}
		res = s.send("GET", "/users/me/api-keys", bearer)
		if res.status != 200 || strings.Contains(res.body, key) || strings.Count(res.body, `"prefix"`) != 3 {
			t.Fatalf("list: %d %s", res.status, res.body)
		}
		var list []map[string]any
		jsonUnmarshal(res.body, &list)
		var roID string
		for _, k := range list {
			if k["name"] == "ro" {
				roID = k["id"].(string)
			}
		}
		if res := s.send("DELETE", "/users/me/api-keys/"+roID, bearer); res.status != 204 {
			t.Fatalf("delete: %d", res.status)
		}
		if res := s.send("GET", "/users/me", keyCredential(readOnly)); res.status != 401 {
			t.Fatalf("a deleted key: %d", res.status)
		}
		if res := s.send("GET", "/users/"+aliceID+"/api-keys", credential{"Authorization", "Bearer " + admin}); res.status != 200 {
			t.Fatalf("superuser list: %d", res.status)
		}
		// A deactivated owner's keys stop working.
		s.set("alice@example.com", gatehouse.UserUpdate{IsActive: ptr(false)})
		if res := s.send("GET", "/users/me", keyCredential(key)); res.status != 401 {
			t.Fatalf("a deactivated owner's key: %d", res.status)
		}
		// No login route for the API-key backend.
		if res := s.form("/auth/apikey/login", map[string][]string{"username": {"a"}, "password": {"b"}}); res.status != 404 {
			t.Fatalf("POST /auth/apikey/login: %d", res.status)
		}
	})
}

func TestAuthorize(t *testing.T) {
	owner, err := authz.CompileCEL("owner", `resource.owner_id == user.id`)
	if err != nil {
		t.Fatal(err)
	}
	admins, err := authz.CompileCEL("admins", `"admin" in user.roles && action == "delete"`)
	if err != nil {
		t.Fatal(err)
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{authz: true, policies: authz.CELPolicies{owner, admins}})
		_, root := s.user("root@example.com", true, true, true)
		aliceID, alice := s.user("alice@example.com", false, false, true)
		bobID, bob := s.user("bob@example.com", false, false, true)
		s.json("POST", "/roles", `{"name":"admin"}`, root)
		s.json("PUT", "/users/"+bobID+"/roles", `{"roles":["admin"]}`, root)
		for _, tc := range []struct {
			name, token, body string
			status            int
			allow             bool
		}{
			{"no token", "", `{"action":"read","resource":{}}`, 401, false},
			{"owner", alice, `{"action":"read","resource":{"owner_id":"` + aliceID + `"}}`, 200, true},
			{"not the owner", bob, `{"action":"read","resource":{"owner_id":"` + aliceID + `"}}`, 200, false},
			{"admin deletes", bob, `{"action":"delete","resource":{"owner_id":"` + aliceID + `"}}`, 200, true},
			{"missing attribute denies", alice, `{"action":"read","resource":{}}`, 200, false},
			{"no action", alice, `{"resource":{}}`, 422, false},
			{"resource not an object", alice, `{"action":"read","resource":[1]}`, 422, false},
		} {
			res := s.json("POST", "/authorize", tc.body, tc.token)
			if res.status != tc.status {
				t.Fatalf("%s: %d %s", tc.name, res.status, res.body)
			}
			if tc.status == 200 && res.json(t)["allow"] != tc.allow {
				t.Fatalf("%s: %s", tc.name, res.body)
			}
		}
	})
}

// otherLastChar returns key with its last character changed, so that its
// checksum no longer matches.
func otherLastChar(key string) string {
	last := "A"
	if strings.HasSuffix(key, last) {
		last = "B"
	}
	return key[:len(key)-1] + last
}
