package httpapi_test

import (
	"testing"
)

// TestRouteMatrix calls every protected route without a token (401) and
// every superuser route as a plain user (403), whatever the path's id and
// body: who asks is decided before anything else.
func TestRouteMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{authz: true, sessions: true, backends: []string{"jwt=bearer+jwt", "apikey=apikey+apikey"}})
		id, user := s.user("alice@example.com", false, true, true)
		const other = "7b0f6d1c-1f55-4d4e-9b4b-6a2f5f0c9a11"
		superuser := []struct{ method, path, body string }{
			{"GET", "/users", ""},
			{"GET", "/users/" + id, ""},
			{"PATCH", "/users/" + id, `{}`},
			{"DELETE", "/users/" + id, ""},
			{"GET", "/users/" + other, ""},
			{"DELETE", "/users/me", ""},
			{"GET", "/users/" + id + "/sessions", ""},
			{"DELETE", "/users/" + id + "/sessions", ""},
			{"PUT", "/users/" + id + "/roles", `{"roles":[]}`},
			{"GET", "/users/" + id + "/api-keys", ""},
			{"DELETE", "/users/" + id + "/api-keys/" + other, ""},
			{"GET", "/roles", ""},
			{"POST", "/roles", `{"name":"x"}`},
			{"GET", "/roles/x", ""},
			{"PATCH", "/roles/x", `{}`},
			{"DELETE", "/roles/x", ""},
		}
		user401 := []struct{ method, path, body string }{
			{"GET", "/users/me", ""},
			{"PATCH", "/users/me", `{}`},
			{"GET", "/users/me/sessions", ""},
			{"DELETE", "/users/me/sessions", ""},
			{"DELETE", "/users/me/sessions/" + other, ""},
			{"POST", "/users/me/api-keys", `{"name":"k","scopes":[]}`},
			{"GET", "/users/me/api-keys", ""},
			{"DELETE", "/users/me/api-keys/" + other, ""},
			{"POST", "/authorize", `{"action":"read"}`},
			{"POST", "/auth/jwt/logout", ""},
		}
		for _, r := range append(superuser, user401...) {
			if res := s.json(r.method, r.path, r.body, ""); res.status != 401 || res.body != unauthorized {
				t.Errorf("%s %s without a token: %d %s", r.method, r.path, res.status, res.body)
			}
		}
		for _, r := range superuser {
			if res := s.json(r.method, r.path, r.body, user); res.status != 403 || res.body != forbidden {
				t.Errorf("%s %s as a user: %d %s", r.method, r.path, res.status, res.body)
			}
		}
	})
}
