package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", to read what the server stored

	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/oauth/oauthtest"
)

// oauthEnv is the environment of a server with one OpenID Connect
// provider "test" at issuer.
func oauthEnv(issuer string) env {
	return env{
		"GATEHOUSE_SECRET":                   testSecret,
		"GATEHOUSE_OAUTH_TEST_ISSUER":        issuer,
		"GATEHOUSE_OAUTH_TEST_CLIENT_ID":     "gatehouse-client",
		"GATEHOUSE_OAUTH_TEST_CLIENT_SECRET": "gatehouse-client-secret",
	}
}

// TestServeOAuth logs in with a real OpenID provider: authorize, the
// provider's login, the callback with the CSRF cookie, then the account
// as the API shows it and as the database keeps it.
func TestServeOAuth(t *testing.T) {
	t.Parallel()
	idp := oauthtest.New(t)
	idp.AddUser("user-1", "ann@example.com", true)
	dbURL, dbPath := sqliteURL(t)
	s := startServer(t, oauthEnv(idp.Issuer), "--database-url", dbURL)
	// The server's public URL is its listen address: register the
	// callbacks now that the port is known (discovery needed only the
	// issuer).
	callback := s.URL + "/auth/test/callback"
	idp.SetClient("gatehouse-client", "gatehouse-client-secret", callback, s.URL+"/auth/associate/test/callback")
	log := s.Log.String()
	for _, want := range []string{"OAuth provider", "name=test", "callback_url=" + callback} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}

	// 1. authorize: the provider's URL and the CSRF cookie.
	resp, body := send(t, "GET", s.URL+"/auth/test/authorize", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	var authz struct {
		URL string `json:"authorization_url"`
	}
	if err := json.Unmarshal(body, &authz); err != nil || !strings.HasPrefix(authz.URL, idp.Issuer) {
		t.Fatalf("authorize body %s (%v): want an authorization_url at %s", body, err, idp.Issuer)
	}
	au, err := url.Parse(authz.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	if q.Get("redirect_uri") != callback || q.Get("client_id") != "gatehouse-client" || q.Get("code_challenge_method") != "S256" ||
		q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("authorization URL %s: want redirect_uri %s, the client id, PKCE S256, a nonce and openid", authz.URL, callback)
	}
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "fastapiusersoauthcsrf" {
			csrf = c
		}
	}
	if csrf == nil || csrf.Value == "" || !csrf.HttpOnly || !csrf.Secure {
		t.Fatalf("authorize set no HttpOnly, Secure CSRF cookie: %v", resp.Header["Set-Cookie"])
	}

	// 2. the provider logs the user in and sends the browser back.
	back := idp.Login(t, authz.URL, "user-1")
	if !strings.HasPrefix(back, callback+"?") {
		t.Fatalf("the provider sent the browser to %s, want %s?…", back, callback)
	}

	// 3. the callback without the cookie is refused, and spends nothing.
	if resp, body := send(t, "GET", back, nil, nil); resp.StatusCode != http.StatusBadRequest || detail(t, body) != "OAUTH_INVALID_STATE" {
		t.Errorf("callback without the CSRF cookie: %d %s, want 400 OAUTH_INVALID_STATE", resp.StatusCode, body)
	}
	resp, body = send(t, "GET", back, nil, cookieHeader(csrf))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("callback Referrer-Policy %q, want no-referrer", resp.Header.Get("Referrer-Policy"))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "bearer" {
		t.Fatalf("callback body %s (%v): want the jwt backend's token", body, err)
	}
	// The code is spent: the same callback again gets no second login.
	if resp, body := send(t, "GET", back, nil, cookieHeader(csrf)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback: %d %s, want 400", resp.StatusCode, body)
	}

	// 4. the new user, verified as the provider says, and the link.
	status, m := me(t, s.URL, tok.AccessToken)
	if status != http.StatusOK || m["email"] != "ann@example.com" || m["is_verified"] != true || m["is_active"] != true {
		t.Fatalf("GET /users/me: %d %v; want ann@example.com, active and verified", status, m)
	}
	status, b := do(t, "GET", s.URL+"/users/me/oauth-accounts", nil, bearerHeader(tok.AccessToken))
	var accounts []map[string]any
	if err := json.Unmarshal(b, &accounts); status != http.StatusOK || err != nil || len(accounts) != 1 {
		t.Fatalf("GET /users/me/oauth-accounts: %d %s", status, b)
	}
	if a := accounts[0]; a["oauth_name"] != "test" || a["account_id"] != "user-1" || a["account_email"] != "ann@example.com" || a["id"] == "" {
		t.Errorf("linked account %v; want test, user-1, ann@example.com", a)
	}
	// Her only way to log in: unlinking it is refused.
	id, _ := accounts[0]["id"].(string)
	if status, b := do(t, "DELETE", s.URL+"/users/me/oauth-accounts/"+id, nil, bearerHeader(tok.AccessToken)); status != http.StatusBadRequest ||
		detail(t, b) != "OAUTH_LAST_LOGIN_METHOD" {
		t.Errorf("unlink the last login method: %d %s, want 400 OAUTH_LAST_LOGIN_METHOD", status, b)
	}

	// 5. the database keeps the provider's tokens sealed.
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed []byte
	if err := db.QueryRow(`SELECT access_token FROM oauth_accounts WHERE provider = 'test' AND account_id = 'user-1'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	plain, err := cli.UnsealOAuthToken(testSecret, sealed)
	if err != nil || len(plain) == 0 {
		t.Fatalf("unseal the stored access token: %q, %v", plain, err)
	}
	if strings.Contains(string(sealed), string(plain)) {
		t.Error("the database holds the provider's access token in clear")
	}
	// What was sealed is the provider's access token: the provider takes it.
	if sub := userinfoSub(t, idp.Issuer, string(plain)); sub != "user-1" {
		t.Errorf("the provider's userinfo for the sealed token names %q, want user-1", sub)
	}
	if strings.Contains(s.Log.String(), string(plain)) {
		t.Error("the log holds the provider's access token")
	}
}

// userinfoSub asks the provider's userinfo endpoint (from its discovery
// document) whose access token this is.
func userinfoSub(t *testing.T, issuer, accessToken string) string {
	t.Helper()
	status, b := do(t, "GET", strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil, nil)
	var doc struct {
		Userinfo string `json:"userinfo_endpoint"`
	}
	if err := json.Unmarshal(b, &doc); status != http.StatusOK || err != nil || doc.Userinfo == "" {
		t.Fatalf("discovery: %d %s", status, b)
	}
	status, b = do(t, "GET", doc.Userinfo, nil, bearerHeader(accessToken))
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &info); status != http.StatusOK || err != nil {
		t.Fatalf("userinfo: %d %s", status, b)
	}
	return info.Sub
}

// TestServeOAuthIssuerUnreachable checks that discovery happens at start:
// an issuer that cannot be reached stops the server with an error naming
// the provider.
func TestServeOAuthIssuerUnreachable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	notOIDC := httptest.NewServer(http.NotFoundHandler())
	defer notOIDC.Close()
	for _, issuer := range []string{down.URL, notOIDC.URL} {
		dbURL, _ := sqliteURL(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cli.RunWith(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL}, nil, io.Discard, io.Discard,
			opts(oauthEnv(issuer)))
		if err == nil || !strings.Contains(err.Error(), `OAuth provider "test"`) || !strings.Contains(err.Error(), issuer) {
			t.Errorf("issuer %s: err = %v, want one naming the provider and the issuer", issuer, err)
		}
		if code := cli.ExitCode(err); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if err != nil && strings.Contains(err.Error(), "gatehouse-client-secret") {
			t.Errorf("the error quotes the client secret: %v", err)
		}
	}
}
