package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/oauth/oauthtest"
)

// oauthServer runs the API with two OAuth providers backed by one real
// OpenID provider: "idp" (no linking by e-mail) and "linking" (with).
func oauthServer(t *testing.T, e engine) (*server, *oauthtest.Provider) {
	t.Helper()
	return oauthServerWith(t, e, options{})
}

// oauthServerWith is oauthServer with more options.
func oauthServerWith(t *testing.T, e engine, opt options) (*server, *oauthtest.Provider) {
	t.Helper()
	idp := oauthtest.New(t)
	signer, err := jwt.NewSigner([]byte("oauth state signing key, 32+ bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	opt.backends = []string{"jwt=bearer+jwt", "cookie=cookie+jwt"}
	opt.oauth = func(base string) map[string]httpapi.OAuthProvider {
		out := map[string]httpapi.OAuthProvider{}
		for _, name := range []string{"idp", "linking", "browser"} {
			cb, assoc := base+"/auth/"+name+"/callback", base+"/auth/associate/"+name+"/callback"
			idp.SetClient(name+"-client", name+"-secret", cb, assoc)
			p, err := oauth.NewOIDC(context.Background(), oauth.OIDCConfig{
				Name: name, Issuer: idp.Issuer, ClientID: name + "-client", ClientSecret: name + "-secret",
			})
			if err != nil {
				t.Fatal(err)
			}
			out[name] = httpapi.OAuthProvider{
				Flow:                 &oauth.Flow{Provider: p, Signer: signer, Key: []byte("pkce derivation key, at least 32 bytes")},
				Backend:              map[bool]string{true: "cookie", false: "jwt"}[name == "browser"],
				CallbackURL:          cb,
				AssociateCallbackURL: assoc,
				AssociateByEmail:     name == "linking",
				ReturnURLs:           []string{"https://app.example/welcome"},
			}
		}
		return out
	}
	return newServer(t, e, opt), idp
}

// authorize starts a flow and returns the provider URL and the CSRF cookie.
func (s *server) authorize(path, token string) (authURL, csrf string) {
	s.t.Helper()
	res := s.do("GET", path, "", "", token)
	if res.status != 200 {
		s.t.Fatalf("authorize: %d %s", res.status, res.body)
	}
	for _, raw := range res.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(raw)
		if err == nil && c.Name == "fastapiusersoauthcsrf" {
			if !c.HttpOnly || !c.Secure || c.MaxAge != 3600 {
				s.t.Fatalf("CSRF cookie %q", raw)
			}
			csrf = c.Value
		}
	}
	authURL, _ = res.json(s.t)["authorization_url"].(string)
	if authURL == "" || csrf == "" {
		s.t.Fatalf("authorize: %s %q", res.body, res.header.Values("Set-Cookie"))
	}
	return authURL, csrf
}

// callback follows the provider's redirect back to us.
func (s *server) callback(cbURL, csrf, token string) response {
	s.t.Helper()
	u, err := url.Parse(cbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.URL+u.RequestURI(), nil)
	if csrf != "" {
		req.AddCookie(&http.Cookie{Name: "fastapiusersoauthcsrf", Value: csrf})
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.doRequest(req)
}

func TestOAuthLogin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s, idp := oauthServer(t, e)
		idp.AddUser("sub-alice", "alice@example.com", true)
		authURL, csrf := s.authorize("/auth/idp/authorize?scopes=openid&scopes=email", "")
		if !strings.Contains(authURL, "code_challenge_method=S256") || strings.Contains(authURL, "code_verifier") {
			t.Fatalf("authorization URL %s", authURL)
		}
		cb := idp.Login(t, authURL, "sub-alice")

		// A forged or lost CSRF cookie stops the flow before the code is spent.
		for _, bad := range []string{"", "someone-elses-cookie"} {
			if res := s.callback(cb, bad, ""); res.status != 400 || res.body != `{"detail":"OAUTH_INVALID_STATE"}` {
				t.Fatalf("cookie %q: %d %s", bad, res.status, res.body)
			}
		}
		// A flow started with one provider cannot finish at another's
		// callback (mix-up).
		mixed := strings.Replace(cb, "/auth/idp/callback", "/auth/linking/callback", 1)
		if res := s.callback(mixed, csrf, ""); res.status != 400 || res.body != `{"detail":"OAUTH_INVALID_STATE"}` {
			t.Fatalf("mix-up: %d %s", res.status, res.body)
		}
		res := s.callback(cb, csrf, "")
		if res.status != 200 || res.header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("callback: %d %s", res.status, res.body)
		}
		tok := res.json(t)["access_token"].(string)
		me := s.do("GET", "/users/me", "", "", tok)
		if me.status != 200 || me.json(t)["email"] != "alice@example.com" || me.json(t)["is_verified"] != true {
			t.Fatalf("me: %d %s", me.status, me.body)
		}
		// The code is spent.
		if res := s.callback(cb, csrf, ""); res.status != 400 {
			t.Fatalf("replayed callback: %d %s", res.status, res.body)
		}
		// Logging in again finds the same user; the provider's tokens are
		// stored sealed and never shown.
		authURL, csrf = s.authorize("/auth/idp/authorize", "")
		res = s.callback(idp.Login(t, authURL, "sub-alice"), csrf, "")
		if res.status != 200 {
			t.Fatalf("second login: %d %s", res.status, res.body)
		}
		accounts := s.do("GET", "/users/me/oauth-accounts", "", "", tok)
		if accounts.status != 200 || strings.Count(accounts.body, `"oauth_name":"idp"`) != 1 || strings.Contains(accounts.body, "token") {
			t.Fatalf("accounts: %s", accounts.body)
		}
		u, _ := s.users.FindUserByEmail(context.Background(), "alice@example.com")
		list, _ := s.stack.oauth.ListOAuthAccounts(context.Background(), u.ID)
		if len(list) != 1 || !strings.HasPrefix(string(list[0].AccessToken), "sealed:") {
			t.Fatalf("stored account %+v", list)
		}
		// A user made by a provider has no password: unlinking its only
		// account is refused, and password login fails.
		id := accounts.json2(t)[0]["id"].(string)
		if res := s.do("DELETE", "/users/me/oauth-accounts/"+id, "", "", tok); res.status != 400 || res.body != `{"detail":"OAUTH_LAST_LOGIN_METHOD"}` {
			t.Fatalf("unlink the last login: %d %s", res.status, res.body)
		}

		// Provider errors and missing codes.
		if res := s.do("GET", "/auth/idp/callback?error=access_denied", "", "", ""); res.status != 400 || res.body != `{"detail":"access_denied"}` {
			t.Fatalf("error: %d %s", res.status, res.body)
		}
		if res := s.do("GET", "/auth/idp/callback?state=x", "", "", ""); res.status != 400 || res.body != `{"detail":"Bad Request"}` {
			t.Fatalf("no code: %d %s", res.status, res.body)
		}
		if res := s.do("GET", "/auth/idp/callback?code=x&state=garbage", "", "", ""); res.status != 400 || res.body != `{"detail":"ACCESS_TOKEN_DECODE_ERROR"}` {
			t.Fatalf("bad state: %d %s", res.status, res.body)
		}
		// Return URLs must be on the allow-list.
		if res := s.do("GET", "/auth/idp/authorize?redirect=true&return_to=https://evil.example/", "", "", ""); res.status != 422 {
			t.Fatalf("foreign return_to: %d", res.status)
		}
	})
}

func TestOAuthEmailCollisionAndLinking(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s, idp := oauthServer(t, e)
		s.register("bob@example.com", "password123")
		bob := s.login("bob@example.com", "password123")
		idp.AddUser("sub-bob", "bob@example.com", true)
		idp.AddUser("sub-bob-unverified", "bob@example.com", false)

		login := func(provider, sub string) response {
			authURL, csrf := s.authorize("/auth/"+provider+"/authorize", "")
			return s.callback(idp.Login(t, authURL, sub), csrf, "")
		}
		exists := `{"detail":"OAUTH_USER_ALREADY_EXISTS"}`
		if res := login("idp", "sub-bob"); res.status != 400 || res.body != exists {
			t.Fatalf("collision without linking: %d %s", res.status, res.body)
		}
		if res := login("linking", "sub-bob-unverified"); res.status != 400 || res.body != exists {
			t.Fatalf("linking an unverified e-mail: %d %s", res.status, res.body)
		}
		res := login("linking", "sub-bob")
		if res.status != 200 {
			t.Fatalf("linking a verified e-mail: %d %s", res.status, res.body)
		}
		if me := s.do("GET", "/users/me", "", "", res.json(t)["access_token"].(string)); me.json(t)["email"] != "bob@example.com" {
			t.Fatalf("linked login is not bob: %s", me.body)
		}

		// Association of another provider account by a logged-in user;
		// an account linked to someone else stays theirs.
		idp.AddUser("sub-bob-2", "bob.other@example.com", true)
		authURL, csrf := s.authorize("/auth/associate/idp/authorize", bob)
		cb := idp.Login(t, authURL, "sub-bob-2")
		if res := s.callback(cb, csrf, ""); res.status != 401 {
			t.Fatalf("associate without a user: %d", res.status)
		}
		if res := s.callback(cb, csrf, bob); res.status != 200 || res.json(t)["email"] != "bob@example.com" {
			t.Fatalf("associate: %d %s", res.status, res.body)
		}
		s.register("carol@example.com", "password123")
		carol := s.login("carol@example.com", "password123")
		authURL, csrf = s.authorize("/auth/associate/idp/authorize", carol)
		if res := s.callback(idp.Login(t, authURL, "sub-bob-2"), csrf, carol); res.status != 400 || res.body != exists {
			t.Fatalf("associating someone else's account: %d %s", res.status, res.body)
		}
		// A state made for carol's association is no login state.
		authURL, csrf = s.authorize("/auth/associate/idp/authorize", carol)
		idp.AddUser("sub-carol", "carol.other@example.com", true)
		loginCB := strings.Replace(idp.Login(t, authURL, "sub-carol"), "/auth/associate/idp/callback", "/auth/idp/callback", 1)
		if res := s.callback(loginCB, csrf, ""); res.status != 400 {
			t.Fatalf("association state at the login callback: %d %s", res.status, res.body)
		}
		// Bob has a password, so he may unlink.
		accounts := s.do("GET", "/users/me/oauth-accounts", "", "", bob).json2(t)
		if len(accounts) != 2 {
			t.Fatalf("bob's accounts: %v", accounts)
		}
		if res := s.do("DELETE", "/users/me/oauth-accounts/"+accounts[0]["id"].(string), "", "", bob); res.status != 204 {
			t.Fatalf("unlink: %d %s", res.status, res.body)
		}
	})
}

// TestOAuthBrowserFlow: with ?redirect=true the API sends the browser to
// the provider and, after the callback, back to an allow-listed page with
// the login cookie set.
func TestOAuthBrowserFlow(t *testing.T) {
	s, idp := oauthServer(t, engines[0])
	idp.AddUser("sub-dora", "dora@example.com", true)
	// Redirects are looked at, not followed.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, cookie string) response {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "fastapiusersoauthcsrf", Value: cookie})
		}
		r, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		return response{status: r.StatusCode, header: r.Header}
	}
	res := get("/auth/browser/authorize?redirect=true&return_to=https://app.example/welcome", "")
	if res.status != 302 || !strings.HasPrefix(res.header.Get("Location"), idp.Issuer) {
		t.Fatalf("authorize: %d %q", res.status, res.header.Get("Location"))
	}
	c, err := http.ParseSetCookie(res.header.Get("Set-Cookie"))
	if err != nil || c.Name != "fastapiusersoauthcsrf" {
		t.Fatalf("CSRF cookie %q", res.header.Get("Set-Cookie"))
	}
	cbURL, err := url.Parse(idp.Login(t, res.header.Get("Location"), "sub-dora"))
	if err != nil {
		t.Fatal(err)
	}
	cb := get(cbURL.RequestURI(), c.Value)
	if cb.status != 302 || cb.header.Get("Location") != "https://app.example/welcome" {
		t.Fatalf("callback: %d %q %s", cb.status, cb.header.Get("Location"), cb.body)
	}
	var session string
	for _, raw := range cb.header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(raw); err == nil && c.Name == "gatehouse_auth" && c.HttpOnly && c.Secure {
			session = c.Value
		}
	}
	if res := s.send("GET", "/users/me", credential{"Cookie", "gatehouse_auth=" + session}); res.status != 200 || !strings.Contains(res.body, "dora@example.com") {
		t.Fatalf("the login cookie does not work: %d %s", res.status, res.body)
	}
	// A bearer backend has no answer a redirect could carry.
	if res := s.do("GET", "/auth/idp/authorize?redirect=true&return_to=https://app.example/welcome", "", "", ""); res.status != 422 {
		t.Fatalf("return_to with a bearer backend: %d", res.status)
	}
}
