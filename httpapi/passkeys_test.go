package httpapi_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// The passkey tests play the browser and the authenticator with
// webauthntest, a software authenticator: the server's side is the real
// WebAuthn library, checking real ES256 signatures over real
// clientDataJSON and authenticator data.
const (
	passkeyRPID   = "gatehouse.test"
	passkeyOrigin = "https://gatehouse.test"
)

type ceremony struct {
	Options json.RawMessage `json:"options"`
	State   string          `json:"state"`
}

func readCeremony(t *testing.T, what string, res response) ceremony {
	t.Helper()
	var c ceremony
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &c) != nil || len(c.Options) == 0 {
		t.Fatalf("%s: %d %s, want 200 and options", what, res.status, res.body)
	}
	return c
}

func body(t *testing.T, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// addPasskey runs the registration ceremony for the holder of token and
// returns the answer's fields.
func addPasskey(t *testing.T, s *server, a *webauthntest.Authenticator, token, name string) map[string]any {
	t.Helper()
	c := readCeremony(t, "begin passkey", s.json(http.MethodPost, "/users/me/mfa/passkeys/begin", "", token))
	cred, err := a.Create(c.Options)
	if err != nil {
		t.Fatalf("authenticator create: %v", err)
	}
	res := s.json(http.MethodPost, "/users/me/mfa/passkeys", body(t, map[string]any{"state": c.State, "credential": json.RawMessage(cred), "name": name}), token)
	if res.status != http.StatusCreated {
		t.Fatalf("add passkey: %d %s", res.status, res.body)
	}
	return res.json(t)
}

// passkeyStep answers the second step of mfaToken's login with a's passkey.
func passkeyStep(t *testing.T, s *server, a *webauthntest.Authenticator, backend, mfaToken string) response {
	t.Helper()
	c := readCeremony(t, "begin passkey step", s.json(http.MethodPost, "/auth/"+backend+"/mfa/passkey", body(t, map[string]any{"mfa_token": mfaToken}), ""))
	assertion, err := a.Get(c.Options)
	if err != nil {
		t.Fatalf("authenticator get: %v", err)
	}
	return s.json(http.MethodPost, "/auth/"+backend+"/mfa", body(t, map[string]any{"mfa_token": mfaToken, "credential": json.RawMessage(assertion)}), "")
}

// passkeyLogin logs in with a's passkey alone.
func passkeyLogin(t *testing.T, s *server, a *webauthntest.Authenticator, backend string) (response, ceremony, []byte) {
	t.Helper()
	c := readCeremony(t, "begin passkey login", s.json(http.MethodPost, "/auth/"+backend+"/passkey/begin", "", ""))
	if c.State == "" {
		t.Fatal("begin passkey login: no state")
	}
	assertion, err := a.Get(c.Options)
	if err != nil {
		t.Fatalf("authenticator get: %v", err)
	}
	return s.json(http.MethodPost, "/auth/"+backend+"/passkey", body(t, map[string]any{"state": c.State, "credential": json.RawMessage(assertion)}), ""), c, assertion
}

// TestPasskeys walks a passkey's life: registration (recovery codes with
// the first factor, the state good once), the passkey as second factor,
// a login with the passkey alone, replays, a stranger's authenticator,
// one that did not verify its user, and removal.
func TestPasskeys(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{mfa: true, audit: true, backends: []string{"jwt=bearer+jwt", "db=bearer+database"}})
		id, token := s.user("pia@example.com", false, true, true)
		laptop := webauthntest.New(passkeyOrigin)

		added := addPasskey(t, s, laptop, token, "  laptop ")
		codes, _ := added["recovery_codes"].([]any)
		if added["name"] != "laptop" || len(codes) != 10 || added["last_used_at"] != nil {
			t.Errorf("first passkey: %v, want name laptop, 10 recovery codes, never used", added)
		}
		recovery, _ := codes[0].(string)

		// A registration's state is good once.
		s.clock.Add(time.Second) // passkeys list by creation time
		c := readCeremony(t, "begin", s.json(http.MethodPost, "/users/me/mfa/passkeys/begin", "", token))
		phone := webauthntest.New(passkeyOrigin)
		cred, err := phone.Create(c.Options)
		if err != nil {
			t.Fatal(err)
		}
		add := body(t, map[string]any{"state": c.State, "credential": json.RawMessage(cred), "name": "phone"})
		if res := s.json(http.MethodPost, "/users/me/mfa/passkeys", add, token); res.status != http.StatusCreated || strings.Contains(res.body, "recovery_codes") {
			t.Fatalf("second passkey: %d %s, want 201 without recovery codes", res.status, res.body)
		}
		wantDetail(t, "a registration replayed", s.json(http.MethodPost, "/users/me/mfa/passkeys", add, token), 400, "MFA_BAD_TOKEN")
		// The options exclude the passkeys the user has: an authenticator
		// holding one refuses to make another.
		c = readCeremony(t, "begin", s.json(http.MethodPost, "/users/me/mfa/passkeys/begin", "", token))
		if _, err := laptop.Create(c.Options); err == nil {
			t.Error("the options of a third passkey did not exclude the laptop's")
		}

		var st struct {
			TOTP     bool             `json:"totp"`
			Passkeys []map[string]any `json:"passkeys"`
			Codes    int              `json:"recovery_codes"`
		}
		if err := jsonUnmarshal(s.json(http.MethodGet, "/users/me/mfa", "", token).body, &st); err != nil {
			t.Fatal(err)
		}
		if st.TOTP || st.Codes != 10 || len(st.Passkeys) != 2 || st.Passkeys[0]["name"] != "laptop" || st.Passkeys[1]["name"] != "phone" {
			t.Fatalf("GET /users/me/mfa: %+v", st)
		}
		phoneID, _ := st.Passkeys[1]["id"].(string)

		// A passkey is a second factor: the password alone is not enough.
		mt := passwordStep(t, s, "jwt", "pia@example.com")
		res := passkeyStep(t, s, laptop, "jwt", mt)
		if res.status != http.StatusOK {
			t.Fatalf("second step with a passkey: %d %s", res.status, res.body)
		}
		access, _ := res.json(t)["access_token"].(string)
		if me := s.json(http.MethodGet, "/users/me", "", access); me.status != http.StatusOK {
			t.Errorf("GET /users/me after the passkey step: %d %s", me.status, me.body)
		}
		// An assertion of a ceremony begun before the last one is for
		// another challenge.
		mt2 := passwordStep(t, s, "jwt", "pia@example.com")
		first := readCeremony(t, "begin", s.json(http.MethodPost, "/auth/jwt/mfa/passkey", body(t, map[string]any{"mfa_token": mt2}), ""))
		readCeremony(t, "begin again", s.json(http.MethodPost, "/auth/jwt/mfa/passkey", body(t, map[string]any{"mfa_token": mt2}), ""))
		stale, err := laptop.Get(first.Options)
		if err != nil {
			t.Fatal(err)
		}
		wantDetail(t, "an assertion of another challenge", s.json(http.MethodPost, "/auth/jwt/mfa",
			body(t, map[string]any{"mfa_token": mt2, "credential": json.RawMessage(stale)}), ""), 400, "MFA_BAD_PASSKEY")
		stranger := webauthntest.New(passkeyOrigin)
		_, strangerToken := s.user("sam@example.com", false, true, true)
		addPasskey(t, s, stranger, strangerToken, "sam's")
		// A recovery code stands in for the passkey.
		if res := s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(mt2, recovery), ""); res.status != http.StatusOK {
			t.Fatalf("second step with a recovery code: %d %s", res.status, res.body)
		}
		wantDetail(t, "a one-time code without an app", s.json(http.MethodPost, "/auth/jwt/mfa", mfaBody(passwordStep(t, s, "jwt", "pia@example.com"), "123456"), ""), 400, "MFA_TOTP_NOT_ENABLED")

		// A passkey alone logs in, to either backend, once per state.
		res, lc, assertion := passkeyLogin(t, s, phone, "db")
		if res.status != http.StatusOK {
			t.Fatalf("passkey login: %d %s", res.status, res.body)
		}
		access, _ = res.json(t)["access_token"].(string)
		if me := s.json(http.MethodGet, "/users/me", "", access); me.status != http.StatusOK || !strings.Contains(me.body, `"id":"`+id+`"`) {
			t.Errorf("GET /users/me after a passkey login: %d %s", me.status, me.body)
		}
		replay := body(t, map[string]any{"state": lc.State, "credential": json.RawMessage(assertion)})
		wantDetail(t, "a passkey login replayed", s.json(http.MethodPost, "/auth/db/passkey", replay, ""), 400, "MFA_BAD_TOKEN")
		if res, _, _ := passkeyLogin(t, s, stranger, "jwt"); res.status != http.StatusOK || !strings.Contains(s.json(http.MethodGet, "/users/me", "", res.json(t)["access_token"].(string)).body, "sam@example.com") {
			t.Errorf("the stranger's passkey login: %d %s, want sam's", res.status, res.body)
		}
		// The authenticator must verify its user for a login without a
		// password.
		phone.UserVerified = false
		wantDetail(t, "a passkey login without user verification", func() response { r, _, _ := passkeyLogin(t, s, phone, "jwt"); return r }(), 400, "MFA_BAD_PASSKEY")
		phone.UserVerified = true
		// An unknown authenticator, a forged state, an expired one.
		wantDetail(t, "an unknown passkey", func() response {
			r, _, _ := passkeyLogin(t, s, func() *webauthntest.Authenticator {
				a := webauthntest.New(passkeyOrigin)
				if _, err := a.Create(c.Options); err != nil { // a credential the server never saw
					t.Fatal(err)
				}
				return a
			}(), "jwt")
			return r
		}(), 400, "MFA_BAD_PASSKEY")
		lc = readCeremony(t, "begin", s.json(http.MethodPost, "/auth/jwt/passkey/begin", "", ""))
		assertion, err = phone.Get(lc.Options)
		if err != nil {
			t.Fatal(err)
		}
		for _, state := range []string{"", "ghw_", "ghw_" + strings.Repeat("A", 200), lc.State[:len(lc.State)-4] + "AAAA", strings.Replace(lc.State, "ghw_", "ghm_", 1)} {
			wantDetail(t, "state "+state, s.json(http.MethodPost, "/auth/jwt/passkey", body(t, map[string]any{"state": state, "credential": json.RawMessage(assertion)}), ""), 400, "MFA_BAD_TOKEN")
		}
		s.clock.Add(5*time.Minute + time.Second)
		wantDetail(t, "an expired state", s.json(http.MethodPost, "/auth/jwt/passkey", body(t, map[string]any{"state": lc.State, "credential": json.RawMessage(assertion)}), ""), 400, "MFA_BAD_TOKEN")
		for _, bad := range []string{`{"state":"x"}`, `{"state":"x","credential":"abc"}`, `{"state":"x","credential":{}}`} {
			res := s.json(http.MethodPost, "/auth/jwt/passkey", bad, "")
			if res.status != 422 && !(res.status == 400 && strings.Contains(res.body, "MFA_BAD")) {
				t.Errorf("passkey login %s: %d %s, want 422 or 400", bad, res.status, res.body)
			}
		}

		// Removal: with the password; another user's is 404; the last
		// passkey takes the recovery codes along.
		wantDetail(t, "remove with a wrong password", s.json(http.MethodDelete, "/users/me/mfa/passkeys/"+phoneID, `{"password":"nope"}`, token), 400, "LOGIN_BAD_CREDENTIALS")
		wantDetail(t, "remove another user's passkey", s.json(http.MethodDelete, "/users/me/mfa/passkeys/"+phoneID, `{"password":"password123"}`, strangerToken), 404, "Not Found")
		for _, p := range st.Passkeys {
			if res := s.json(http.MethodDelete, "/users/me/mfa/passkeys/"+p["id"].(string), `{"password":"password123"}`, token); res.status != http.StatusNoContent {
				t.Fatalf("remove passkey %v: %d %s", p["name"], res.status, res.body)
			}
		}
		if res := s.json(http.MethodGet, "/users/me/mfa", "", token); res.body != `{"totp":false,"passkeys":[],"recovery_codes":0,"required":false}` {
			t.Errorf("GET /users/me/mfa after removing both: %s", res.body)
		}
		s.login("pia@example.com", "password123") // no second step
		if res, _, _ := passkeyLogin(t, s, laptop, "jwt"); res.status != http.StatusBadRequest {
			t.Errorf("login with a removed passkey: %d %s", res.status, res.body)
		}

		events, _, err := s.stack.audit.ListAuditEvents(context.Background(), gatehouse.AuditFilter{UserID: mustID(t, id)})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, e := range events {
			seen = append(seen, string(e.Event)+"/"+string(e.Outcome)+"/"+e.Attrs["factor"]+e.Attrs["method"]+e.Attrs["second_factor"])
		}
		for _, want := range []string{"mfa.enabled/success/passkey", "login.succeeded/success/passkey", "mfa.succeeded/success/passkey",
			"mfa.succeeded/success/code", "mfa.failed/failure/", "login.failed/failure/passkey", "mfa.disabled/success/passkey", "mfa.disabled/failure/passkey"} {
			if !slices.Contains(seen, want) {
				t.Errorf("no %s audit event; have %v", want, seen)
			}
		}
	})
}

// TestMFARequired sets who must have a second factor and logs in as a user
// who has none: the login adds an authenticator app before it completes,
// and the last factor cannot then be removed.
func TestMFARequired(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{mfa: true, audit: true})
		adminID, admin := s.user("root@example.com", true, true, true)
		_, token := s.user("uma@example.com", false, true, true)

		if res := s.json(http.MethodGet, "/mfa/policy", "", admin); res.status != 200 || res.body != `{"required":"nobody"}` {
			t.Errorf("GET /mfa/policy: %d %s", res.status, res.body)
		}
		wantDetail(t, "a user sets the policy", s.json(http.MethodPut, "/mfa/policy", `{"required":"nobody"}`, token), 403, "Forbidden")
		if res := s.json(http.MethodPut, "/mfa/policy", `{"required":"sometimes"}`, admin); res.status != 422 {
			t.Errorf("PUT /mfa/policy sometimes: %d %s, want 422", res.status, res.body)
		}
		if res := s.json(http.MethodPut, "/mfa/policy", `{"required":"superusers"}`, admin); res.status != 200 || res.body != `{"required":"superusers"}` {
			t.Fatalf("PUT /mfa/policy: %d %s", res.status, res.body)
		}
		s.login("uma@example.com", "password123") // not a superuser
		res := s.form("/auth/jwt/login", url.Values{"username": {"root@example.com"}, "password": {"password123"}})
		if res.status != 401 || res.json(t)["detail"] != "LOGIN_MFA_SETUP_REQUIRED" {
			t.Errorf("a superuser's login: %d %s, want 401 LOGIN_MFA_SETUP_REQUIRED", res.status, res.body)
		}
		if res := s.json(http.MethodPut, "/mfa/policy", `{"required":"everyone"}`, admin); res.status != 200 {
			t.Fatalf("PUT /mfa/policy: %d %s", res.status, res.body)
		}

		res = s.form("/auth/jwt/login", url.Values{"username": {"uma@example.com"}, "password": {"password123"}})
		m := res.json(t)
		mt, _ := m["mfa_token"].(string)
		if res.status != 401 || m["detail"] != "LOGIN_MFA_SETUP_REQUIRED" || !strings.HasPrefix(mt, "ghm_") {
			t.Fatalf("login: %d %s, want 401 LOGIN_MFA_SETUP_REQUIRED and an mfa_token", res.status, res.body)
		}
		tokenOnly := body(t, map[string]any{"mfa_token": mt})
		if res := s.json(http.MethodPost, "/auth/jwt/mfa", tokenOnly, ""); res.status != 422 {
			t.Errorf("completing before adding a factor: %d %s, want 422", res.status, res.body)
		}
		res = s.json(http.MethodPost, "/auth/jwt/mfa/totp", tokenOnly, "")
		var enrol struct {
			Secret string `json:"secret"`
		}
		if res.status != 200 || jsonUnmarshal(res.body, &enrol) != nil {
			t.Fatalf("POST /auth/jwt/mfa/totp: %d %s", res.status, res.body)
		}
		secret := decodeSecret(t, enrol.Secret)
		step := totp.Step(s.clock.Now())
		wantDetail(t, "confirm with a wrong code", s.json(http.MethodPost, "/auth/jwt/mfa/totp/confirm", mfaBody(mt, "000000"), ""), 400, "MFA_BAD_CODE")
		res = s.json(http.MethodPost, "/auth/jwt/mfa/totp/confirm", mfaBody(mt, totp.Code(secret, step)), "")
		if res.status != 200 || !strings.Contains(res.body, `"recovery_codes":[`) {
			t.Fatalf("confirm: %d %s", res.status, res.body)
		}
		wantDetail(t, "confirm again", s.json(http.MethodPost, "/auth/jwt/mfa/totp/confirm", mfaBody(mt, totp.Code(secret, step+1)), ""), 400, "MFA_TOTP_ALREADY_ENABLED")
		res = s.json(http.MethodPost, "/auth/jwt/mfa", tokenOnly, "")
		if res.status != 200 {
			t.Fatalf("completing after the app was added: %d %s", res.status, res.body)
		}
		wantDetail(t, "the mfa_token again", s.json(http.MethodPost, "/auth/jwt/mfa", tokenOnly, ""), 400, "MFA_BAD_TOKEN")

		// From now on the login asks for the app, and the setup steps are
		// closed to its mfa_token.
		mt = passwordStep(t, s, "jwt", "uma@example.com")
		wantDetail(t, "setup with a second-step token", s.json(http.MethodPost, "/auth/jwt/mfa/totp", body(t, map[string]any{"mfa_token": mt}), ""), 400, "MFA_TOTP_ALREADY_ENABLED")
		if res := s.json(http.MethodPost, "/auth/jwt/mfa", body(t, map[string]any{"mfa_token": mt}), ""); res.status != 422 {
			t.Errorf("a second step without a code: %d %s, want 422", res.status, res.body)
		}
		// The only factor of a user who must have one stays.
		wantDetail(t, "remove the only factor", s.json(http.MethodDelete, "/users/me/mfa/totp", `{"password":"password123"}`, token), 400, "MFA_REQUIRED")
		if res := s.json(http.MethodGet, "/users/me/mfa", "", token); !strings.Contains(res.body, `"required":true`) {
			t.Errorf("GET /users/me/mfa: %s, want required", res.body)
		}
		// Nobody again: it may go.
		if res := s.json(http.MethodPut, "/mfa/policy", `{"required":"nobody"}`, admin); res.status != 200 {
			t.Fatalf("PUT /mfa/policy: %d %s", res.status, res.body)
		}
		if res := s.json(http.MethodDelete, "/users/me/mfa/totp", `{"password":"password123"}`, token); res.status != 204 {
			t.Errorf("remove the app: %d %s", res.status, res.body)
		}

		// A passkey instead of the app: the same login, its answer the
		// proof; the recovery codes come with it.
		s.user("pam@example.com", false, true, true)
		if res := s.json(http.MethodPut, "/mfa/policy", `{"required":"everyone"}`, admin); res.status != 200 {
			t.Fatalf("PUT /mfa/policy: %d %s", res.status, res.body)
		}
		res = s.form("/auth/jwt/login", url.Values{"username": {"pam@example.com"}, "password": {"password123"}})
		mt, _ = res.json(t)["mfa_token"].(string)
		if res.status != 401 || mt == "" {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		tokenOnly = body(t, map[string]any{"mfa_token": mt})
		c := readCeremony(t, "begin setup passkey", s.json(http.MethodPost, "/auth/jwt/mfa/passkeys/begin", tokenOnly, ""))
		pamKey := webauthntest.New(passkeyOrigin)
		cred, err := pamKey.Create(c.Options)
		if err != nil {
			t.Fatal(err)
		}
		wantDetail(t, "setup passkey of another login", s.json(http.MethodPost, "/auth/jwt/mfa/passkeys",
			body(t, map[string]any{"mfa_token": "ghm_nope", "state": c.State, "credential": json.RawMessage(cred)}), ""), 400, "MFA_BAD_TOKEN")
		res = s.json(http.MethodPost, "/auth/jwt/mfa/passkeys", body(t, map[string]any{"mfa_token": mt, "state": c.State, "credential": json.RawMessage(cred), "name": "phone"}), "")
		if res.status != 201 || !strings.Contains(res.body, `"name":"phone"`) || !strings.Contains(res.body, `"recovery_codes":[`) {
			t.Fatalf("setup passkey: %d %s", res.status, res.body)
		}
		wantDetail(t, "a second setup passkey", s.json(http.MethodPost, "/auth/jwt/mfa/passkeys/begin", tokenOnly, ""), 400, "MFA_TOTP_ALREADY_ENABLED")
		if res := s.json(http.MethodPost, "/auth/jwt/mfa", tokenOnly, ""); res.status != 200 {
			t.Fatalf("completing after the passkey was added: %d %s", res.status, res.body)
		}
		if res, _, _ := passkeyLogin(t, s, pamKey, "jwt"); res.status != 200 {
			t.Errorf("a login with the passkey added at setup: %d %s", res.status, res.body)
		}
		if res := s.json(http.MethodPut, "/mfa/policy", `{"required":"nobody"}`, admin); res.status != 200 {
			t.Fatalf("PUT /mfa/policy: %d %s", res.status, res.body)
		}

		events, _, err := s.stack.audit.ListAuditEvents(context.Background(), gatehouse.AuditFilter{Event: gatehouse.AuditMFARequiredChanged})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 5 || events[0].UserID != mustID(t, adminID) {
			t.Errorf("%d mfa.required_changed events (%+v), want 5 by the superuser", len(events), events)
		}
	})
}

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResetKeepsSecondFactor resets the password of a user with a second
// factor: the reset logs no one in, and the new password still asks for
// the second factor (checklist 87).
func TestResetKeepsSecondFactor(t *testing.T) {
	t.Parallel()
	box := newOutbox()
	s := newServer(t, engines[0], options{mfa: true, hooks: box})
	_, token := s.user("rex@example.com", false, true, true)
	secret, _ := enrolTOTP(t, s, token)

	if res := s.json("POST", "/auth/forgot-password", `{"email":"rex@example.com"}`, ""); res.status != 202 {
		t.Fatalf("forgot-password: %d %s", res.status, res.body)
	}
	s.wait()
	tokens := box.take(box.reset, "rex@example.com")
	if len(tokens) != 1 {
		t.Fatalf("reset tokens: %v", tokens)
	}
	res := s.json("POST", "/auth/reset-password", body(t, map[string]any{"token": tokens[0], "password": "a brand new passphrase"}), "")
	if res.status != 200 || res.body != "null" || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("reset: %d %s %v", res.status, res.body, res.header)
	}
	form := url.Values{"username": {"rex@example.com"}, "password": {"a brand new passphrase"}}
	res = s.form("/auth/jwt/login", form)
	m := res.json(t)
	mt, _ := m["mfa_token"].(string)
	if res.status != 401 || m["detail"] != "LOGIN_MFA_REQUIRED" {
		t.Fatalf("login with the new password: %d %s, want 401 LOGIN_MFA_REQUIRED", res.status, res.body)
	}
	s.clock.Add(30 * time.Second)
	if res := s.json("POST", "/auth/jwt/mfa", mfaBody(mt, totp.Code(secret, totp.Step(s.clock.Now()))), ""); res.status != 200 {
		t.Errorf("second step after the reset: %d %s", res.status, res.body)
	}
}
