package cli_test

import (
	"bytes"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/totp"
	"github.com/gatehouse/gatehouse/webauthntest"
	_ "modernc.org/sqlite"
)

// TestServeMFA runs a second factor through the server: enrolment, a login
// in two steps, and what the database keeps (the secret sealed, recovery
// codes and the mfa_token hashed). With --mfa=false the routes are gone.
func TestServeMFA(t *testing.T) {
	t.Parallel()
	dbURL, dbPath := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret}
	var ahead atomic.Int64
	o := opts(e)
	o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	s := startServerWith(t, o, "--database-url", dbURL, "--rate-limit", "off")
	register(t, s.URL, "mo@example.com", testPassword)
	token := login(t, s.URL, "mo@example.com", testPassword)
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}

	status, b := do(t, "POST", s.URL+"/users/me/mfa/totp", nil, auth)
	var enrol struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}
	if err := json.Unmarshal(b, &enrol); status != http.StatusOK || err != nil {
		t.Fatalf("POST /users/me/mfa/totp: %d %s", status, b)
	}
	if !strings.HasPrefix(enrol.URI, "otpauth://totp/Gatehouse:mo@example.com?") {
		t.Errorf("otpauth_uri %q", enrol.URI)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enrol.Secret)
	if err != nil {
		t.Fatal(err)
	}
	code := func() string { return totp.Code(secret, totp.Step(o.Now())) }
	body, _ := json.Marshal(map[string]string{"code": code()})
	status, b = do(t, "POST", s.URL+"/users/me/mfa/totp/confirm", bytes.NewReader(body), auth)
	var rc struct {
		Codes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal(b, &rc); status != http.StatusOK || err != nil || len(rc.Codes) != 10 {
		t.Fatalf("confirm: %d %s", status, b)
	}

	// The login's first step answers with an mfa_token, the second with
	// the token.
	form := url.Values{"username": {"mo@example.com"}, "password": {testPassword}}.Encode()
	status, b = do(t, "POST", s.URL+"/auth/jwt/login", strings.NewReader(form), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	var first struct {
		Detail   string `json:"detail"`
		MFAToken string `json:"mfa_token"`
	}
	if err := json.Unmarshal(b, &first); status != http.StatusUnauthorized || err != nil || first.Detail != "LOGIN_MFA_REQUIRED" {
		t.Fatalf("login of a user with a TOTP: %d %s", status, b)
	}
	ahead.Store(int64(30 * time.Second)) // the confirming code's step is spent
	body, _ = json.Marshal(map[string]string{"mfa_token": first.MFAToken, "code": code()})
	status, b = do(t, "POST", s.URL+"/auth/jwt/mfa", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	var second struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &second); status != http.StatusOK || err != nil || second.AccessToken == "" {
		t.Fatalf("second step: %d %s", status, b)
	}
	if status, m := me(t, s.URL, second.AccessToken); status != http.StatusOK || m["email"] != "mo@example.com" {
		t.Errorf("GET /users/me after the second step: %d %v", status, m)
	}

	// Nothing the client holds is in the database as it was handed out.
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed []byte
	if err := db.QueryRow(`SELECT secret FROM user_totp`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) || bytes.Contains(sealed, []byte(enrol.Secret)) {
		t.Error("the TOTP secret is stored in the clear")
	}
	var hashes []string
	rows, err := db.Query(`SELECT hash FROM recovery_codes UNION ALL SELECT hash FROM mfa_challenges`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 10 { // the completed challenge was taken
		t.Errorf("%d recovery codes and challenges stored, want the 10 codes", len(hashes))
	}
	for _, h := range hashes {
		for _, c := range rc.Codes {
			if strings.Contains(h, c) || strings.Contains(h, strings.ReplaceAll(c, "-", "")) {
				t.Errorf("recovery code %s is stored in the clear", c)
			}
		}
	}

	off := startServer(t, e, "--database-url", dbURL, "--rate-limit", "off", "--mfa=false")
	if status, _ := do(t, "GET", off.URL+"/users/me/mfa", nil, auth); status != http.StatusNotFound {
		t.Errorf("GET /users/me/mfa with --mfa=false: %d, want 404", status)
	}
}

// TestServePasskeys runs passkeys through the server, with webauthntest's
// software authenticator as the browser: the server binds them to
// localhost (its public URL is a loopback address), a passkey is added
// and then logs in alone, and a superuser's requirement of a second
// factor, kept in the database, applies to a second instance at once.
func TestServePasskeys(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret}
	s := startServer(t, e, "--database-url", dbURL, "--rate-limit", "off")
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	authn := webauthntest.New("http://localhost:" + u.Port())
	register(t, s.URL, "pat@example.com", testPassword)
	token := login(t, s.URL, "pat@example.com", testPassword)
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}

	var c struct {
		Options json.RawMessage `json:"options"`
		State   string          `json:"state"`
	}
	status, b := do(t, "POST", s.URL+"/users/me/mfa/passkeys/begin", nil, auth)
	if err := json.Unmarshal(b, &c); status != http.StatusOK || err != nil {
		t.Fatalf("begin passkey: %d %s", status, b)
	}
	var opts struct {
		PublicKey struct {
			RP struct {
				ID string `json:"id"`
			} `json:"rp"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(c.Options, &opts); err != nil || opts.PublicKey.RP.ID != "localhost" {
		t.Errorf("rp.id %q, want localhost (%v)", opts.PublicKey.RP.ID, err)
	}
	cred, err := authn.Create(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"state": c.State, "credential": json.RawMessage(cred), "name": "laptop"})
	if status, b := do(t, "POST", s.URL+"/users/me/mfa/passkeys", bytes.NewReader(body), auth); status != http.StatusCreated {
		t.Fatalf("add passkey: %d %s", status, b)
	}

	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	status, b = do(t, "POST", s.URL+"/auth/jwt/passkey/begin", nil, jsonHeader)
	if err := json.Unmarshal(b, &c); status != http.StatusOK || err != nil {
		t.Fatalf("begin passkey login: %d %s", status, b)
	}
	assertion, err := authn.Get(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = json.Marshal(map[string]any{"state": c.State, "credential": json.RawMessage(assertion)})
	status, b = do(t, "POST", s.URL+"/auth/jwt/passkey", bytes.NewReader(body), jsonHeader)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); status != http.StatusOK || err != nil {
		t.Fatalf("passkey login: %d %s", status, b)
	}
	if status, m := me(t, s.URL, tok.AccessToken); status != http.StatusOK || m["email"] != "pat@example.com" {
		t.Errorf("GET /users/me after a passkey login: %d %v", status, m)
	}
	if status, b := do(t, "POST", s.URL+"/auth/jwt/passkey", bytes.NewReader(body), jsonHeader); status != http.StatusBadRequest ||
		!strings.Contains(string(b), "MFA_BAD_TOKEN") {
		t.Errorf("the passkey login replayed: %d %s", status, b)
	}

	// An instance whose public URL is an IP address cannot run the
	// ceremonies, but the passkey still asks for a second step there.
	ipOnly := startServer(t, e, "--database-url", dbURL, "--rate-limit", "off", "--public-url", "http://192.0.2.10:8000")
	if status, _ := do(t, "POST", ipOnly.URL+"/auth/jwt/passkey/begin", nil, jsonHeader); status != http.StatusNotFound {
		t.Errorf("POST /auth/jwt/passkey/begin with passkeys off: %d, want 404", status)
	}
	form := url.Values{"username": {"pat@example.com"}, "password": {testPassword}}.Encode()
	status, b = do(t, "POST", ipOnly.URL+"/auth/jwt/login", strings.NewReader(form), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if status != http.StatusUnauthorized || !strings.Contains(string(b), `"detail":"LOGIN_MFA_REQUIRED"`) {
		t.Errorf("password login of a passkey user with passkeys off: %d %s, want 401 LOGIN_MFA_REQUIRED", status, b)
	}

	createUser(t, e, dbURL, "--email", "root@example.com", "--superuser")
	other := startServer(t, e, "--database-url", dbURL, "--rate-limit", "off")
	root := login(t, s.URL, "root@example.com", testPassword)
	status, b = do(t, "PUT", s.URL+"/mfa/policy", strings.NewReader(`{"required":"everyone"}`),
		http.Header{"Authorization": {"Bearer " + root}, "Content-Type": {"application/json"}})
	if status != http.StatusOK {
		t.Fatalf("PUT /mfa/policy: %d %s", status, b)
	}
	register(t, other.URL, "new@example.com", testPassword)
	form = url.Values{"username": {"new@example.com"}, "password": {testPassword}}.Encode()
	status, b = do(t, "POST", other.URL+"/auth/jwt/login", strings.NewReader(form), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if status != http.StatusUnauthorized || !strings.Contains(string(b), `"detail":"LOGIN_MFA_SETUP_REQUIRED"`) {
		t.Errorf("login at the other instance of a user without a second factor: %d %s", status, b)
	}
}
