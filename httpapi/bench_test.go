package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/password"
)

// BenchmarkLogin measures POST /auth/jwt/login on SQLite, in-process, with
// the production argon2id parameters: hashing dominates, as it should.
func BenchmarkLogin(b *testing.B) {
	for _, bc := range []struct {
		name   string
		params password.Params
	}{{"argon2id-default", password.DefaultParams()}, {"argon2id-cheap", cheap}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newServer(b, engines[0], options{})
			s.m.Hasher = &password.Hasher{Params: bc.params}
			s.register("bench@example.com", "password123")
			body := url.Values{"username": {"bench@example.com"}, "password": {"password123"}}.Encode()
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/auth/jwt/login", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkGetMe measures an authenticated GET /users/me: JWT check,
// revocation lookup and user lookup, on each engine.
func BenchmarkGetMe(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			s := newServer(b, e, options{})
			s.register("bench@example.com", "password123")
			tok := s.login("bench@example.com", "password123")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
					r.Header.Set("Authorization", "Bearer "+tok)
					rec := httptest.NewRecorder()
					s.handler.ServeHTTP(rec, r)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}
