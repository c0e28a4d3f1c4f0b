package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"golang.org/x/crypto/bcrypt"
)

const (
	unauthorized = `{"detail":"Unauthorized"}`
	forbidden    = `{"detail":"Forbidden"}`
	notFound     = `{"detail":"Not Found"}`
	badCreds     = `{"detail":"LOGIN_BAD_CREDENTIALS"}`
)

func TestLogin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		s.register("alice@example.com", "password123")
		s.user("inactive@example.com", false, true, false)

		for _, tc := range []struct {
			name   string
			ct     string
			body   string
			status int
			want   string // exact body; "" = checked below for 200
		}{
			{"ok", "application/x-www-form-urlencoded", "username=alice@example.com&password=password123", 200, ""},
			{"email ignores case", "application/x-www-form-urlencoded", "username=ALICE@Example.COM&password=password123", 200, ""},
			{"grant_type password", "application/x-www-form-urlencoded", "grant_type=password&username=alice@example.com&password=password123&scope=&client_id=x", 200, ""},
			{"wrong password", "application/x-www-form-urlencoded", "username=alice@example.com&password=nope12345", 400, badCreds},
			{"unknown e-mail", "application/x-www-form-urlencoded", "username=bob@example.com&password=password123", 400, badCreds},
			{"inactive user", "application/x-www-form-urlencoded", "username=inactive@example.com&password=password123", 400, badCreds},
			{"password case matters", "application/x-www-form-urlencoded", "username=alice@example.com&password=PASSWORD123", 400, badCreds},
			{"missing password", "application/x-www-form-urlencoded", "username=alice@example.com", 422,
				`{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}`},
			{"empty values count as missing", "application/x-www-form-urlencoded", "username=&password=", 422,
				`{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required","input":null},{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}`},
			{"bad grant_type", "application/x-www-form-urlencoded", "grant_type=client_credentials&username=alice@example.com&password=password123", 422,
				`{"detail":[{"type":"string_pattern_mismatch","loc":["body","grant_type"],"msg":"String should match pattern '^password$'","input":"client_credentials"}]}`},
			{"JSON is not accepted", "application/json", `{"username":"alice@example.com","password":"password123"}`, 422,
				`{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required","input":null},{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}`},
			{"no body", "", "", 422,
				`{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required","input":null},{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}`},
			{"malformed form", "application/x-www-form-urlencoded", "username=%zz&password=x", 422,
				`{"detail":[{"type":"value_error","loc":["body"],"msg":"Invalid form data","input":null}]}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.do(http.MethodPost, "/auth/jwt/login", tc.ct, tc.body, "")
				if res.status != tc.status {
					t.Fatalf("status = %d, want %d (%s)", res.status, tc.status, res.body)
				}
				if tc.want != "" && res.body != tc.want {
					t.Fatalf("body = %s\nwant   %s", res.body, tc.want)
				}
				if tc.status == 200 {
					body := res.json(t)
					if !strings.HasPrefix(res.body, `{"access_token":"`) || body["token_type"] != "bearer" {
						t.Fatalf("body = %s", res.body)
					}
					if body["expires_in"] != float64(900) {
						t.Errorf("expires_in = %v, want 900", body["expires_in"])
					}
					if got := res.header.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control = %q", got)
					}
				}
			})
		}

		t.Run("credentials in the query string are not read", func(t *testing.T) {
			res := s.do(http.MethodPost, "/auth/jwt/login?username=alice@example.com&password=password123", "application/x-www-form-urlencoded", "", "")
			if res.status != 422 {
				t.Fatalf("status = %d, want 422", res.status)
			}
		})
		t.Run("GET is not allowed", func(t *testing.T) {
			res := s.do(http.MethodGet, "/auth/jwt/login?username=alice@example.com&password=password123", "", "", "")
			if res.status != 405 || res.body != `{"detail":"Method Not Allowed"}` || res.header.Get("Allow") == "" {
				t.Fatalf("got %d %s Allow=%q", res.status, res.body, res.header.Get("Allow"))
			}
		})
		t.Run("multipart form", func(t *testing.T) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			mw.WriteField("username", "alice@example.com")
			mw.WriteField("password", "password123")
			mw.Close()
			res := s.do(http.MethodPost, "/auth/jwt/login", mw.FormDataContentType(), b.String(), "")
			if res.status != 200 {
				t.Fatalf("status = %d (%s)", res.status, res.body)
			}
		})
		t.Run("token works and carries no secrets", func(t *testing.T) {
			tok := s.login("alice@example.com", "password123")
			if res := s.do(http.MethodGet, "/users/me", "", "", tok); res.status != 200 {
				t.Fatalf("GET /users/me = %d %s", res.status, res.body)
			}
		})
	})
}

func TestLoginRequiresVerification(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{requireVerification: true})
		s.register("new@example.com", "password123")
		res := s.form("/auth/jwt/login", url.Values{"username": {"new@example.com"}, "password": {"password123"}})
		if res.status != 400 || res.body != `{"detail":"LOGIN_USER_NOT_VERIFIED"}` {
			t.Fatalf("unverified: %d %s", res.status, res.body)
		}
		// Wrong password is still the generic error: verification state is
		// only revealed to someone who knows the password.
		res = s.form("/auth/jwt/login", url.Values{"username": {"new@example.com"}, "password": {"wrong-pass"}})
		if res.status != 400 || res.body != badCreds {
			t.Fatalf("unverified, wrong password: %d %s", res.status, res.body)
		}
		s.set("new@example.com", gatehouse.UserUpdate{IsVerified: ptr(true)})
		s.login("new@example.com", "password123")
	})
}

func TestLoginRehashesLegacyHashes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		s.register("legacy@example.com", "password123")
		legacy, err := bcrypt.GenerateFromPassword([]byte("old-password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		s.set("legacy@example.com", gatehouse.UserUpdate{HashedPassword: ptr(string(legacy))})
		s.login("legacy@example.com", "old-password")
		u, err := s.users.FindUserByEmail(context.Background(), "legacy@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.HashedPassword, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("hash after login = %q, want argon2id with current parameters", u.HashedPassword)
		}
		s.login("legacy@example.com", "old-password")
	})
}

func TestLogout(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		_, tok := s.user("alice@example.com", false, false, true)
		_, inactive := s.user("inactive@example.com", false, false, false)

		for _, tc := range []struct {
			name   string
			token  string
			status int
			want   string
		}{
			{"no token", "", 401, unauthorized},
			{"garbage token", "not-a-jwt", 401, unauthorized},
			{"inactive user", inactive, 401, unauthorized},
			{"ok", tok, 204, ""},
			{"the same token again", tok, 401, unauthorized},
		} {
			res := s.do(http.MethodPost, "/auth/jwt/logout", "", "", tc.token)
			if res.status != tc.status || res.body != tc.want {
				t.Fatalf("%s: got %d %q, want %d %q", tc.name, res.status, res.body, tc.status, tc.want)
			}
			if tc.status == 401 && res.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s: WWW-Authenticate = %q", tc.name, res.header.Get("WWW-Authenticate"))
			}
		}
		// The revoked token is refused everywhere, not only at logout.
		if res := s.do(http.MethodGet, "/users/me", "", "", tok); res.status != 401 {
			t.Fatalf("revoked token on /users/me: %d", res.status)
		}
		// Other tokens of the same user still work.
		if res := s.do(http.MethodGet, "/users/me", "", "", s.login("alice@example.com", "password123")); res.status != 200 {
			t.Fatalf("fresh token: %d", res.status)
		}
	})
}

func TestLogoutRequiresVerification(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		_, tok := s.user("alice@example.com", false, false, true)
		rv := newServerSharing(t, s, options{requireVerification: true})
		if res := rv.do(http.MethodPost, "/auth/jwt/logout", "", "", tok); res.status != 403 || res.body != forbidden {
			t.Fatalf("got %d %s", res.status, res.body)
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		_, tok := s.user("alice@example.com", false, false, true)
		s.clock.Add(15*time.Minute - time.Second)
		if res := s.do(http.MethodGet, "/users/me", "", "", tok); res.status != 200 {
			t.Fatalf("just before expiry: %d", res.status)
		}
		s.clock.Add(time.Second)
		if res := s.do(http.MethodGet, "/users/me", "", "", tok); res.status != 401 || res.body != unauthorized {
			t.Fatalf("at expiry: %d %s", res.status, res.body)
		}
	})
}

func TestDeletedUsersTokenIsRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		_, admin := s.user("admin@example.com", true, true, true)
		id, tok := s.user("alice@example.com", false, false, true)
		if res := s.do(http.MethodDelete, "/users/"+id, "", "", admin); res.status != 204 {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}
		if res := s.do(http.MethodGet, "/users/me", "", "", tok); res.status != 401 {
			t.Fatalf("deleted user's token: %d %s", res.status, res.body)
		}
	})
}

func TestConcurrentRegistrationsOfOneEmail(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		const n = 20
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Mixed case: uniqueness ignores case, in the database.
				email := "Race@Example.com"
				if i%2 == 1 {
					email = "race@example.COM"
				}
				res := s.json(http.MethodPost, "/auth/register", fmt.Sprintf(`{"email":%q,"password":"password123"}`, email), "")
				if res.status == 400 && res.body != `{"detail":"REGISTER_USER_ALREADY_EXISTS"}` {
					t.Errorf("400 body = %s", res.body)
				}
				statuses <- res.status
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for st := range statuses {
			count[st]++
		}
		if count[201] != 1 || count[400] != n-1 {
			t.Fatalf("statuses = %v, want one 201 and %d 400", count, n-1)
		}
	})
}
