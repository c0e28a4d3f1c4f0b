package httpapi_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/totp"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// enrolTOTP turns an authenticator app on for the holder of token and
// returns its secret and recovery codes. The confirming code is of the
// clock's current step, which is then spent.
func enrolTOTP(t *testing.T, s *server, token string) ([]byte, []string) {
	t.Helper()
	res := s.json(http.MethodPost, "/users/me/mfa/totp", "", token)
	if res.status != http.StatusOK {
		t.Fatalf("POST /users/me/mfa/totp: %d %s", res.status, res.body)
	}
	var e struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}
	if err := json.Unmarshal([]byte(res.body), &e); err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil || len(secret) < 20 {
		t.Fatalf("secret %q: %d bytes, %v", e.Secret, len(secret), err)
	}
	if u, err := url.Parse(e.URI); err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != e.Secret {
		t.Errorf("otpauth_uri %q does not carry the secret", e.URI)
	}
	res = s.json(http.MethodPost, "/users/me/mfa/totp/confirm", codeBody(totp.Code(secret, totp.Step(s.clock.Now()))), token)
	if res.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", res.status, res.body)
	}
	var rc struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal([]byte(res.body), &rc); err != nil {
		t.Fatal(err)
	}
	return secret, rc.Codes
}

func codeBody(code string) string {
	b, _ := json.Marshal(map[string]string{"code": code})
	return string(b)
}

func mfaBody(token, code string) string {
	b, _ := json.Marshal(map[string]string{"mfa_token": token, "code": code})
	return string(b)
}

// passwordStep logs in with the password and returns the mfa_token the
// answer must carry.
func passwordStep(t *testing.T, s *server, backend, email string) string {
	t.Helper()
	res := s.form("/auth/"+backend+"/login", url.Values{"username": {email}, "password": {"password123"}})
	m := res.json(t)
	tok, _ := m["mfa_token"].(string)
	if res.status != http.StatusUnauthorized || m["detail"] != "LOGIN_MFA_REQUIRED" || !strings.HasPrefix(tok, "ghm_") {
		t.Fatalf("password step: %d %s, want 401 LOGIN_MFA_REQUIRED with an mfa_token", res.status, res.body)
	}
	if res.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("password step: WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
	}
	return tok
}

func wantDetail(t *testing.T, what string, res response, status int, detail string) {
	t.Helper()
	if res.status != status || !strings.Contains(res.body, `"detail":"`+detail+`"`) {
		t.Errorf("%s: %d %s, want %d %s", what, res.status, res.body, status, detail)
	}
}

// TestMFA walks the second factor's life: enrolment, logins with a code and
// with recovery codes, replays refused, removal.
func TestMFA(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{mfa: true, audit: true, backends: []string{"jwt=bearer+jwt", "db=bearer+database"}})
		id, token := s.user("mia@example.com", false, true, true)

		res := s.json(http.MethodGet, "/users/me/mfa", "", token)
		if res.status != http.StatusOK || res.body != `{"totp":false,"passkeys":[],"recovery_codes":0,"required":false}` {
			t.Fatalf("GET /users/me/mfa before: %d %s", res.status, res.body)
		}
		// Not on until confirmed: a wrong first code changes nothing.
		res = s.json(http.MethodPost, "/users/me/mfa/totp", "", token)
		if res.status != http.StatusOK {
			t.Fatalf("begin: %d %s", res.status, res.body)
		}
		wantDetail(t, "confirm with a wrong code", s.json(http.MethodPost, "/users/me/mfa/totp/confirm", codeBody("000000"), token), 400, "MFA_BAD_CODE")
		s.login("mia@example.com", "password123") // no second step yet

		secret, recovery := enrolTOTP(t, s, token)
		if len(recovery) != 10 {
			t.Fatalf("%d recovery codes, want 10", len(recovery))
		}
		res = s.json(http.MethodGet, "/users/me/mfa", "", token)
		if res.body != `{"totp":true,"passkeys":[],"recovery_codes":10,"required":false}` {
			t.Errorf("GET /users/me/mfa after: %s", res.body)
		}
		wantDetail(t, "begin again", s.json(http.MethodPost, "/users/me/mfa/totp", "", token), 400, "MFA_TOTP_ALREADY_ENABLED")

		// The code that confirmed is spent: the same step is a replay.
		mt := passwordStep(t, s, "jwt", "mia@example.com")
		now := totp.Step(s.clock.Now())
		wantDetail(t, "the confirming code again", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, now)), ""), 400, "MFA_BAD_CODE")
		// The next step's code (the app a little ahead) logs in, once.
		res = s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, now+1)), "")
		if res.status != http.StatusOK {
			t.Fatalf("second step: %d %s", res.status, res.body)
		}
		access, _ := res.json(t)["access_token"].(string)
		if me := s.json(http.MethodGet, "/users/me", "", access); me.status != http.StatusOK {
			t.Errorf("GET /users/me with the token of the second step: %d %s", me.status, me.body)
		}
		wantDetail(t, "the used mfa_token again", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, now+1)), ""), 400, "MFA_BAD_TOKEN")

		s.clock.Add(30 * time.Second) // step now+1: spent
		mt = passwordStep(t, s, "db", "mia@example.com")
		wantDetail(t, "a code replayed within its window", s.json(http.MethodPost, "/auth/db/mfa", mfaBody(mt, totp.Code(secret, now+1)), ""), 400, "MFA_BAD_CODE")
		wantDetail(t, "another backend's mfa_token", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, recovery[0]), ""), 400, "MFA_BAD_TOKEN")
		// A recovery code, typed loosely, works once.
		loose := strings.ToUpper(strings.ReplaceAll(recovery[0], "-", " "))
		if res := s.json(http.MethodPost, "/auth/db/mfa", mfaBody(mt, loose), ""); res.status != http.StatusOK {
			t.Fatalf("second step with a recovery code: %d %s", res.status, res.body)
		}
		mt = passwordStep(t, s, "jwt", "mia@example.com")
		wantDetail(t, "a used recovery code", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, recovery[0]), ""), 400, "MFA_BAD_CODE")
		for _, bad := range []string{"", "12345", "1234567", "abcdef", "not-a-code", strings.Repeat("9", 200)} {
			wantDetail(t, "code "+bad, s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, bad), ""), 400, "MFA_BAD_CODE")
		}
		for _, bad := range []string{"", "ghm_", "ghm_nope", "nope", strings.Repeat("x", 300)} {
			wantDetail(t, "mfa_token "+bad, s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(bad, "123456"), ""), 400, "MFA_BAD_TOKEN")
		}
		if res := s.json(http.MethodPost, "/auth/jwt/mfa", `{"code":"123456"}`, ""); res.status != http.StatusUnprocessableEntity {
			t.Errorf("second step without mfa_token: %d %s, want 422", res.status, res.body)
		}
		// The mfa_token lives five minutes.
		s.clock.Add(5 * time.Minute)
		wantDetail(t, "an expired mfa_token", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, totp.Step(s.clock.Now()))), ""), 400, "MFA_BAD_TOKEN")

		// New recovery codes void the old ones.
		s.clock.Add(30 * time.Second)
		res = s.json(http.MethodPost, "/users/me/mfa/recovery-codes", codeBody(totp.Code(secret, totp.Step(s.clock.Now()))), token)
		if res.status != http.StatusOK {
			t.Fatalf("new recovery codes: %d %s", res.status, res.body)
		}
		mt = passwordStep(t, s, "jwt", "mia@example.com")
		wantDetail(t, "an old recovery code", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, recovery[1]), ""), 400, "MFA_BAD_CODE")

		// Removal takes the password (or a code); then the password alone
		// logs in again.
		wantDetail(t, "remove with a wrong password", s.json(http.MethodDelete, "/users/me/mfa/totp", `{"password":"wrong-password"}`, token), 400, "LOGIN_BAD_CREDENTIALS")
		if res := s.json(http.MethodDelete, "/users/me/mfa/totp", `{"code":"1","password":"x"}`, token); res.status != http.StatusUnprocessableEntity {
			t.Errorf("remove with both a code and a password: %d %s, want 422", res.status, res.body)
		}
		if res := s.json(http.MethodDelete, "/users/me/mfa/totp", `{"password":"password123"}`, token); res.status != http.StatusNoContent {
			t.Fatalf("remove: %d %s", res.status, res.body)
		}
		s.login("mia@example.com", "password123")
		if res := s.json(http.MethodGet, "/users/me/mfa", "", token); res.body != `{"totp":false,"passkeys":[],"recovery_codes":0,"required":false}` {
			t.Errorf("GET /users/me/mfa after removal: %s", res.body)
		}

		// Every step left a record.
		events, _, err := s.stack.audit.ListAuditEvents(context.Background(), gatehouse.AuditFilter{UserID: mustID(t, id)})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, ev := range events {
			seen[string(ev.Event)+"/"+string(ev.Outcome)]++
		}
		for _, want := range []string{"mfa.enabled/success", "mfa.succeeded/success", "mfa.failed/failure", "mfa.recovery_codes_replaced/success", "mfa.disabled/success", "mfa.disabled/failure"} {
			if seen[want] == 0 {
				t.Errorf("no %s audit event; have %v", want, seen)
			}
		}
	})
}

func mustID(t *testing.T, s string) gatehouse.ID {
	t.Helper()
	id, err := gatehouse.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMFAThrottled checks that codes are counted per account: after the
// burst, 429 with Retry-After, even with a right code.
func TestMFAThrottled(t *testing.T) {
	t.Parallel()
	mem := ratelimit.NewMemory(0)
	s := newServer(t, engines[0], options{mfa: true, limiter: mem})
	mem.Now = s.clock.Now // before any request
	_, token := s.user("tom@example.com", false, true, true)
	secret, _ := enrolTOTP(t, s, token)
	mt := passwordStep(t, s, "jwt", "tom@example.com")
	for i := range 4 { // the confirmation counted one
		wantDetail(t, "wrong code "+string(rune('1'+i)), s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, "000000"), ""), 400, "MFA_BAD_CODE")
	}
	res := s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, totp.Step(s.clock.Now())+1)), "")
	wantDetail(t, "a right code over the limit", res, 429, "TOO_MANY_REQUESTS")
	if res.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The limit refills: 10 an hour.
	s.clock.Add(6 * time.Minute)
	if res := s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(passwordStep(t, s, "jwt", "tom@example.com"), totp.Code(secret, totp.Step(s.clock.Now()))), ""); res.status != http.StatusOK {
		t.Errorf("after the wait: %d %s", res.status, res.body)
	}
}

// TestMFAConcurrent sends one mfa_token and one code many times at once:
// exactly one login comes of it.
func TestMFAConcurrent(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{mfa: true})
		_, token := s.user("cy@example.com", false, true, true)
		secret, _ := enrolTOTP(t, s, token)
		mt := passwordStep(t, s, "jwt", "cy@example.com")
		body := mfaBody(mt, totp.Code(secret, totp.Step(s.clock.Now())+1))
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				res := s.json(http.MethodPost, "/auth/jwt/mfa", body, "")
				mu.Lock()
				statuses[res.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if statuses[http.StatusOK] != 1 || statuses[http.StatusBadRequest] != 7 {
			t.Errorf("8 parallel second steps: %v, want one 200 and seven 400", statuses)
		}
	})
}

// TestMFAAdmin checks that a superuser can take a lost app away, and that
// API keys cannot manage second factors.
func TestMFAAdmin(t *testing.T) {
	t.Parallel()
	s := newServer(t, engines[0], options{mfa: true, authz: true, backends: []string{"jwt=bearer+jwt", "apikey=apikey+apikey"}})
	_, root := s.user("root@example.com", true, true, true)
	id, token := s.user("lou@example.com", false, true, true)
	enrolTOTP(t, s, token)
	passwordStep(t, s, "jwt", "lou@example.com")

	res := s.json(http.MethodPost, "/users/me/api-keys", `{"name":"ci","scopes":[]}`, token)
	if res.status != http.StatusCreated {
		t.Fatalf("create key: %d %s", res.status, res.body)
	}
	key, _ := res.json(t)["key"].(string)
	req, _ := http.NewRequest(http.MethodDelete, s.URL+"/users/me/mfa/totp", strings.NewReader(`{"password":"password123"}`))
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	if res := s.doRequest(req); res.status != http.StatusForbidden {
		t.Errorf("DELETE /users/me/mfa/totp with an API key: %d %s, want 403", res.status, res.body)
	}

	if res := s.json(http.MethodDelete, "/users/"+id+"/mfa/totp", "", token); res.status != http.StatusForbidden {
		t.Errorf("DELETE /users/{id}/mfa/totp by the user: %d, want 403", res.status)
	}
	// A passkey too: the superuser finds it, and removes it.
	addPasskey(t, s, webauthntest.New(passkeyOrigin), token, "key")
	if res := s.json(http.MethodGet, "/users/"+id+"/mfa", "", token); res.status != http.StatusForbidden {
		t.Errorf("GET /users/{id}/mfa by the user: %d, want 403", res.status)
	}
	res = s.json(http.MethodGet, "/users/"+id+"/mfa", "", root)
	var st struct {
		TOTP     bool `json:"totp"`
		Passkeys []struct {
			ID string `json:"id"`
		} `json:"passkeys"`
	}
	if res.status != http.StatusOK || jsonUnmarshal(res.body, &st) != nil || !st.TOTP || len(st.Passkeys) != 1 {
		t.Fatalf("GET /users/{id}/mfa by a superuser: %d %s", res.status, res.body)
	}
	if res := s.json(http.MethodDelete, "/users/"+id+"/mfa/totp", "", root); res.status != http.StatusNoContent {
		t.Fatalf("DELETE /users/{id}/mfa/totp by a superuser: %d %s", res.status, res.body)
	}
	passwordStep(t, s, "jwt", "lou@example.com") // the passkey remains
	if res := s.json(http.MethodDelete, "/users/"+id+"/mfa/passkeys/"+st.Passkeys[0].ID, "", token); res.status != http.StatusForbidden {
		t.Errorf("DELETE /users/{id}/mfa/passkeys/{passkey_id} by the user: %d, want 403", res.status)
	}
	wantDetail(t, "remove an unknown passkey", s.json(http.MethodDelete, "/users/"+id+"/mfa/passkeys/"+id, "", root), 404, "Not Found")
	if res := s.json(http.MethodDelete, "/users/"+id+"/mfa/passkeys/"+st.Passkeys[0].ID, "", root); res.status != http.StatusNoContent {
		t.Fatalf("DELETE /users/{id}/mfa/passkeys/{passkey_id} by a superuser: %d %s", res.status, res.body)
	}
	s.login("lou@example.com", "password123")
}

// TestOAuthMFA checks that a provider's login does not skip the second
// factor: an API flow gets the same 401 and mfa_token as a password login,
// a browser flow is sent to the code form without a login cookie.
func TestOAuthMFA(t *testing.T) {
	t.Parallel()
	for _, formURL := range []string{"", "https://gate.example/login/mfa"} {
		t.Run("code form "+formURL, func(t *testing.T) {
			s, idp := oauthServerWith(t, engines[0], options{mfa: true, mfaLoginURL: formURL})
			idp.AddUser("sub-ada", "ada@example.com", true)
			idp.AddUser("sub-eve", "eve@example.com", true)

			// An API flow: the first login makes the user, who adds an app.
			authURL, csrf := s.authorize("/auth/idp/authorize", "")
			res := s.callback(idp.Login(t, authURL, "sub-ada"), csrf, "")
			token, _ := res.json(t)["access_token"].(string)
			if res.status != http.StatusOK || token == "" {
				t.Fatalf("first provider login: %d %s", res.status, res.body)
			}
			secret, _ := enrolTOTP(t, s, token)
			authURL, csrf = s.authorize("/auth/idp/authorize", "")
			res = s.callback(idp.Login(t, authURL, "sub-ada"), csrf, "")
			mt, _ := res.json(t)["mfa_token"].(string)
			if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `"detail":"LOGIN_MFA_REQUIRED"`) || mt == "" {
				t.Fatalf("provider login with a second factor: %d %s, want 401 LOGIN_MFA_REQUIRED", res.status, res.body)
			}
			res = s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, totp.Step(s.clock.Now())+1)), "")
			if res.status != http.StatusOK {
				t.Fatalf("second step of a provider login: %d %s", res.status, res.body)
			}

			// A browser flow, on the cookie backend.
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			browse := func(user string) *http.Response {
				t.Helper()
				r, err := noFollow.Get(s.URL + "/auth/browser/authorize?redirect=true&return_to=https://app.example/welcome")
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				c, err := http.ParseSetCookie(r.Header.Get("Set-Cookie"))
				if err != nil {
					t.Fatal(err)
				}
				cb, err := url.Parse(idp.Login(t, r.Header.Get("Location"), user))
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodGet, s.URL+cb.RequestURI(), nil)
				req.AddCookie(&http.Cookie{Name: "fastapiusersoauthcsrf", Value: c.Value})
				r, err = noFollow.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				return r
			}
			r := browse("sub-eve")
			var cookie string
			for _, raw := range r.Header.Values("Set-Cookie") {
				if c, err := http.ParseSetCookie(raw); err == nil && c.Name == "gatehouse_auth" {
					cookie = c.Value
				}
			}
			if r.StatusCode != http.StatusFound || cookie == "" {
				t.Fatalf("first browser login: %d, cookie %q", r.StatusCode, cookie)
			}
			enrolTOTP(t, s, cookie) // the cookie holds a JWT the bearer backend takes too
			r = browse("sub-eve")
			for _, raw := range r.Header.Values("Set-Cookie") {
				if c, err := http.ParseSetCookie(raw); err == nil && c.Name == "gatehouse_auth" && c.Value != "" {
					t.Errorf("a browser login with a second factor set the login cookie")
				}
			}
			if formURL == "" {
				if r.StatusCode != http.StatusUnauthorized {
					t.Errorf("browser login without a code form: %d, want 401", r.StatusCode)
				}
				return
			}
			loc, err := url.Parse(r.Header.Get("Location"))
			if err != nil || r.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), formURL+"?") {
				t.Fatalf("browser login with a second factor: %d to %q, want the code form", r.StatusCode, r.Header.Get("Location"))
			}
			mt = loc.Query().Get("mfa_token")
			res = s.json(http.MethodPost, "/auth/cookie/mfa", mfaBody(mt, "000000"), "")
			wantDetail(t, "a wrong code after a browser login", res, http.StatusBadRequest, "MFA_BAD_CODE")

			// When everyone must have a second factor, a provider login of
			// a user without one goes to the code form to add one.
			if err := s.stack.settings.SetSetting(context.Background(), gatehouse.SettingMFARequired, gatehouse.MFARequiredEveryone); err != nil {
				t.Fatal(err)
			}
			idp.AddUser("sub-ida", "ida@example.com", true)
			r = browse("sub-ida")
			loc, err = url.Parse(r.Header.Get("Location"))
			if err != nil || r.StatusCode != http.StatusFound || loc.Query().Get("setup") != "1" || loc.Query().Get("mfa_token") == "" {
				t.Fatalf("browser login that must add a second factor: %d to %q, want the code form with setup=1", r.StatusCode, r.Header.Get("Location"))
			}
			res = s.json(http.MethodPost, "/auth/cookie/mfa/totp", body(t, map[string]any{"mfa_token": loc.Query().Get("mfa_token")}), "")
			if res.status != http.StatusOK || !strings.Contains(res.body, `"otpauth_uri":"otpauth://totp/`) {
				t.Errorf("setup after a browser login: %d %s", res.status, res.body)
			}
		})
	}
}
