package jwt_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

func TestRoundTrip(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			s := newStrategy(t, f, nil)
			tok, err := s.Write(context.Background(), &gatehouse.User{ID: userID}, gatehouse.ID{})
			if err != nil {
				t.Fatal(err)
			}
			if want := t0.Add(15 * time.Minute); !tok.Expiry.Equal(want) {
				t.Errorf("Expiry = %v, want %v", tok.Expiry, want)
			}
			if tok.RefreshToken != "" {
				t.Errorf("RefreshToken = %q, want none", tok.RefreshToken)
			}
			p, err := s.Read(context.Background(), tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != userID || !p.Expiry.Equal(tok.Expiry) || p.TokenID == "" {
				t.Errorf("Principal = %+v", p)
			}

			// The header is exactly alg, typ and (for asymmetric keys) kid.
			h, pl, _ := segments(t, tok.AccessToken)
			var header map[string]any
			if err := json.Unmarshal(decodeSeg(t, h), &header); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"alg": alg, "typ": "at+jwt"}
			if alg != "HS256" {
				want["kid"] = f.kid
			}
			if !reflect.DeepEqual(header, want) {
				t.Errorf("header = %v, want %v", header, want)
			}

			// The payload is exactly the documented claim set, aud an array.
			var claims map[string]any
			if err := json.Unmarshal(decodeSeg(t, pl), &claims); err != nil {
				t.Fatal(err)
			}
			if p.TokenID != claims["jti"] {
				t.Errorf("TokenID %q != jti %v", p.TokenID, claims["jti"])
			}
			jti, _ := claims["jti"].(string)
			if raw, err := b64.DecodeString(jti); err != nil || len(raw) < 16 {
				t.Errorf("jti %q is not 128+ bits of base64url", jti)
			}
			delete(claims, "jti")
			wantClaims := map[string]any{
				"iss": "gatehouse",
				"sub": userID.String(),
				"aud": []any{"fastapi-users:auth"},
				"exp": float64(t0.Add(15 * time.Minute).Unix()),
				"nbf": float64(t0.Unix()),
				"iat": float64(t0.Unix()),
			}
			if !reflect.DeepEqual(claims, wantClaims) {
				t.Errorf("claims = %v, want %v", claims, wantClaims)
			}

			// Two tokens never share a jti.
			if tok2 := write(t, s); tok2 == tok.AccessToken {
				t.Error("two Writes made the same token")
			}
		})
	}
}

func TestWriteRejectsUserWithoutID(t *testing.T) {
	s := newStrategy(t, newFixture(t, "HS256"), nil)
	for _, u := range []*gatehouse.User{nil, {}} {
		if _, err := s.Write(context.Background(), u, gatehouse.ID{}); err == nil {
			t.Errorf("Write(%v) succeeded", u)
		}
	}
}

// TestHS256Interop checks that a service holding only the secret verifies
// Gatehouse's HS256 tokens the way FastAPI Users (PyJWT) does.
func TestHS256Interop(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	key, err := jwt.HMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.New(jwt.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	tok := write(t, s)
	parsed, err := jwtlib.Parse(tok, func(*jwtlib.Token) (any, error) { return secret, nil },
		jwtlib.WithValidMethods([]string{"HS256"}), jwtlib.WithAudience("fastapi-users:auth"))
	if err != nil {
		t.Fatal(err)
	}
	if sub, _ := parsed.Claims.GetSubject(); sub != userID.String() {
		t.Errorf("sub = %q", sub)
	}
	// And the secret is copied: changing the caller's slice changes nothing.
	secret[0] ^= 1
	if _, err := s.Read(context.Background(), tok); err != nil {
		t.Errorf("Read after caller changed its secret: %v", err)
	}
}

func TestNew(t *testing.T) {
	hs := newFixture(t, "HS256")
	ed := newFixture(t, "EdDSA")
	other := newFixture(t, "EdDSA")
	sameKid := fixtureFor(t, "EdDSA", ed.kid, mustEd25519(t))
	tests := []struct {
		name string
		cfg  jwt.Config
		ok   bool
	}{
		{"OK", jwt.Config{Key: ed.key}, true},
		{"OKLeeway60s", jwt.Config{Key: ed.key, Leeway: 60 * time.Second}, true},
		{"OKSameKeyTwice", jwt.Config{Key: ed.key, Verify: []jwt.Key{ed.key, other.key, hs.key}}, true},
		{"ErrNoKey", jwt.Config{}, false},
		{"ErrLeewayTooLarge", jwt.Config{Key: ed.key, Leeway: 61 * time.Second}, false},
		{"ErrLeewayNegative", jwt.Config{Key: ed.key, Leeway: -time.Second}, false},
		{"ErrZeroVerifyKey", jwt.Config{Key: ed.key, Verify: []jwt.Key{{}}}, false},
		{"ErrDuplicateKid", jwt.Config{Key: ed.key, Verify: []jwt.Key{sameKid.key}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := jwt.New(tt.cfg)
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatal("New succeeded")
				}
				if !strings.HasPrefix(err.Error(), "jwt: ") {
					t.Errorf("error %q lacks the jwt: prefix", err)
				}
				return
			}
			if _, err := s.Read(context.Background(), write(t, s)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	f := newFixture(t, "EdDSA")
	s := newStrategy(t, f, func(c *jwt.Config) { c.Lifetime = -time.Hour })
	tok, err := s.Write(context.Background(), &gatehouse.User{ID: userID}, gatehouse.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(15 * time.Minute); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want the 15m default %v", tok.Expiry, want)
	}

	// Issuer and Audience are written and required.
	custom := newStrategy(t, f, func(c *jwt.Config) { c.Issuer, c.Audience = "https://auth.example", "api" })
	ctok := write(t, custom)
	_, pl, _ := segments(t, ctok)
	if !bytes.Contains(decodeSeg(t, pl), []byte(`"iss":"https://auth.example","sub":"`)) ||
		!bytes.Contains(decodeSeg(t, pl), []byte(`"aud":["api"]`)) {
		t.Errorf("payload %s", decodeSeg(t, pl))
	}
	if _, err := custom.Read(context.Background(), ctok); err != nil {
		t.Error(err)
	}
	if _, err := s.Read(context.Background(), ctok); err == nil {
		t.Error("default strategy accepted a token for another issuer and audience")
	}
	if _, err := custom.Read(context.Background(), tok.AccessToken); err == nil {
		t.Error("custom strategy accepted a token for the default issuer and audience")
	}
}

func mustEd25519(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestHMACKey(t *testing.T) {
	for _, secret := range []string{"", "secret", strings.Repeat("x", 16), strings.Repeat("x", 31)} {
		if _, err := jwt.HMACKey([]byte(secret)); err == nil {
			t.Errorf("HMACKey(%d bytes) succeeded", len(secret))
		}
	}
	k, err := jwt.HMACKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if k.Algorithm() != "HS256" || k.ID() != "" {
		t.Errorf("HMAC key: alg %q, kid %q", k.Algorithm(), k.ID())
	}
	if _, err := k.MarshalPKCS8(); err == nil {
		t.Error("MarshalPKCS8 of an HMAC key succeeded")
	}
}

func TestGenerateKey(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			k, err := jwt.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != alg {
				t.Errorf("Algorithm = %q", k.Algorithm())
			}
			if raw, err := b64.DecodeString(k.ID()); err != nil || len(raw) != 16 {
				t.Errorf("kid %q is not 128 random bits", k.ID())
			}
			der, err := k.MarshalPKCS8()
			if err != nil {
				t.Fatal(err)
			}
			if alg == "RS256" {
				priv, _ := x509.ParsePKCS8PrivateKey(der)
				if bits := priv.(*rsa.PrivateKey).N.BitLen(); bits != 3072 {
					t.Errorf("RSA key is %d bits, want 3072", bits)
				}
			}
			// A key survives MarshalPKCS8 + ParseKey: tokens signed before
			// verify after.
			k2, err := jwt.ParseKey(alg, k.ID(), der)
			if err != nil {
				t.Fatal(err)
			}
			s1, _ := jwt.New(jwt.Config{Key: k})
			s2, _ := jwt.New(jwt.Config{Key: k2})
			if _, err := s2.Read(context.Background(), write(t, s1)); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, alg := range []string{"HS256", "none", "PS256", "ES384", "eddsa", ""} {
		if _, err := jwt.GenerateKey(alg); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", alg)
		}
	}
}

func TestParseKey(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ed := mustEd25519(t)
	tests := []struct {
		name string
		alg  string
		kid  string
		der  []byte
		ok   bool
	}{
		{"EdDSA", "EdDSA", "k1", pkcs8(t, ed), true},
		{"ES256", "ES256", "k1", pkcs8(t, p256), true},
		{"RS256", "RS256", "k1", pkcs8(t, rsa2048), true},
		{"ErrRSA1024", "RS256", "k1", pkcs8(t, rsa1024), false},
		{"ErrP384ForES256", "ES256", "k1", pkcs8(t, p384), false},
		{"ErrEd25519ForRS256", "RS256", "k1", pkcs8(t, ed), false},
		{"ErrRSAForEdDSA", "EdDSA", "k1", pkcs8(t, rsa2048), false},
		{"ErrECForEdDSA", "EdDSA", "k1", pkcs8(t, p256), false},
		{"ErrPS256", "PS256", "k1", pkcs8(t, rsa2048), false},
		{"ErrHS256", "HS256", "k1", pkcs8(t, ed), false},
		{"ErrGarbage", "EdDSA", "k1", []byte("not der"), false},
		{"ErrEmptyKid", "EdDSA", "", pkcs8(t, ed), false},
		{"ErrKidWithSpace", "EdDSA", "a b", pkcs8(t, ed), false},
		{"ErrKidWithQuote", "EdDSA", `a"b`, pkcs8(t, ed), false},
		{"ErrLongKid", "EdDSA", strings.Repeat("k", 129), pkcs8(t, ed), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := jwt.ParseKey(tt.alg, tt.kid, tt.der)
			if !tt.ok {
				if err == nil {
					t.Fatal("ParseKey succeeded")
				}
				if !strings.HasPrefix(err.Error(), "jwt: ") {
					t.Errorf("error %q lacks the jwt: prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID() != tt.kid || k.Algorithm() != tt.alg {
				t.Errorf("kid %q alg %q", k.ID(), k.Algorithm())
			}
			der, err := k.MarshalPKCS8()
			if err != nil || !bytes.Equal(der, tt.der) {
				t.Errorf("MarshalPKCS8 did not round-trip: %v", err)
			}
		})
	}
}

// TestClock checks exp, nbf and iat at the edges of the leeway (checklist
// items 33, 34; F10).
func TestClock(t *testing.T) {
	f := newFixture(t, "EdDSA")
	exp := t0.Add(15 * time.Minute)
	tests := []struct {
		name   string
		leeway time.Duration
		read   time.Time
		ok     bool
	}{
		{"AtIssue", 0, t0, true},
		{"JustBeforeExp", 0, exp.Add(-time.Second), true},
		{"AtExp", 0, exp, false},
		{"ExpIsNowMinusLeewayPlus1s", 30 * time.Second, exp.Add(29 * time.Second), true},
		{"ExpIsNowMinusLeeway", 30 * time.Second, exp.Add(30 * time.Second), false},
		{"ExpIsNowMinusLeewayMinus1s", 30 * time.Second, exp.Add(31 * time.Second), false},
		{"IssuerClock1sAhead", 0, t0.Add(-time.Second), false},
		{"IssuerClock30sAheadLeeway60s", 60 * time.Second, t0.Add(-30 * time.Second), true},
		{"IssuerClock60sAheadLeeway60s", 60 * time.Second, t0.Add(-60 * time.Second), true},
		{"IssuerClock61sAheadLeeway60s", 60 * time.Second, t0.Add(-61 * time.Second), false},
		{"IssuerClock6mAheadLeeway60s", 60 * time.Second, t0.Add(-6 * time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock(t0)
			s := newStrategy(t, f, func(cfg *jwt.Config) { cfg.Leeway, cfg.Now = tt.leeway, c.Now })
			tok := write(t, s)
			c.Set(tt.read)
			_, err := s.Read(context.Background(), tok)
			if tt.ok && err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !tt.ok {
				wantCode(t, err, gatehouse.CodeUnauthorized)
			}
		})
	}
}

// TestClockSubSecond checks that a clock with a fraction of a second still
// yields a token that reads at once (iat, nbf are rounded down).
func TestClockSubSecond(t *testing.T) {
	f := newFixture(t, "HS256")
	now := t0.Add(999 * time.Millisecond)
	s := newStrategy(t, f, func(c *jwt.Config) { c.Now = func() time.Time { return now } })
	tok, err := s.Write(context.Background(), &gatehouse.User{ID: userID}, gatehouse.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(context.Background(), tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(15 * time.Minute); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v", tok.Expiry, want)
	}
}

func TestRevocation(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, alg)
			rev := newRevocations()
			s := newStrategy(t, f, func(c *jwt.Config) { c.Revocations, c.Leeway = rev, 10*time.Second })
			tok := write(t, s)
			p, err := s.Read(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			other := write(t, s)

			if err := s.Destroy(ctx, tok); err != nil {
				t.Fatal(err)
			}
			// Remembered until exp + leeway, the last moment Read accepts it.
			if got, want := rev.until[p.TokenID], p.Expiry.Add(10*time.Second); !got.Equal(want) {
				t.Errorf("revoked until %v, want %v", got, want)
			}
			_, err = s.Read(ctx, tok)
			wantCode(t, err, gatehouse.CodeUnauthorized)
			// Only that token.
			if _, err := s.Read(ctx, other); err != nil {
				t.Errorf("other token: %v", err)
			}
			// J25: a twin that differs in unused trailing bits stays dead.
			_, err = s.Read(ctx, trailingBitsTwin(t, tok))
			wantCode(t, err, gatehouse.CodeUnauthorized)
		})
	}
}

// TestRevocationHighS is J26: ECDSA signatures are malleable, so (r, n-s)
// is a second valid signature of a token. The jti denylist still refuses it.
func TestRevocationHighS(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ES256")
	rev := newRevocations()
	s := newStrategy(t, f, func(c *jwt.Config) { c.Revocations = rev })
	tok := write(t, s)
	twin := highSTwin(t, tok)
	if twin == tok {
		t.Fatal("twin equals token")
	}
	if _, err := s.Read(ctx, twin); err != nil {
		t.Fatalf("high-S twin of a live token: %v (the test relies on ECDSA malleability)", err)
	}
	if err := s.Destroy(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []string{tok, twin} {
		_, err := s.Read(ctx, tk)
		wantCode(t, err, gatehouse.CodeUnauthorized)
	}
	// And destroying the twin instead revokes the same jti.
	tok2 := write(t, s)
	if err := s.Destroy(ctx, highSTwin(t, tok2)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Read(ctx, tok2)
	wantCode(t, err, gatehouse.CodeUnauthorized)
}

func TestRevocationFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "EdDSA")
	rev := newRevocations()
	s := newStrategy(t, f, func(c *jwt.Config) { c.Revocations = rev })
	tok := write(t, s)

	rev.revokedErr = errStoreDown
	_, err := s.Read(ctx, tok)
	wantCode(t, err, gatehouse.CodeUnavailable)
	if !errors.Is(err, errStoreDown) {
		t.Errorf("cause lost: %v", err)
	}
	// A bad token is still just unauthorized: no store is asked.
	_, err = s.Read(ctx, tok+"x")
	wantCode(t, err, gatehouse.CodeUnauthorized)

	rev.revokedErr = nil
	rev.revokeErr = errStoreDown
	err = s.Destroy(ctx, tok)
	wantCode(t, err, gatehouse.CodeUnavailable)
}

// TestDestroyVerifiesFirst: a forged or tampered token revokes nothing.
func TestDestroyVerifiesFirst(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "EdDSA")
	rev := newRevocations()
	c := newClock(t0)
	s := newStrategy(t, f, func(cfg *jwt.Config) { cfg.Revocations, cfg.Now = rev, c.Now })
	tok := write(t, s)
	attacker := newFixture(t, "EdDSA")
	forged := forge(t, signer{jwtlib.SigningMethodEdDSA, attacker.priv}, baseHeader(f), basePayload())
	for _, bad := range []string{forged, flipSignatureBit(t, tok), "", "garbage"} {
		err := s.Destroy(ctx, bad)
		wantCode(t, err, gatehouse.CodeUnauthorized)
	}
	if rev.revokes != 0 {
		t.Fatalf("%d Revoke calls for unverified tokens", rev.revokes)
	}

	// J37/J40: expired and tampered is a bad signature, never "expired".
	c.Set(t0.Add(time.Hour))
	tampered := flipSignatureBit(t, tok)
	_, err := s.Read(ctx, tampered)
	wantCode(t, err, gatehouse.CodeUnauthorized)
	if !errors.Is(err, jwtlib.ErrTokenSignatureInvalid) || errors.Is(err, jwtlib.ErrTokenExpired) {
		t.Errorf("expired+tampered classified as %v", err)
	}
	err = s.Destroy(ctx, tampered)
	wantCode(t, err, gatehouse.CodeUnauthorized)

	// An expired genuine token is already unusable: Destroy does nothing.
	if err := s.Destroy(ctx, tok); err != nil {
		t.Errorf("Destroy(expired): %v", err)
	}
	if rev.revokes != 0 {
		t.Errorf("%d Revoke calls", rev.revokes)
	}
}

// TestDestroyWithoutRevocations is FastAPI Users' behaviour: logout does
// not revoke a JWT.
func TestDestroyWithoutRevocations(t *testing.T) {
	ctx := context.Background()
	s := newStrategy(t, newFixture(t, "HS256"), nil)
	tok := write(t, s)
	if err := s.Destroy(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, tok); err != nil {
		t.Fatalf("token dead after Destroy without Revocations: %v", err)
	}
}

// TestRotation is F11/F12 and J38: old keys verify while listed in Verify,
// and not after.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	for _, pair := range [][2]string{{"EdDSA", "EdDSA"}, {"HS256", "HS256"}, {"HS256", "EdDSA"}, {"RS256", "ES256"}} {
		t.Run(pair[0]+"To"+pair[1], func(t *testing.T) {
			oldKey, newKey := newFixture(t, pair[0]), newFixture(t, pair[1])
			before := newStrategy(t, oldKey, nil)
			oldTok := write(t, before)

			during := newStrategy(t, newKey, func(c *jwt.Config) { c.Verify = []jwt.Key{oldKey.key} })
			newTok := write(t, during)
			for _, tok := range []string{oldTok, newTok} {
				if _, err := during.Read(ctx, tok); err != nil {
					t.Fatalf("during rotation: %v", err)
				}
			}
			after := newStrategy(t, newKey, nil)
			_, err := after.Read(ctx, oldTok)
			wantCode(t, err, gatehouse.CodeUnauthorized)
			if _, err := after.Read(ctx, newTok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	hs := newFixture(t, "HS256")
	ed := newFixture(t, "EdDSA")
	es := newFixture(t, "ES256")
	rs := newFixture(t, "RS256")
	h := jwt.JWKS(hs.key, ed.key, es.key, rs.key, ed.key, jwt.Key{})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("%d keys published, want 3 (no HMAC, no duplicate): %s", len(set.Keys), rec.Body)
	}
	for _, k := range set.Keys {
		if _, secret := k["k"]; secret || k["kty"] == "oct" || k["d"] != "" {
			t.Errorf("private material published: %v", k)
		}
		if k["use"] != "sig" {
			t.Errorf("use = %q", k["use"])
		}
	}
	// Each published key verifies its strategy's tokens.
	want := map[string]fixture{ed.kid: ed, es.kid: es, rs.kid: rs}
	for _, k := range set.Keys {
		f, ok := want[k["kid"]]
		if !ok {
			t.Fatalf("unexpected kid %q", k["kid"])
		}
		if k["alg"] != f.alg {
			t.Errorf("kid %q: alg %q, want %q", k["kid"], k["alg"], f.alg)
		}
		pub := publicFromJWK(t, k)
		tok := write(t, newStrategy(t, f, nil))
		if _, err := jwtlib.Parse(tok, func(*jwtlib.Token) (any, error) { return pub, nil },
			jwtlib.WithValidMethods([]string{f.alg}), jwtlib.WithTimeFunc(func() time.Time { return t0 })); err != nil {
			t.Errorf("kid %q: published key does not verify: %v", k["kid"], err)
		}
	}

	// HMAC only: an empty set, not null.
	rec = httptest.NewRecorder()
	jwt.JWKS(hs.key).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := rec.Body.String(); got != `{"keys":[]}` {
		t.Errorf("HMAC-only JWKS = %s", got)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// publicFromJWK rebuilds a public key from its JWK, independently of the
// package, to prove the published parameters are right.
func publicFromJWK(t *testing.T, k map[string]string) any {
	t.Helper()
	dec := func(s string) []byte { return decodeSeg(t, s) }
	switch k["kty"] {
	case "OKP":
		if k["crv"] != "Ed25519" {
			t.Fatalf("crv %q", k["crv"])
		}
		return ed25519.PublicKey(dec(k["x"]))
	case "EC":
		x, y := dec(k["x"]), dec(k["y"])
		if k["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
			t.Fatalf("EC JWK %v", k)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		return pub
	case "RSA":
		n, e := dec(k["n"]), dec(k["e"])
		var ei int
		for _, b := range e {
			ei = ei<<8 | int(b)
		}
		pub := &rsa.PublicKey{E: ei}
		pub.N = new(big.Int).SetBytes(n)
		return pub
	}
	t.Fatalf("kty %q", k["kty"])
	return nil
}

func BenchmarkWrite(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			s := benchStrategy(b, alg, 0)
			u := &gatehouse.User{ID: userID}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Write(ctx, u, gatehouse.ID{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify reads one token over and over: Cold checks its signature
// and claims every time (CacheSize -1), Cached finds it among the verified
// tokens. Both ask the revocation store.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range algs {
		for _, bc := range []struct {
			name string
			size int
		}{{"Cold", -1}, {"Cached", 0}} {
			b.Run(alg+"/"+bc.name, func(b *testing.B) {
				s := benchStrategy(b, alg, bc.size)
				tok := write(b, s)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Read(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchStrategy uses real production keys: RSA 3072 from GenerateKey.
func benchStrategy(b *testing.B, alg string, cacheSize int) *jwt.Strategy {
	var k jwt.Key
	var err error
	if alg == "HS256" {
		k, err = jwt.HMACKey(bytes.Repeat([]byte{0x5a}, 32))
	} else {
		k, err = jwt.GenerateKey(alg)
	}
	if err != nil {
		b.Fatal(err)
	}
	s, err := jwt.New(jwt.Config{Key: k, Revocations: newRevocations(), CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
