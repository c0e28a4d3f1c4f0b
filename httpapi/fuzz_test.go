package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzServer is one SQLite-backed API shared by the inputs of a fuzz run.
func fuzzServer(f *testing.F) (*server, string) {
	s := newServer(f, engines[0], options{maxBody: 64 << 10})
	s.register("fuzz@example.com", "password123")
	return s, s.login("fuzz@example.com", "password123")
}

// serve runs one request in-process and checks the invariants every answer
// keeps: never a 5xx, always a JSON body with "detail" on errors.
func serve(t *testing.T, s *server, r *http.Request, allowed ...int) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.contract.wrap(t, s.handler).ServeHTTP(rec, r)
	ok := false
	for _, st := range allowed {
		ok = ok || rec.Code == st
	}
	if !ok {
		t.Fatalf("%s %s: status %d (%s)", r.Method, r.URL, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && !strings.HasPrefix(rec.Body.String(), `{"detail":`) {
		t.Fatalf("%s %s: error body %q", r.Method, r.URL, rec.Body)
	}
}

func FuzzRegisterBody(f *testing.F) {
	s, _ := fuzzServer(f)
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"email":"a@example.com","password":"password123"}`},
		{"application/json", `{"email":"a@example.com","password":"password123","is_superuser":true}`},
		{"application/json", `{"email":null}`},
		{"application/json", `[]`},
		{"application/json", `{"email":"\u0000@x.com","password":"x"}`},
		{"application/json", `{"email":"fuzz@example.com","password":"password123"}`},
		{"", `{`},
		{"text/plain", `hello`},
		{"application/x-www-form-urlencoded", `email=a@b.com`},
		{"application/json; charset=utf-16", "\xff\xfe{"},
	} {
		f.Add(seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest(http.MethodPost, "/auth/register", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		serve(t, s, r, 201, 400, 413, 422)
	})
}

func FuzzLoginForm(f *testing.F) {
	s, _ := fuzzServer(f)
	for _, seed := range []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", "username=fuzz@example.com&password=password123"},
		{"application/x-www-form-urlencoded", "username=fuzz@example.com&password=wrong"},
		{"application/x-www-form-urlencoded", "username=%zz"},
		{"application/x-www-form-urlencoded", "grant_type=x&username=a&password=b"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nfuzz@example.com\r\n--x--\r\n"},
		{"multipart/form-data", "garbage"},
		{"application/json", `{"username":"a","password":"b"}`},
		{"", ""},
	} {
		f.Add(seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest(http.MethodPost, "/auth/jwt/login", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		serve(t, s, r, 200, 400, 413, 422)
	})
}

func FuzzPatchMe(f *testing.F) {
	s, tok := fuzzServer(f)
	for _, seed := range []string{`{}`, `{"email":"x"}`, `{"password":"short"}`, `{"is_superuser":true}`, `{"email":"fuzz@example.com"}`, `{`, `null`, `"x"`} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, body string, authenticated bool) {
		// Never change the password or e-mail for real: later inputs need
		// the token's user as it was.
		if strings.Contains(body, "password") || strings.Contains(body, "email") {
			authenticated = false
		}
		r := httptest.NewRequest(http.MethodPatch, "/users/me", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if authenticated {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		serve(t, s, r, 200, 400, 401, 413, 422)
	})
}

func FuzzAuthorizationHeader(f *testing.F) {
	s, tok := fuzzServer(f)
	for _, seed := range []string{"Bearer " + tok, "bearer " + tok, "Bearer", "Bearer  ", "Basic abc", "Bearer a.b.c", "Bearer " + tok + "x", "Bearer eyJhbGciOiJub25lIn0.e30.", strings.Repeat("A", 10000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
		r.Header.Set("Authorization", header)
		serve(t, s, r, 200, 401)
	})
}
