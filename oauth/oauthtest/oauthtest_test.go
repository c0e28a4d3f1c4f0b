package oauthtest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/oauth/oauthtest"
)

const redirect = "http://127.0.0.1:1/cb"

func authURL(p *oauthtest.Provider, edit func(url.Values)) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {"c"},
		"redirect_uri":          {redirect},
		"scope":                 {"openid email"},
		"state":                 {"st"},
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
	if edit != nil {
		edit(q)
	}
	return p.Issuer + "/authorize?" + q.Encode()
}

func newProvider(t *testing.T) *oauthtest.Provider {
	p := oauthtest.New(t)
	p.AddUser("alice", "alice@example.com", true)
	p.SetClient("c", "s", redirect)
	return p
}

func TestDiscovery(t *testing.T) {
	p := newProvider(t)
	resp, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKS    string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
		Methods []string `json:"code_challenge_methods_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != p.Issuer || doc.JWKS == "" || len(doc.Algs) != 1 || doc.Algs[0] != "RS256" {
		t.Errorf("discovery %+v", doc)
	}
}

func TestLogin(t *testing.T) {
	p := newProvider(t)
	cb, _ := url.Parse(p.Login(t, authURL(p, nil), "alice"))
	if !strings.HasPrefix(cb.String(), redirect+"?") || cb.Query().Get("code") == "" || cb.Query().Get("state") != "st" {
		t.Errorf("callback %s", cb)
	}
}

// PKCE with S256 is required: without it the provider redirects with
// invalid_request.
func TestPKCERequired(t *testing.T) {
	p := newProvider(t)
	for name, edit := range map[string]func(url.Values){
		"None":  func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
		"Plain": func(q url.Values) { q.Set("code_challenge_method", "plain") },
	} {
		t.Run(name, func(t *testing.T) {
			cb, _ := url.Parse(p.Login(t, authURL(p, edit), "alice"))
			if cb.Query().Get("error") != "invalid_request" || cb.Query().Has("code") {
				t.Errorf("callback %s: want error=invalid_request", cb)
			}
		})
	}
}

func TestLoginUnknownUser(t *testing.T) {
	p := newProvider(t)
	ft := &fakeTB{TB: t}
	func() {
		defer func() { recover() }()
		p.Login(ft, authURL(p, nil), "nobody")
	}()
	if !ft.failed {
		t.Error("Login of an unknown user did not fail the test")
	}
}

// fakeTB records a Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
