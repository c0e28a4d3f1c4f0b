package jwt_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

// algs are the algorithms every table-driven test runs over.
var algs = []string{"HS256", "EdDSA", "ES256", "RS256"}

// t0 is the fixed "now" of the tests.
var t0 = time.Unix(1_750_000_000, 0).UTC()

var userID = gatehouse.ID{0x2f, 0x1d, 0x6c, 0x4a, 0x8b, 0x3e, 0x4f, 0x0a, 0x9c, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}

// fixture is a key as a test sees it: the jwt.Key, and the raw private key
// so the test can forge tokens with the same key material.
type fixture struct {
	alg  string
	key  jwt.Key
	kid  string
	priv any // []byte for HS256, else a crypto.Signer
}

// signer returns what jwtlib signs with for f.
func (f fixture) signer() signer { return signer{method: jwtlib.GetSigningMethod(f.alg), key: f.priv} }

// public returns the public key (nil for HMAC).
func (f fixture) public() crypto.PublicKey {
	if s, ok := f.priv.(crypto.Signer); ok {
		return s.Public()
	}
	return nil
}

// newFixture makes a fresh key for alg. RSA keys are 2048 bits to keep the
// tests fast; GenerateKey's 3072 is covered by TestGenerateKey.
func newFixture(tb testing.TB, alg string) fixture {
	tb.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "HS256":
		secret := make([]byte, 32)
		rand.Read(secret)
		k, err := jwt.HMACKey(secret)
		if err != nil {
			tb.Fatal(err)
		}
		return fixture{alg: alg, key: k, priv: secret}
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		tb.Fatalf("unknown alg %q", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return fixtureFor(tb, alg, "kid-"+alg+"-"+strings.ToLower(randomString(6)), priv)
}

func fixtureFor(tb testing.TB, alg, kid string, priv crypto.Signer) fixture {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := jwt.ParseKey(alg, kid, der)
	if err != nil {
		tb.Fatal(err)
	}
	return fixture{alg: alg, key: k, kid: kid, priv: priv}
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clock is an adjustable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// memRevocations is a gatehouse.Revocations in a map, with injectable
// failures and call counts.
type memRevocations struct {
	mu         sync.Mutex
	until      map[string]time.Time
	revokeErr  error
	revokedErr error
	revokes    int
}

func newRevocations() *memRevocations { return &memRevocations{until: make(map[string]time.Time)} }

func (m *memRevocations) Revoke(_ context.Context, id string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokes++
	if m.revokeErr != nil {
		return m.revokeErr
	}
	m.until[id] = until
	return nil
}

func (m *memRevocations) Revoked(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revokedErr != nil {
		return false, m.revokedErr
	}
	_, ok := m.until[id]
	return ok, nil
}

// newStrategy builds a Strategy on f with a fixed clock at t0, applying
// edit to the config first.
func newStrategy(tb testing.TB, f fixture, edit func(*jwt.Config)) *jwt.Strategy {
	tb.Helper()
	cfg := jwt.Config{Key: f.key, Now: func() time.Time { return t0 }}
	if edit != nil {
		edit(&cfg)
	}
	s, err := jwt.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func write(tb testing.TB, s *jwt.Strategy) string {
	tb.Helper()
	tok, err := s.Write(context.Background(), &gatehouse.User{ID: userID}, gatehouse.ID{})
	if err != nil {
		tb.Fatal(err)
	}
	return tok.AccessToken
}

// signer forges tokens.
type signer struct {
	method jwtlib.SigningMethod
	key    any
}

var b64 = base64.RawURLEncoding

// encodeJSON returns v's JSON: a string or []byte is taken as the JSON text
// itself, anything else is marshalled.
func encodeJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	switch v := v.(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// forge signs header and payload with s.
func forge(tb testing.TB, s signer, header, payload any) string {
	tb.Helper()
	signing := b64.EncodeToString(encodeJSON(tb, header)) + "." + b64.EncodeToString(encodeJSON(tb, payload))
	sig, err := s.method.Sign(signing, s.key)
	if err != nil {
		tb.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

// baseHeader is the header Write would produce for f.
func baseHeader(f fixture) map[string]any {
	h := map[string]any{"alg": f.alg, "typ": "at+jwt"}
	if f.kid != "" {
		h["kid"] = f.kid
	}
	return h
}

// basePayload is the claim set Write would produce at t0 (15 minutes).
func basePayload() map[string]any {
	return map[string]any{
		"iss": "gatehouse",
		"sub": userID.String(),
		"aud": []string{"fastapi-users:auth"},
		"exp": t0.Add(15 * time.Minute).Unix(),
		"nbf": t0.Unix(),
		"iat": t0.Unix(),
		"jti": randomString(16),
	}
}

// with returns a copy of m with the given changes; a nil value deletes.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}

// segments splits a compact token.
func segments(tb testing.TB, tok string) (header, payload, sig string) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token %q has %d segments", tok, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func decodeSeg(tb testing.TB, seg string) []byte {
	tb.Helper()
	b, err := b64.DecodeString(seg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// wantCode checks that err carries code.
func wantCode(tb testing.TB, err error, code gatehouse.Code) {
	tb.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

var errStoreDown = errors.New("store down")
