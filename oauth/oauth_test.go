package oauth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/oauth/oauthtest"
)

const (
	clientID     = "gatehouse-client"
	clientSecret = "gatehouse-client-secret"
	// redirectURI is the app's callback. Nothing listens there: Login
	// stops at the redirect to it, as a test browser would.
	redirectURI = "http://127.0.0.1:1/auth/idp/callback"
)

// env is an OpenID provider (oauthtest) and a Flow against it.
type env struct {
	idp    *oauthtest.Provider
	flow   *oauth.Flow
	signer *jwt.Signer
	now    time.Time // the Signer's clock
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newEnvSigner(t *testing.T) *jwt.Signer {
	t.Helper()
	s, err := jwt.NewSigner(randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newEnv(t *testing.T) *env {
	t.Helper()
	idp := oauthtest.New(t)
	idp.AddUser("alice-sub", "alice@example.com", true)
	idp.AddUser("bob-sub", "bob@example.com", false)
	idp.SetClient(clientID, clientSecret, redirectURI)
	p, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{
		Name:         "idp",
		Issuer:       idp.Issuer,
		ClientID:     clientID,
		ClientSecret: clientSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	signer := newEnvSigner(t)
	e := &env{idp: idp, signer: signer, now: time.Now()}
	signer.SetClock(func() time.Time { return e.now })
	e.flow = &oauth.Flow{Provider: p, Signer: signer, Key: randomBytes(32)}
	return e
}

// start begins a flow and logs sub in at the provider; it returns the
// callback's code and state and the CSRF cookie.
func (e *env) start(t *testing.T, userID gatehouse.ID, returnTo, sub string) (code, state, csrf string) {
	t.Helper()
	authURL, csrf, err := e.flow.Authorize(redirectURI, nil, userID, returnTo)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := url.Parse(e.idp.Login(t, authURL, sub))
	if err != nil {
		t.Fatal(err)
	}
	q := cb.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("callback %s: want a code", cb)
	}
	return q.Get("code"), q.Get("state"), csrf
}

func wantCode(t *testing.T, err error, want gatehouse.Code) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

func TestFlow(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	authURL, csrf, err := e.flow.Authorize(redirectURI, nil, gatehouse.ID{}, "https://app.example/after")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := base64.RawURLEncoding.DecodeString(csrf); err != nil || len(b) != 32 {
		t.Errorf("csrf %q: want 32 random bytes, base64url", csrf)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Scheme+"://"+u.Host+u.Path, e.idp.Issuer+"/authorize"; got != want {
		t.Errorf("authorization endpoint %s, want %s", got, want)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             clientID,
		"redirect_uri":          redirectURI,
		"scope":                 "openid email profile",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("auth URL %s: want a code_challenge, a nonce and a state", authURL)
	}
	if strings.Contains(authURL, "code_verifier") || strings.Contains(authURL, csrf) {
		t.Errorf("auth URL %s holds the verifier or the CSRF token in clear", authURL)
	}

	cb, _ := url.Parse(e.idp.Login(t, authURL, "alice-sub"))
	id, returnTo, err := e.flow.Callback(ctx, redirectURI, cb.Query().Get("code"), cb.Query().Get("state"), csrf, gatehouse.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if id.AccountID != "alice-sub" || id.Email != "alice@example.com" || !id.EmailVerified {
		t.Errorf("identity %q %q %v, want alice-sub alice@example.com true", id.AccountID, id.Email, id.EmailVerified)
	}
	if id.AccessToken == "" || id.Expiry.Before(time.Now()) {
		t.Errorf("access token %q expiring %v: want one, in the future", id.AccessToken, id.Expiry)
	}
	if returnTo != "https://app.example/after" {
		t.Errorf("returnTo %q", returnTo)
	}

	t.Run("Unverified", func(t *testing.T) {
		code, state, csrf := e.start(t, gatehouse.ID{}, "", "bob-sub")
		id, _, err := e.flow.Callback(ctx, redirectURI, code, state, csrf, gatehouse.ID{})
		if err != nil {
			t.Fatal(err)
		}
		if id.AccountID != "bob-sub" || id.Email != "bob@example.com" || id.EmailVerified {
			t.Errorf("identity %q %q %v, want bob-sub bob@example.com false", id.AccountID, id.Email, id.EmailVerified)
		}
	})

	t.Run("EmailFromUserinfo", func(t *testing.T) {
		e.idp.SetUserinfoOnly(true)
		defer e.idp.SetUserinfoOnly(false)
		code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
		id, _, err := e.flow.Callback(ctx, redirectURI, code, state, csrf, gatehouse.ID{})
		if err != nil {
			t.Fatal(err)
		}
		if id.AccountID != "alice-sub" || id.Email != "alice@example.com" || !id.EmailVerified {
			t.Errorf("identity %q %q %v, want alice-sub alice@example.com true", id.AccountID, id.Email, id.EmailVerified)
		}
	})

	t.Run("Association", func(t *testing.T) {
		user := gatehouse.NewID()
		code, state, csrf := e.start(t, user, "", "alice-sub")
		id, _, err := e.flow.Callback(ctx, redirectURI, code, state, csrf, user)
		if err != nil {
			t.Fatal(err)
		}
		if id.AccountID != "alice-sub" {
			t.Errorf("account %q", id.AccountID)
		}
	})
}

// Checklist 74: every start has its own CSRF token, state, PKCE challenge
// and nonce.
func TestAuthorizeFresh(t *testing.T) {
	e := newEnv(t)
	params := func() url.Values {
		authURL, _, err := e.flow.Authorize(redirectURI, nil, gatehouse.ID{}, "")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		return u.Query()
	}
	a, b := params(), params()
	for _, k := range []string{"state", "code_challenge", "nonce"} {
		if a.Get(k) == b.Get(k) {
			t.Errorf("two starts share %s %q", k, a.Get(k))
		}
	}
}

func TestAuthorizeScopes(t *testing.T) {
	e := newEnv(t)
	authURL, _, err := e.flow.Authorize(redirectURI, []string{"email"}, gatehouse.ID{}, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	if got := u.Query().Get("scope"); got != "openid email" {
		t.Errorf("scope %q, want %q (openid is always asked)", got, "openid email")
	}
}

func TestFlowConfig(t *testing.T) {
	e := newEnv(t)
	for name, f := range map[string]*oauth.Flow{
		"NoProvider": {Signer: e.signer, Key: randomBytes(32)},
		"NoSigner":   {Provider: e.flow.Provider, Key: randomBytes(32)},
		"ShortKey":   {Provider: e.flow.Provider, Signer: e.signer, Key: randomBytes(31)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := f.Authorize(redirectURI, nil, gatehouse.ID{}, ""); err == nil {
				t.Error("Authorize: no error")
			}
			if _, _, err := f.Callback(t.Context(), redirectURI, "code", "state", "csrf", gatehouse.ID{}); err == nil {
				t.Error("Callback: no error")
			}
		})
	}
}

// Every check of the state comes before the code is spent: after each
// refused callback, the code still works.
func TestCallbackState(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice, mallory := gatehouse.NewID(), gatehouse.NewID()

	_, _, otherCSRF := e.start(t, gatehouse.ID{}, "", "alice-sub")
	loginCode, loginState, loginCSRF := e.start(t, gatehouse.ID{}, "", "alice-sub")
	assocCode, assocState, assocCSRF := e.start(t, alice, "", "alice-sub")
	foreign, err := e.signer.Sign("x", map[string]string{"csrftoken": loginCSRF}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tampered := loginState[:len(loginState)-4] + flip(loginState[len(loginState)-4:])
	unsigned := strings.Join(strings.Split(loginState, ".")[:2], ".") + "."

	for _, tc := range []struct {
		name              string
		code, state, csrf string
		user              gatehouse.ID
		want              gatehouse.Code
	}{
		{"OtherBrowsersCookie", loginCode, loginState, otherCSRF, gatehouse.ID{}, gatehouse.CodeOAuthInvalidState},
		{"NoCookie", loginCode, loginState, "", gatehouse.ID{}, gatehouse.CodeOAuthInvalidState},
		{"NoState", loginCode, "", loginCSRF, gatehouse.ID{}, gatehouse.CodeAccessTokenDecodeError},
		{"MalformedState", loginCode, "not-a-jwt", loginCSRF, gatehouse.ID{}, gatehouse.CodeAccessTokenDecodeError},
		{"TamperedState", loginCode, tampered, loginCSRF, gatehouse.ID{}, gatehouse.CodeAccessTokenDecodeError},
		{"UnsignedState", loginCode, unsigned, loginCSRF, gatehouse.ID{}, gatehouse.CodeAccessTokenDecodeError},
		{"StateForAnotherAudience", loginCode, foreign, loginCSRF, gatehouse.ID{}, gatehouse.CodeAccessTokenDecodeError},
		{"AssociationStateToLogIn", assocCode, assocState, assocCSRF, gatehouse.ID{}, gatehouse.CodeOAuthInvalidState},
		{"AssociationStateOfAnotherUser", assocCode, assocState, assocCSRF, mallory, gatehouse.CodeBadRequest},
		{"LoginStateToAssociate", loginCode, loginState, loginCSRF, mallory, gatehouse.CodeBadRequest},
		{"NoCode", "", loginState, loginCSRF, gatehouse.ID{}, gatehouse.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, _, err := e.flow.Callback(ctx, redirectURI, tc.code, tc.state, tc.csrf, tc.user)
			if id != nil {
				t.Errorf("identity %+v", id)
			}
			wantCode(t, err, tc.want)
		})
	}

	t.Run("Expired", func(t *testing.T) {
		code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
		e.now = e.now.Add(oauth.DefaultStateTTL + time.Second)
		defer func() { e.now = e.now.Add(-oauth.DefaultStateTTL - time.Second) }()
		_, _, err := e.flow.Callback(ctx, redirectURI, code, state, csrf, gatehouse.ID{})
		wantCode(t, err, gatehouse.CodeAccessTokenAlreadyExpired)
	})

	t.Run("CodesStillWork", func(t *testing.T) {
		if _, _, err := e.flow.Callback(ctx, redirectURI, loginCode, loginState, loginCSRF, gatehouse.ID{}); err != nil {
			t.Errorf("login: %v", err)
		}
		if _, _, err := e.flow.Callback(ctx, redirectURI, assocCode, assocState, assocCSRF, alice); err != nil {
			t.Errorf("association: %v", err)
		}
	})
}

func TestStateTTL(t *testing.T) {
	e := newEnv(t)
	e.flow.StateTTL = time.Minute
	code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
	e.now = e.now.Add(time.Minute + time.Second)
	_, _, err := e.flow.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
	wantCode(t, err, gatehouse.CodeAccessTokenAlreadyExpired)
}

// flip changes the first character of s.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// Checklist 77: the callback is one-shot.
func TestCallbackReplay(t *testing.T) {
	e := newEnv(t)
	code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
	if _, _, err := e.flow.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{}); err != nil {
		t.Fatal(err)
	}
	id, _, err := e.flow.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
	if id != nil {
		t.Errorf("identity %+v", id)
	}
	wantCode(t, err, gatehouse.CodeBadRequest)
}

func TestCallbackWrongVerifier(t *testing.T) {
	e := newEnv(t)
	code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
	other := *e.flow
	other.Key = randomBytes(32) // derives another verifier (and nonce)
	_, _, err := other.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
	wantCode(t, err, gatehouse.CodeBadRequest)
}

func TestCallbackWrongRedirectURI(t *testing.T) {
	e := newEnv(t)
	code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
	_, _, err := e.flow.Callback(t.Context(), redirectURI+"/other", code, state, csrf, gatehouse.ID{})
	wantCode(t, err, gatehouse.CodeBadRequest)
}

// Checklist 78: ID tokens the provider gets wrong are refused.
func TestCallbackIDToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*oauthtest.Provider)
	}{
		{"OtherAudience", func(p *oauthtest.Provider) { p.SetIDTokenAudience("another-client") }},
		{"Expired", func(p *oauthtest.Provider) { p.SetIDTokenLifetime(-time.Minute) }},
		{"OtherNonce", func(p *oauthtest.Provider) { p.SetIDTokenNonce("another-nonce") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.set(e.idp)
			code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
			id, _, err := e.flow.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
			t.Log(err)
			if id != nil {
				t.Errorf("identity %+v", id)
			}
			wantCode(t, err, gatehouse.CodeBadRequest)
		})
	}
}

// fakeOIDC is a hand-written provider whose token endpoint answers with
// token, for the answers no real provider gives.
func fakeOIDC(t *testing.T, token func(issuer string) (int, any)) string {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                srv.URL,
			"authorization_endpoint":                srv.URL + "/authorize",
			"token_endpoint":                        srv.URL + "/token",
			"jwks_uri":                              srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[]}`))
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		status, body := token(srv.URL)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func exchangeWith(t *testing.T, issuer string) error {
	t.Helper()
	p, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Exchange(t.Context(), redirectURI, "code", "verifier", "nonce")
	if id != nil {
		t.Errorf("identity %+v", id)
	}
	return err
}

func TestExchangeFakeProvider(t *testing.T) {
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name  string
		token func(issuer string) (int, any)
		want  gatehouse.Code
	}{
		{"AlgNone", func(iss string) (int, any) {
			idt := seg(map[string]any{"alg": "none", "typ": "JWT"}) + "." + seg(map[string]any{
				"iss": iss, "sub": "mallory", "aud": clientID, "exp": time.Now().Add(time.Hour).Unix(),
				"iat": time.Now().Unix(), "nonce": "nonce", "email": "victim@example.com", "email_verified": true,
			}) + "."
			return 200, map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": idt}
		}, gatehouse.CodeBadRequest},
		{"NoIDToken", func(string) (int, any) {
			return 200, map[string]any{"access_token": "at", "token_type": "Bearer"}
		}, gatehouse.CodeBadGateway},
		{"InvalidGrant", func(string) (int, any) {
			return 400, map[string]any{"error": "invalid_grant"}
		}, gatehouse.CodeBadRequest},
		{"ServerError", func(string) (int, any) {
			return 503, map[string]any{"error": "temporarily_unavailable"}
		}, gatehouse.CodeBadGateway},
		{"Garbage", func(string) (int, any) {
			return 200, "not an object"
		}, gatehouse.CodeBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, exchangeWith(t, fakeOIDC(t, tc.token)), tc.want)
		})
	}
}

func TestProviderDown(t *testing.T) {
	e := newEnv(t)
	code, state, csrf := e.start(t, gatehouse.ID{}, "", "alice-sub")
	e.idp.Close()
	_, _, err := e.flow.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
	wantCode(t, err, gatehouse.CodeBadGateway)

	if _, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{Issuer: e.idp.Issuer, ClientID: clientID}); err == nil {
		t.Error("NewOIDC of a provider that is down: no error")
	}
}

// Checklist 81: TLS is verified; a provider with a certificate nobody
// trusts fails closed. An injected client is used as given.
func TestNewOIDCTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{Issuer: srv.URL, ClientID: clientID}); err == nil {
		t.Error("NewOIDC over TLS with an untrusted certificate: no error")
	}

	var hits int
	iss := fakeOIDC(t, nil)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hits++
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{Issuer: iss, ClientID: clientID, HTTPClient: client}); err != nil {
		t.Fatal(err)
	}
	if hits == 0 {
		t.Error("HTTPClient not used for discovery")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewOIDCConfig(t *testing.T) {
	if _, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{ClientID: clientID}); err == nil {
		t.Error("no Issuer: no error")
	}
	idp := oauthtest.New(t)
	if _, err := oauth.NewOIDC(t.Context(), oauth.OIDCConfig{Issuer: idp.Issuer}); err == nil {
		t.Error("no ClientID: no error")
	}
	p, err := oauth.NewOIDC(context.Background(), oauth.OIDCConfig{Issuer: idp.Issuer, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "oidc" {
		t.Errorf("Name %q, want oidc", p.Name())
	}
	g, err := oauth.NewGoogle(t.Context(), oauth.OIDCConfig{Issuer: idp.Issuer, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name() != "google" {
		t.Errorf("Name %q, want google", g.Name())
	}
}
