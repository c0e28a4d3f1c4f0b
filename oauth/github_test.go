package oauth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

// fakeGitHub answers like GitHub's documented responses:
// the token endpoint of the web application flow
// (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps:
// parameters in the form, a form-encoded answer unless JSON is accepted,
// and errors such as bad_verification_code with status 200),
// GET /user (https://docs.github.com/en/rest/users/users#get-the-authenticated-user)
// and GET /user/emails
// (https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user).
type fakeGitHub struct {
	*httptest.Server

	mu         sync.Mutex
	challenges map[string]string // code -> S256 code challenge
	emails     string            // the JSON of GET /user/emails; "" answers 404
	userStatus int               // of GET /user; 0 answers 200
	tokenCalls int
}

const githubToken = "gho_16C7e42F292c6912E7710c838347Ae178B4a"

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{challenges: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", g.token)
	mux.HandleFunc("GET /user", g.api(func(w http.ResponseWriter) {
		if g.userStatus != 0 {
			http.Error(w, `{"message":"Server Error"}`, g.userStatus)
			return
		}
		w.Write([]byte(`{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","type":"User",` +
			`"name":"The Octocat","email":"public@example.com"}`))
	}))
	mux.HandleFunc("GET /user/emails", g.api(func(w http.ResponseWriter) {
		if g.emails == "" {
			http.Error(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(g.emails))
	}))
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) token(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokenCalls++
	answer := func(v url.Values) {
		if r.Header.Get("Accept") == "application/json" {
			m := map[string]string{}
			for k := range v {
				m[k] = v.Get(k)
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(m)
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.Write([]byte(v.Encode()))
	}
	if r.PostFormValue("client_id") != clientID || r.PostFormValue("client_secret") != clientSecret {
		answer(url.Values{"error": {"incorrect_client_credentials"}})
		return
	}
	code := r.PostFormValue("code")
	challenge, ok := g.challenges[code]
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge || r.PostFormValue("redirect_uri") != redirectURI {
		answer(url.Values{
			"error":             {"bad_verification_code"},
			"error_description": {"The code passed is incorrect or expired."},
			"error_uri":         {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"},
		})
		return
	}
	delete(g.challenges, code) // single use
	answer(url.Values{"access_token": {githubToken}, "scope": {"read:user,user:email"}, "token_type": {"bearer"}})
}

func (g *fakeGitHub) api(h func(http.ResponseWriter)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+githubToken {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Accept") != "application/vnd.github+json" {
			http.Error(w, "want Accept: application/vnd.github+json", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		h(w)
	}
}

func (g *fakeGitHub) provider() oauth.Provider {
	return oauth.NewGitHub(oauth.GitHubConfig{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		AuthURL:      g.URL + "/login/oauth/authorize",
		TokenURL:     g.URL + "/login/oauth/access_token",
		APIURL:       g.URL,
	})
}

// authorize plays GitHub's authorization step for an authorization URL: it
// issues a code bound to the URL's code challenge.
func (g *fakeGitHub) authorize(t *testing.T, authURL string) (code, state string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" {
		t.Fatalf("auth URL %s: no S256 challenge", authURL)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	code = "code-" + q.Get("code_challenge")[:8]
	g.challenges[code] = q.Get("code_challenge")
	return code, q.Get("state")
}

func TestGitHubAuthCodeURL(t *testing.T) {
	p := oauth.NewGitHub(oauth.GitHubConfig{ClientID: clientID, ClientSecret: clientSecret})
	if p.Name() != "github" {
		t.Errorf("Name %q", p.Name())
	}
	u, err := url.Parse(p.AuthCodeURL(redirectURI, "the-state", "the-verifier-the-verifier-the-verifier-1234", "the-nonce", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != oauth.GitHubAuthURL {
		t.Errorf("endpoint %s", got)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             clientID,
		"redirect_uri":          redirectURI,
		"state":                 "the-state",
		"scope":                 "read:user user:email",
		"code_challenge_method": "S256",
		"nonce":                 "", // GitHub is not OpenID Connect
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if q.Get("code_challenge") == "" || q.Has("client_secret") {
		t.Errorf("auth URL %s", u)
	}
}

func TestGitHub(t *testing.T) {
	const (
		primaryVerified = `[{"email":"secondary@example.com","verified":true,"primary":false,"visibility":null},` +
			`{"email":"octocat@example.com","verified":true,"primary":true,"visibility":"public"}]`
		primaryUnverified = `[{"email":"octocat@example.com","verified":false,"primary":true,"visibility":"public"},` +
			`{"email":"secondary@example.com","verified":true,"primary":false,"visibility":null}]`
		noPrimary = `[{"email":"secondary@example.com","verified":true,"primary":false,"visibility":null}]`
	)
	for _, tc := range []struct {
		name, emails string
		wantEmail    string
	}{
		{"PrimaryVerified", primaryVerified, "octocat@example.com"},
		{"PrimaryUnverified", primaryUnverified, ""},
		{"NoPrimary", noPrimary, ""},
		{"NoEmails", `[]`, ""},
		{"NoEmailScope", "", ""}, // GET /user/emails answers 404
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGitHub(t)
			g.emails = tc.emails
			f := &oauth.Flow{Provider: g.provider(), Signer: newEnvSigner(t), Key: randomBytes(32)}
			authURL, csrf, err := f.Authorize(redirectURI, nil, gatehouse.ID{}, "")
			if err != nil {
				t.Fatal(err)
			}
			code, state := g.authorize(t, authURL)
			id, _, err := f.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
			if err != nil {
				t.Fatal(err)
			}
			if id.AccountID != "583231" || id.Email != tc.wantEmail || id.EmailVerified != (tc.wantEmail != "") {
				t.Errorf("identity %q %q %v, want 583231 %q %v", id.AccountID, id.Email, id.EmailVerified, tc.wantEmail, tc.wantEmail != "")
			}
			if id.AccessToken != githubToken {
				t.Errorf("access token %q", id.AccessToken)
			}

			// The code is spent.
			_, _, err = f.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
			wantCode(t, err, gatehouse.CodeBadRequest)
		})
	}
}

func TestGitHubErrors(t *testing.T) {
	t.Run("WrongVerifier", func(t *testing.T) {
		g := newFakeGitHub(t)
		f := &oauth.Flow{Provider: g.provider(), Signer: newEnvSigner(t), Key: randomBytes(32)}
		authURL, csrf, _ := f.Authorize(redirectURI, nil, gatehouse.ID{}, "")
		code, state := g.authorize(t, authURL)
		f.Key = randomBytes(32)
		_, _, err := f.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
		wantCode(t, err, gatehouse.CodeBadRequest)
		if g.tokenCalls != 1 {
			t.Errorf("%d token requests, want 1", g.tokenCalls)
		}
	})
	t.Run("APIDown", func(t *testing.T) {
		g := newFakeGitHub(t)
		g.userStatus = http.StatusBadGateway
		f := &oauth.Flow{Provider: g.provider(), Signer: newEnvSigner(t), Key: randomBytes(32)}
		authURL, csrf, _ := f.Authorize(redirectURI, nil, gatehouse.ID{}, "")
		code, state := g.authorize(t, authURL)
		_, _, err := f.Callback(t.Context(), redirectURI, code, state, csrf, gatehouse.ID{})
		wantCode(t, err, gatehouse.CodeBadGateway)
		if strings.Contains(err.Error(), githubToken) {
			t.Errorf("error %q holds the access token", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		g := newFakeGitHub(t)
		p := g.provider()
		g.Close()
		_, err := p.Exchange(t.Context(), redirectURI, "code", "verifier", "")
		wantCode(t, err, gatehouse.CodeBadGateway)
	})
	t.Run("TokenEndpoint5xx", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "unicorn", http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		p := oauth.NewGitHub(oauth.GitHubConfig{ClientID: clientID, TokenURL: srv.URL, APIURL: srv.URL})
		_, err := p.Exchange(t.Context(), redirectURI, "code", "verifier", "")
		wantCode(t, err, gatehouse.CodeBadGateway)
	})
}
