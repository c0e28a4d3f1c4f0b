package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/redis/redistest"
	"github.com/gatehouse/gatehouse/webauthntest"
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

// BenchmarkGetMe measures an authenticated GET /users/me for each token
// strategy on each engine: token check (and revocation lookup for JWTs),
// then the user lookup.
func BenchmarkGetMe(b *testing.B) {
	for _, e := range engines {
		for _, strategy := range []string{"jwt", "database", "redis"} {
			b.Run(e.name+"/"+strategy, func(b *testing.B) {
				st := e.open(b, &clock{now: time.Now().UTC().Truncate(time.Second)})
				if strategy == "redis" {
					st.useRedis(b, redistest.New(b), true)
				}
				s := start(b, st, options{backends: []string{"b=bearer+" + strategy}})
				s.register("bench@example.com", "password123")
				c := s.loginAs("b", "bench@example.com", "password123")
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
						c.apply(r)
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
}

// BenchmarkPasskeyLogin measures a login with a passkey alone, in process
// on SQLite: POST /auth/jwt/passkey/begin, the software authenticator's
// ES256 signature (the browser's part, included), and POST
// /auth/jwt/passkey (state opened, signature verified, nonce spent, counter
// stored, token issued).
func BenchmarkPasskeyLogin(b *testing.B) {
	s := newServer(b, engines[0], options{mfa: true})
	_, token := s.user("bench@example.com", false, true, true)
	authn := webauthntest.New(passkeyOrigin)
	serve := func(method, path, body, bearer string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, r)
		return rec
	}
	var c struct {
		Options json.RawMessage `json:"options"`
		State   string          `json:"state"`
	}
	rec := serve(http.MethodPost, "/users/me/mfa/passkeys/begin", "", token)
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		b.Fatal(err)
	}
	cred, err := authn.Create(c.Options)
	if err != nil {
		b.Fatal(err)
	}
	add, _ := json.Marshal(map[string]any{"state": c.State, "credential": json.RawMessage(cred)})
	if rec := serve(http.MethodPost, "/users/me/mfa/passkeys", string(add), token); rec.Code != http.StatusCreated {
		b.Fatalf("add passkey: %d %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := serve(http.MethodPost, "/auth/jwt/passkey/begin", "", "")
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			b.Fatal(err)
		}
		assertion, err := authn.Get(c.Options)
		if err != nil {
			b.Fatal(err)
		}
		login, _ := json.Marshal(map[string]any{"state": c.State, "credential": json.RawMessage(assertion)})
		if rec := serve(http.MethodPost, "/auth/jwt/passkey", string(login), ""); rec.Code != http.StatusOK {
			b.Fatalf("passkey login: %d %s", rec.Code, rec.Body)
		}
	}
}
