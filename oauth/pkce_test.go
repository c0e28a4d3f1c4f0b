package oauth

import (
	"net/url"
	"regexp"
	"testing"

	"golang.org/x/oauth2"
)

// RFC 7636 Appendix B: the S256 challenge of the example verifier
// (checklist 74).
const (
	rfc7636Verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7636Challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

func TestS256RFC7636(t *testing.T) {
	if got := s256(rfc7636Verifier); got != rfc7636Challenge {
		t.Errorf("s256(%q) = %q, want %q", rfc7636Verifier, got, rfc7636Challenge)
	}
	// The same challenge reaches the authorization URL of both kinds of
	// provider.
	for _, p := range []Provider{
		NewGitHub(GitHubConfig{ClientID: "id"}),
		&oidcProvider{name: "oidc", config: oauth2.Config{
			ClientID: "id",
			Endpoint: oauth2.Endpoint{AuthURL: "https://idp.example/authorize", TokenURL: "https://idp.example/token"},
		}},
	} {
		u, err := url.Parse(p.AuthCodeURL("https://app.example/cb", "state", rfc7636Verifier, "nonce", nil))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("code_challenge") != rfc7636Challenge || q.Get("code_challenge_method") != "S256" {
			t.Errorf("%s: code_challenge %q method %q", p.Name(), q.Get("code_challenge"), q.Get("code_challenge_method"))
		}
	}
}

// RFC 7636 §4.1: a verifier is 43 to 128 characters of [A-Za-z0-9-._~].
var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func TestDerive(t *testing.T) {
	f := &Flow{Key: []byte("0123456789abcdef0123456789abcdef")}
	v1, n1 := f.derive("csrf-1")
	v2, n2 := f.derive("csrf-2")
	for _, v := range []string{v1, v2, n1, n2} {
		if !verifierRE.MatchString(v) || len(v) != 43 {
			t.Errorf("%q: want 43 characters of RFC 7636's alphabet", v)
		}
	}
	if v1 == v2 || n1 == n2 || v1 == n1 {
		t.Error("derived values repeat")
	}
	if v, n := f.derive("csrf-1"); v != v1 || n != n1 {
		t.Error("derive is not deterministic")
	}
	g := &Flow{Key: []byte("fedcba9876543210fedcba9876543210")}
	if v, _ := g.derive("csrf-1"); v == v1 {
		t.Error("the verifier does not depend on the key")
	}
}
