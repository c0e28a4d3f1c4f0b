package cli_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// fetchJWKS reads /.well-known/jwks.json with go-jose.
func fetchJWKS(t *testing.T, base string) jose.JSONWebKeySet {
	t.Helper()
	status, b := do(t, "GET", base+"/.well-known/jwks.json", nil, nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); status != http.StatusOK || err != nil {
		t.Fatalf("JWKS: %d %s: %v", status, b, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() || k.Use != "sig" {
			t.Errorf("JWKS key %s: public %v, valid %v, use %q", k.KeyID, k.IsPublic(), k.Valid(), k.Use)
		}
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

// joseVerify checks an access token with go-jose against a JWK set, as a
// service that only has the published keys would: the kid picks the key,
// the signature must verify with it, and iss, aud and exp must hold. It
// returns the kid.
func joseVerify(t *testing.T, set jose.JSONWebKeySet, token string) string {
	t.Helper()
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose cannot parse the token: %v", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].Algorithm != "EdDSA" || tok.Headers[0].ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("token header %+v, want alg EdDSA, typ at+jwt", tok.Headers)
	}
	kid := tok.Headers[0].KeyID
	keys := set.Key(kid)
	if kid == "" || len(keys) != 1 {
		t.Fatalf("the token's kid %q names %d keys of the JWKS (kids %v)", kid, len(keys), kids(set))
	}
	if keys[0].Algorithm != "EdDSA" {
		t.Errorf("JWK %s has alg %q, want EdDSA", kid, keys[0].Algorithm)
	}
	if _, ok := keys[0].Key.(ed25519.PublicKey); !ok {
		t.Fatalf("JWK %s is a %T, want an Ed25519 public key", kid, keys[0].Key)
	}
	var claims josejwt.Claims
	if err := tok.Claims(keys[0], &claims); err != nil {
		t.Fatalf("go-jose: the signature does not verify with JWK %s: %v", kid, err)
	}
	if err := claims.ValidateWithLeeway(josejwt.Expected{
		Issuer: "gatehouse", AnyAudience: josejwt.Audience{"fastapi-users:auth"}, Time: time.Now(),
	}, 0); err != nil || claims.Subject == "" || claims.ID == "" {
		t.Fatalf("go-jose: claims %+v: %v", claims, err)
	}
	// Every other key of the set refuses it.
	for _, k := range set.Keys {
		if k.KeyID != kid {
			if err := tok.Claims(k, &josejwt.Claims{}); err == nil {
				t.Errorf("the token also verifies with key %s", k.KeyID)
			}
		}
	}
	return kid
}

// forge signs the claims of token with a key of its own under kid.
func forge(t *testing.T, token, kid string) string {
	t.Helper()
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return forged
}

// TestJWKSIndependentLibrary checks EdDSA access tokens with go-jose, a JOSE
// library other than the one that signs them, against the published JWKS,
// before and after 'keys rotate', and that a retired key stops verifying
// once its tokens can no longer be alive.
func TestJWKSIndependentLibrary(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_JWT_ALGORITHM": "EdDSA"}

	// The server's key clock can be moved ahead; the tokens' clock cannot,
	// so a token dropped below is refused for its key, not its age.
	var ahead atomic.Int64
	var reload func(context.Context) error
	o := opts(e)
	o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	o.KeyReloader = func(r func(context.Context) error) { reload = r }
	s := startServerWith(t, o, "--database-url", dbURL, "--access-token-ttl", "1h")
	if reload == nil {
		t.Fatal("serve did not hand out its key reload")
	}
	forceReload := func() {
		t.Helper()
		if err := reload(context.Background()); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}

	register(t, s.URL, "kim@example.com", testPassword)
	oldToken := login(t, s.URL, "kim@example.com", testPassword)
	set := fetchJWKS(t, s.URL)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	oldKid := joseVerify(t, set, oldToken)

	// A rotation by the CLI, on the same database and secret, is picked up
	// at the next reload: the key is published at once and signs new
	// logins once it is old enough.
	newKid := strings.TrimSpace(mustRun(t, opts(e), "keys", "rotate", "--database-url", dbURL))
	if newKid == oldKid {
		t.Fatalf("keys rotate printed the old kid %s", oldKid)
	}
	if got := joseVerify(t, set, login(t, s.URL, "kim@example.com", testPassword)); got != oldKid {
		t.Errorf("before the reload a login used key %s, want the old %s", got, oldKid)
	}
	// The reload publishes the new key, but the old one signs until every
	// instance has had time to load the new one (90 s).
	forceReload()
	set = fetchJWKS(t, s.URL)
	if got := kids(set); len(got) != 2 || !slices.Contains(got, oldKid) || !slices.Contains(got, newKid) {
		t.Fatalf("JWKS after rotate: kids %v, want %s and %s", got, oldKid, newKid)
	}
	if got := joseVerify(t, set, login(t, s.URL, "kim@example.com", testPassword)); got != oldKid {
		t.Errorf("right after the reload a login used key %s, want the old %s until the new one is 90 s old", got, oldKid)
	}
	ahead.Store(int64(90*time.Second + time.Second))
	forceReload()
	newToken := login(t, s.URL, "kim@example.com", testPassword)
	if got := joseVerify(t, set, newToken); got != newKid {
		t.Errorf("after rotate the token has kid %s, want %s", got, newKid)
	}
	if got := joseVerify(t, set, oldToken); got != oldKid {
		t.Errorf("old token kid %s, want %s", got, oldKid)
	}
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if status, m := me(t, s.URL, tok); status != http.StatusOK {
			t.Errorf("GET /users/me with the %s token: %d %v", name, status, m)
		}
	}

	// A token whose kid is unknown, or whose known kid is claimed by a key
	// of the attacker, is refused.
	for name, tok := range map[string]string{
		"unknown kid":  forge(t, newToken, "no-such-kid"),
		"borrowed kid": forge(t, newToken, newKid),
	} {
		if status, _ := me(t, s.URL, tok); status != http.StatusUnauthorized {
			t.Errorf("GET /users/me with a token of %s: %d, want 401", name, status)
		}
	}

	// A retired key still verifies until no token it signed can be alive
	// (the access-token lifetime plus a minute)...
	mustRun(t, opts(e), "keys", "retire", oldKid, "--database-url", dbURL, "--access-token-ttl", "1h")
	forceReload()
	if status, _ := me(t, s.URL, oldToken); status != http.StatusOK {
		t.Errorf("GET /users/me with the old token right after keys retire: %d, want 200", status)
	}
	if got := kids(fetchJWKS(t, s.URL)); len(got) != 2 {
		t.Errorf("JWKS right after keys retire: %v, want both keys", got)
	}
	if got := joseVerify(t, set, login(t, s.URL, "kim@example.com", testPassword)); got != newKid {
		t.Errorf("a login after retire used key %s, want %s", got, newKid)
	}

	// ... and then is dropped: its tokens are refused like a forged kid.
	ahead.Store(int64(time.Hour + time.Minute + time.Second))
	forceReload()
	set = fetchJWKS(t, s.URL)
	if got := kids(set); !slices.Equal(got, []string{newKid}) {
		t.Errorf("JWKS after the retention window: %v, want only %s", got, newKid)
	}
	if status, _ := me(t, s.URL, oldToken); status != http.StatusUnauthorized {
		t.Errorf("GET /users/me with the old token after the retention window: %d, want 401", status)
	}
	if status, _ := me(t, s.URL, newToken); status != http.StatusOK {
		t.Errorf("GET /users/me with the new token: %d, want 200", status)
	}
	if status, _ := me(t, s.URL, forge(t, newToken, oldKid)); status != http.StatusUnauthorized {
		t.Errorf("a token naming the dropped kid: %d, want 401", status)
	}
	joseVerify(t, set, newToken)
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
}
