package cli

import (
	"reflect"
	"strings"
	"testing"
)

// oauthEnv parses the OAuth variables of e against the default backends
// (or the given ones).
func oauthEnv(e map[string]string, backends ...backendSpec) ([]oauthSpec, error) {
	if backends == nil {
		backends = []backendSpec{{"jwt", "bearer", "jwt"}, {"cookie", "cookie", "jwt"}}
	}
	environ := func() []string {
		var kv []string
		for k, v := range e {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
	return parseOAuth(func(k string) string { return e[k] }, environ, backends)
}

func TestParseOAuth(t *testing.T) {
	const secret = "client-secret-value"
	for _, tc := range []struct {
		name     string
		env      map[string]string
		backends []backendSpec
		want     []oauthSpec
		err      []string // substrings of the error; nil: no error
	}{
		{name: "none", env: map[string]string{"GATEHOUSE_SECRET": "x", "HOME": "/root"}},
		{
			name: "github and google and an issuer, sorted by name",
			env: map[string]string{
				"GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID": "g-id", "GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_GOOGLE_PROVIDER":  "google",
				"GATEHOUSE_OAUTH_GITHUB_CLIENT_ID": "gh-id", "GATEHOUSE_OAUTH_GITHUB_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_GITHUB_PROVIDER": "github", "GATEHOUSE_OAUTH_GITHUB_SCOPES": "read:user, user:email read:user",
				"GATEHOUSE_OAUTH_MY_IDP_CLIENT_ID": "m-id", "GATEHOUSE_OAUTH_MY_IDP_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_MY_IDP_ISSUER": "https://idp.example.com/realms/x", "GATEHOUSE_OAUTH_MY_IDP_SCOPES": "openid email",
				"GATEHOUSE_OAUTH_MY_IDP_ASSOCIATE_BY_EMAIL": "true", "GATEHOUSE_OAUTH_MY_IDP_BACKEND": "cookie",
				"GATEHOUSE_OAUTH_MY_IDP_RETURN_URLS": "https://app.example.com/done, http://localhost:3000/cb",
				"GATEHOUSE_OAUTH_UNUSED_ISSUER":      "", // empty counts as unset
			},
			want: []oauthSpec{
				{Name: "github", Kind: "github", ClientID: "gh-id", ClientSecret: secret, Scopes: []string{"read:user", "user:email"}, Backend: "jwt"},
				{Name: "google", Kind: "google", ClientID: "g-id", ClientSecret: secret, Backend: "jwt"},
				{Name: "my_idp", Kind: "oidc", ClientID: "m-id", ClientSecret: secret, Issuer: "https://idp.example.com/realms/x",
					Scopes: []string{"openid", "email"}, AssociateByEmail: true, Backend: "cookie",
					ReturnURLs: []string{"https://app.example.com/done", "http://localhost:3000/cb"}},
			},
		},
		{
			name:     "default backend is the first",
			env:      map[string]string{"GATEHOUSE_OAUTH_G_CLIENT_ID": "id", "GATEHOUSE_OAUTH_G_CLIENT_SECRET": secret, "GATEHOUSE_OAUTH_G_PROVIDER": "github"},
			backends: []backendSpec{{"web", "cookie", "database"}, {"api", "bearer", "jwt"}},
			want:     []oauthSpec{{Name: "g", Kind: "github", ClientID: "id", ClientSecret: secret, Backend: "web"}},
		},
		{
			name: "missing secret",
			env:  map[string]string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID": "id", "GATEHOUSE_OAUTH_GOOGLE_PROVIDER": "google"},
			err:  []string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET is required"},
		},
		{
			name: "both issuer and provider",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "google", "GATEHOUSE_OAUTH_X_ISSUER": "https://idp.example.com"},
			err: []string{"GATEHOUSE_OAUTH_X_ISSUER", "GATEHOUSE_OAUTH_X_PROVIDER", "exactly one"},
		},
		{
			name: "neither issuer nor provider",
			env:  map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret},
			err:  []string{"GATEHOUSE_OAUTH_X_ISSUER", "GATEHOUSE_OAUTH_X_PROVIDER"},
		},
		{
			name: "unknown provider",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "gitlab"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_PROVIDER", `"gitlab"`, "github or google"},
		},
		{
			name: "name of a backend",
			env: map[string]string{"GATEHOUSE_OAUTH_COOKIE_CLIENT_ID": "id", "GATEHOUSE_OAUTH_COOKIE_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_COOKIE_PROVIDER": "google"},
			err: []string{"GATEHOUSE_OAUTH_COOKIE_CLIENT_ID", `"cookie"`, "backend", "GATEHOUSE_BACKENDS"},
		},
		{
			name: "name of the API key backend",
			env: map[string]string{"GATEHOUSE_OAUTH_APIKEY_CLIENT_ID": "id", "GATEHOUSE_OAUTH_APIKEY_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_APIKEY_PROVIDER": "google"},
			err: []string{"GATEHOUSE_OAUTH_APIKEY_CLIENT_ID", "backend"},
		},
		{
			name: "associate",
			env: map[string]string{"GATEHOUSE_OAUTH_ASSOCIATE_CLIENT_ID": "id", "GATEHOUSE_OAUTH_ASSOCIATE_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_ASSOCIATE_PROVIDER": "google"},
			err: []string{"GATEHOUSE_OAUTH_ASSOCIATE_CLIENT_ID", `"associate"`},
		},
		{
			name: "bad name",
			env: map[string]string{"GATEHOUSE_OAUTH_1X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_1X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_1X_PROVIDER": "google"},
			err: []string{"GATEHOUSE_OAUTH_1X_CLIENT_ID", "start with a letter"},
		},
		{
			name: "one name twice",
			env: map[string]string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID": "id", "GATEHOUSE_OAUTH_Google_CLIENT_ID": "id2",
				"GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET": secret, "GATEHOUSE_OAUTH_GOOGLE_PROVIDER": "google"},
			err: []string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID and GATEHOUSE_OAUTH_Google_CLIENT_ID", `"google"`},
		},
		{
			name: "no client id",
			env:  map[string]string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET": secret, "GATEHOUSE_OAUTH_GOOGLE_PROVIDER": "google"},
			err:  []string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET, GATEHOUSE_OAUTH_GOOGLE_PROVIDER is set but GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID is not"},
		},
		{
			name: "unknown variable",
			env: map[string]string{"GATEHOUSE_OAUTH_GOOGLE_CLIENT_ID": "id", "GATEHOUSE_OAUTH_GOOGLE_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_GOOGLE_PROVIDER": "google", "GATEHOUSE_OAUTH_GOOGLE_SCOPE": "openid"},
			err: []string{"unknown variable GATEHOUSE_OAUTH_GOOGLE_SCOPE"},
		},
		{
			name: "issuer not https",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_ISSUER": "http://idp.example.com"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_ISSUER", "https://"},
		},
		{
			name: "issuer with a query",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_ISSUER": "https://idp.example.com/?a=b"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_ISSUER", "query"},
		},
		{
			name: "bad scope",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_SCOPES": `repo,"x"`},
			err: []string{"invalid GATEHOUSE_OAUTH_X_SCOPES"},
		},
		{
			name: "no scopes",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_SCOPES": " , "},
			err: []string{"invalid GATEHOUSE_OAUTH_X_SCOPES", "no scopes"},
		},
		{
			name: "bad bool",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_ASSOCIATE_BY_EMAIL": "yes"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_ASSOCIATE_BY_EMAIL"},
		},
		{
			name: "unknown backend",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_BACKEND": "apikey"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_BACKEND", `"apikey"`, "jwt, cookie"},
		},
		{
			name: "return URLs need a cookie backend",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_RETURN_URLS": "https://app.example.com/"},
			err: []string{"GATEHOUSE_OAUTH_X_RETURN_URLS needs a cookie backend", "GATEHOUSE_OAUTH_X_BACKEND"},
		},
		{
			name: "bad return URL",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_BACKEND": "cookie",
				"GATEHOUSE_OAUTH_X_RETURN_URLS": "https://app.example.com/,//evil.example"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_RETURN_URLS", "entry 2"},
		},
		{
			name: "plain-HTTP return URL",
			env: map[string]string{"GATEHOUSE_OAUTH_X_CLIENT_ID": "id", "GATEHOUSE_OAUTH_X_CLIENT_SECRET": secret,
				"GATEHOUSE_OAUTH_X_PROVIDER": "github", "GATEHOUSE_OAUTH_X_BACKEND": "cookie",
				"GATEHOUSE_OAUTH_X_RETURN_URLS": "http://app.example.com/"},
			err: []string{"invalid GATEHOUSE_OAUTH_X_RETURN_URLS", "https://"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauthEnv(tc.env, tc.backends...)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("no error, want one with %q; got %+v", tc.err, got)
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes the client secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestOAuthSeal checks that the providers' tokens are sealed under a key
// of their own: the token is not in the sealed bytes, two seals differ,
// and only the same secret opens them.
func TestOAuthSeal(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-test-secret"
	seal, err := newOAuthSeal(secret)
	if err != nil {
		t.Fatal(err)
	}
	token := []byte("provider-access-token-1234567890")
	a, err := seal(token)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := seal(token)
	if strings.Contains(string(a), string(token)) || string(a) == string(b) {
		t.Errorf("sealed %x, %x: want no plain text and a fresh nonce each time", a, b)
	}
	if got, err := unsealOAuthToken(secret, a); err != nil || string(got) != string(token) {
		t.Errorf("unseal = %q, %v", got, err)
	}
	if _, err := unsealOAuthToken(secret+"x", a); err == nil {
		t.Error("another secret opened the token")
	}
	// Signing keys are sealed under another key.
	if _, err := unseal(secret, "", a); err == nil {
		t.Error("the signing-key seal opened an OAuth token")
	}
	if empty, err := seal(nil); err != nil || len(empty) != 0 {
		t.Errorf("seal(empty) = %x, %v; want empty", empty, err)
	}
}
