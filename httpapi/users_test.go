package httpapi_test

import (
	"fmt"
	"testing"
)

func TestUsersMe(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		id, tok := s.user("alice@example.com", false, true, true)
		_, inactive := s.user("inactive@example.com", false, true, false)
		me := `{"id":"` + id + `","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":true}`

		for _, tc := range []struct {
			name   string
			method string
			ct     string
			body   string
			token  string
			status int
			want   string
		}{
			{"get: no token", "GET", "", "", "", 401, unauthorized},
			{"get: bad token", "GET", "", "", "x.y.z", 401, unauthorized},
			{"get: inactive", "GET", "", "", inactive, 401, unauthorized},
			{"get: ok", "GET", "", "", tok, 200, me},
			{"patch: no token, no body", "PATCH", "", "", "", 401, unauthorized},
			{"patch: no token, invalid fields", "PATCH", "application/json", `{"email":"nope"}`, "", 401, unauthorized},
			{"patch: no token, form body", "PATCH", "application/x-www-form-urlencoded", `a=b`, "", 401, unauthorized},
			{"patch: malformed JSON is checked first", "PATCH", "application/json", `{"email"`, "", 422,
				`{"detail":[{"type":"json_invalid","loc":["body",0],"msg":"JSON decode error","input":{}}]}`},
			{"patch: empty object changes nothing", "PATCH", "application/json", `{}`, tok, 200, me},
			{"patch: flags are ignored", "PATCH", "application/json", `{"is_active":false,"is_superuser":true,"is_verified":false,"id":"x"}`, tok, 200, me},
			{"patch: null password is no change", "PATCH", "application/json", `{"password":null}`, tok, 200, me},
			{"patch: same e-mail keeps verification", "PATCH", "application/json", `{"email":"alice@example.com"}`, tok, 200, me},
			{"patch: e-mail taken", "PATCH", "application/json", `{"email":"INACTIVE@example.com"}`, tok, 400, `{"detail":"UPDATE_USER_EMAIL_ALREADY_EXISTS"}`},
			{"patch: own e-mail in other case counts as taken", "PATCH", "application/json", `{"email":"ALICE@example.com"}`, tok, 400, `{"detail":"UPDATE_USER_EMAIL_ALREADY_EXISTS"}`},
			{"patch: short password", "PATCH", "application/json", `{"password":"short"}`, tok, 400,
				`{"detail":{"code":"UPDATE_USER_INVALID_PASSWORD","reason":"Password should be at least 8 characters"}}`},
			{"patch: password error wins over taken e-mail", "PATCH", "application/json", `{"password":"short","email":"inactive@example.com"}`, tok, 400,
				`{"detail":{"code":"UPDATE_USER_INVALID_PASSWORD","reason":"Password should be at least 8 characters"}}`},
			{"patch: bad e-mail", "PATCH", "application/json", `{"email":"nope"}`, tok, 422,
				`{"detail":[{"type":"value_error","loc":["body","email"],"msg":"value is not a valid email address: The email address is not valid. It must have exactly one @-sign.","input":"nope"}]}`},
			{"patch: bad flag type is still a 422", "PATCH", "application/json", `{"is_active":"no"}`, tok, 422,
				`{"detail":[{"type":"bool_type","loc":["body","is_active"],"msg":"Input should be a valid boolean","input":"no"}]}`},
			{"patch: form body", "PATCH", "application/x-www-form-urlencoded", `email=a@example.com`, tok, 422,
				`{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":null}]}`},
			{"patch: no body", "PATCH", "", "", tok, 422,
				`{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
			{"delete /users/me is /users/{id}: 403 for a user", "DELETE", "", "", tok, 403, forbidden},
			{"put is not a method here", "PUT", "application/json", `{}`, tok, 405, `{"detail":"Method Not Allowed"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.do(tc.method, "/users/me", tc.ct, tc.body, tc.token)
				if res.status != tc.status || res.body != tc.want {
					t.Fatalf("got %d %s\nwant %d %s", res.status, res.body, tc.status, tc.want)
				}
			})
		}

		t.Run("e-mail change clears verification", func(t *testing.T) {
			res := s.json("PATCH", "/users/me", `{"email":"Alice2@Example.com"}`, tok)
			want := `{"id":"` + id + `","email":"Alice2@example.com","is_active":true,"is_superuser":false,"is_verified":false}`
			if res.status != 200 || res.body != want {
				t.Fatalf("got %d %s\nwant %s", res.status, res.body, want)
			}
		})
		t.Run("password change", func(t *testing.T) {
			if res := s.json("PATCH", "/users/me", `{"password":"a new passphrase"}`, tok); res.status != 200 {
				t.Fatalf("got %d %s", res.status, res.body)
			}
			if res := s.form("/auth/jwt/login", map[string][]string{"username": {"alice2@example.com"}, "password": {"password123"}}); res.status != 400 {
				t.Fatalf("old password: %d", res.status)
			}
			s.login("alice2@example.com", "a new passphrase")
		})
	})
}

func TestUsersByID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		adminID, admin := s.user("admin@example.com", true, true, true)
		id, tok := s.user("alice@example.com", false, false, true)
		_, inactiveAdmin := s.user("inactive-admin@example.com", true, true, false)
		s.register("bob@example.com", "password123")
		const missingID = "7b0f6d1c-1f55-4d4e-9b4b-6a2f5f0c9a11"
		alice := `{"id":"` + id + `","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":false}`

		for _, tc := range []struct {
			name   string
			method string
			path   string
			body   string
			token  string
			status int
			want   string
		}{
			{"get: no token", "GET", "/users/" + id, "", "", 401, unauthorized},
			{"get: inactive superuser", "GET", "/users/" + id, "", inactiveAdmin, 401, unauthorized},
			{"get: not a superuser", "GET", "/users/" + adminID, "", tok, 403, forbidden},
			{"get: not a superuser, unknown id", "GET", "/users/" + missingID, "", tok, 403, forbidden},
			{"get: not a superuser, invalid id", "GET", "/users/not-a-uuid", "", tok, 403, forbidden},
			{"get: invalid id", "GET", "/users/not-a-uuid", "", admin, 404, notFound},
			{"get: unknown id", "GET", "/users/" + missingID, "", admin, 404, notFound},
			{"get: ok", "GET", "/users/" + id, "", admin, 200, alice},
			{"patch: no token", "PATCH", "/users/" + id, `{"email":"bad"}`, "", 401, unauthorized},
			{"patch: not a superuser", "PATCH", "/users/" + missingID, `{}`, tok, 403, forbidden},
			{"patch: malformed JSON before auth", "PATCH", "/users/" + id, `{`, "", 422,
				`{"detail":[{"type":"json_invalid","loc":["body",0],"msg":"JSON decode error","input":{}}]}`},
			{"patch: unknown id before validation", "PATCH", "/users/" + missingID, `{"email":"bad"}`, admin, 404, notFound},
			{"patch: invalid body", "PATCH", "/users/" + id, `{"email":"bad"}`, admin, 422, ""},
			{"patch: e-mail taken", "PATCH", "/users/" + id, `{"email":"bob@example.com"}`, admin, 400, `{"detail":"UPDATE_USER_EMAIL_ALREADY_EXISTS"}`},
			{"patch: flags apply", "PATCH", "/users/" + id, `{"is_verified":true,"is_superuser":true}`, admin, 200,
				`{"id":"` + id + `","email":"alice@example.com","is_active":true,"is_superuser":true,"is_verified":true}`},
			{"patch: e-mail change with is_verified keeps it", "PATCH", "/users/" + id, `{"email":"alice3@example.com","is_verified":true,"is_superuser":false}`, admin, 200,
				`{"id":"` + id + `","email":"alice3@example.com","is_active":true,"is_superuser":false,"is_verified":true}`},
			{"patch: e-mail change clears verification", "PATCH", "/users/" + id, `{"email":"alice@example.com"}`, admin, 200, alice},
			{"patch: short password", "PATCH", "/users/" + id, `{"password":"x"}`, admin, 400,
				`{"detail":{"code":"UPDATE_USER_INVALID_PASSWORD","reason":"Password should be at least 8 characters"}}`},
			{"delete: no token", "DELETE", "/users/" + id, "", "", 401, unauthorized},
			{"delete: not a superuser", "DELETE", "/users/" + adminID, "", tok, 403, forbidden},
			{"delete: /users/me as superuser", "DELETE", "/users/me", "", admin, 404, notFound},
			{"delete: unknown id", "DELETE", "/users/" + missingID, "", admin, 404, notFound},
			{"delete: ok", "DELETE", "/users/" + id, "", admin, 204, ""},
			{"delete: again", "DELETE", "/users/" + id, "", admin, 404, notFound},
			{"get: deleted", "GET", "/users/" + id, "", admin, 404, notFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.json(tc.method, tc.path, tc.body, tc.token)
				if res.status != tc.status || (tc.want != "" || tc.status == 204) && res.body != tc.want {
					t.Fatalf("got %d %s\nwant %d %s", res.status, res.body, tc.status, tc.want)
				}
			})
		}
	})
}

func TestListUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		_, admin := s.user("admin@example.com", true, true, true)
		_, tok := s.user("user0@example.com", false, false, true)
		for i := 1; i < 5; i++ {
			s.register(fmt.Sprintf("user%d@example.com", i), "password123")
		}
		s.register("under_score@example.org", "password123")

		for _, tc := range []struct {
			name   string
			query  string
			token  string
			status int
			emails []string
			total  int
		}{
			{"no token", "", "", 401, nil, 0},
			{"not a superuser", "", tok, 403, nil, 0},
			{"all", "", admin, 200, []string{"admin@example.com", "user0@example.com", "user1@example.com", "user2@example.com", "user3@example.com", "user4@example.com", "under_score@example.org"}, 7},
			{"page", "?limit=2&offset=2", admin, 200, []string{"user1@example.com", "user2@example.com"}, 7},
			{"filter ignores case", "?email=USER", admin, 200, []string{"user0@example.com", "user1@example.com", "user2@example.com", "user3@example.com", "user4@example.com"}, 5},
			{"underscore is literal", "?email=_", admin, 200, []string{"under_score@example.org"}, 1},
			{"percent is literal", "?email=%25", admin, 200, []string{}, 0},
			{"past the end", "?offset=50", admin, 200, []string{}, 7},
			{"limit too large", "?limit=101", admin, 422, nil, 0},
			{"limit zero", "?limit=0", admin, 422, nil, 0},
			{"negative offset", "?offset=-1", admin, 422, nil, 0},
			{"limit not a number", "?limit=ten", admin, 422, nil, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.do("GET", "/users"+tc.query, "", "", tc.token)
				if res.status != tc.status {
					t.Fatalf("status = %d, want %d (%s)", res.status, tc.status, res.body)
				}
				if tc.status != 200 {
					return
				}
				page := res.json(t)
				items := page["items"].([]any)
				var emails []string
				for _, it := range items {
					emails = append(emails, it.(map[string]any)["email"].(string))
				}
				if fmt.Sprint(emails) != fmt.Sprint(tc.emails) || page["total"] != float64(tc.total) {
					t.Fatalf("got %v total %v, want %v total %d", emails, page["total"], tc.emails, tc.total)
				}
			})
		}
	})
}

func TestUnknownRoutes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		for _, tc := range []struct {
			method, path string
			status       int
			want         string
		}{
			{"GET", "/nope", 404, notFound},
			{"POST", "/auth/other/login", 404, notFound},
			{"GET", "/auth/register", 405, `{"detail":"Method Not Allowed"}`},
			{"GET", "/healthz", 200, `{"status":"ok"}`},
			{"GET", "/readyz", 200, `{"status":"ok","checks":{}}`},
		} {
			res := s.do(tc.method, tc.path, "", "", "")
			if res.status != tc.status || res.body != tc.want {
				t.Errorf("%s %s: got %d %s, want %d %s", tc.method, tc.path, res.status, res.body, tc.status, tc.want)
			}
		}
	})
}
