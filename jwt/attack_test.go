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
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

// attack is one row of the JWT attack corpus of security-checklist.md §2:
// tokens built from a fixture and a valid token V that the strategy must
// refuse.
type attack struct {
	name   string
	tokens []string
}

// corpus builds the attack corpus against fixture f, whose strategy issued
// the valid token v. jkuURL is where jku/x5u headers point.
func corpus(tb testing.TB, f fixture, v, jkuURL string) []attack {
	tb.Helper()
	own := f.signer()
	hdr := baseHeader(f)
	pl := basePayload()
	h, p, sig := segments(tb, v)
	rawSig := decodeSeg(tb, sig)
	resign := func(header, payload any) string { return forge(tb, own, header, payload) }
	withSig := func(s []byte) string { return h + "." + p + "." + b64.EncodeToString(s) }

	// The attacker's own key of the same type, claiming our kid.
	var attacker fixture
	if f.alg == "HS256" {
		attacker = newFixture(tb, "HS256")
	} else {
		attacker = fixtureFor(tb, f.alg, f.kid, newFixture(tb, f.alg).priv.(crypto.Signer))
	}
	// An Ed25519 attacker key for the embedded-key attacks.
	edAttacker := newFixture(tb, "EdDSA")
	edSigner := edAttacker.signer()
	edPub := edAttacker.public().(ed25519.PublicKey)
	attackerJWK := map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(edPub), "kid": edAttacker.kid}

	var as []attack
	add := func(name string, tokens ...string) { as = append(as, attack{name, tokens}) }

	// J01–J03: alg none in every spelling, with and without a signature.
	noneTokens := []string{}
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		hp := b64.EncodeToString(encodeJSON(tb, with(hdr, "alg", alg))) + "." + b64.EncodeToString(encodeJSON(tb, pl))
		noneTokens = append(noneTokens, hp+".", hp+"."+b64.EncodeToString([]byte("bogus signature")), hp+"."+sig)
	}
	noneTokens = append(noneTokens, forge(tb, signer{jwtlib.SigningMethodNone, jwtlib.UnsafeAllowNoneSignatureType}, with(hdr, "alg", "none"), pl))
	add("J01-J03/alg-none", noneTokens...)

	// J04: HS256 keyed with the server's public key, in every encoding.
	if pub := f.public(); pub != nil {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			tb.Fatal(err)
		}
		keys := [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
		switch pub := pub.(type) {
		case ed25519.PublicKey:
			keys = append(keys, pub)
		case *ecdsa.PublicKey:
			pt, _ := pub.Bytes()
			keys = append(keys, pt)
		case *rsa.PublicKey:
			keys = append(keys, pub.N.Bytes(), x509.MarshalPKCS1PublicKey(pub))
		}
		var toks []string
		for _, k := range keys {
			hs := signer{jwtlib.SigningMethodHS256, k}
			toks = append(toks, forge(tb, hs, with(hdr, "alg", "HS256"), pl), forge(tb, hs, with(hdr, "alg", "HS256", "kid", nil), pl))
		}
		add("J04/hs256-with-public-key", toks...)
	}

	// J05: another algorithm the library knows but the key is not bound to.
	switch f.alg {
	case "HS256":
		add("J05/other-hmac", forge(tb, signer{jwtlib.SigningMethodHS384, f.priv}, with(hdr, "alg", "HS384"), pl),
			forge(tb, signer{jwtlib.SigningMethodHS512, f.priv}, with(hdr, "alg", "HS512"), pl))
	case "RS256":
		add("J05/ps256-rs512-same-key", forge(tb, signer{jwtlib.SigningMethodPS256, f.priv}, with(hdr, "alg", "PS256"), pl),
			forge(tb, signer{jwtlib.SigningMethodRS512, f.priv}, with(hdr, "alg", "RS512"), pl))
	case "ES256":
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		add("J05/es384", forge(tb, signer{jwtlib.SigningMethodES384, p384}, with(hdr, "alg", "ES384"), pl))
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	add("J05/other-family-our-kid",
		forge(tb, signer{jwtlib.SigningMethodES256, p256}, with(hdr, "alg", "ES256"), pl),
		forge(tb, edSigner, with(hdr, "alg", "EdDSA"), pl),
		forge(tb, signer{jwtlib.SigningMethodHS256, []byte(f.kid)}, with(hdr, "alg", "HS256"), pl))
	add("J05/alg-case", resign(with(hdr, "alg", strings.ToLower(f.alg)), pl), resign(with(hdr, "alg", nil), pl))

	// J06: empty signature with the real alg.
	add("J06/empty-signature", h+"."+p+".")
	// J07: an attacker key reusing our kid.
	add("J07/attacker-key-same-kid", forge(tb, attacker.signer(), hdr, pl))
	// J08: payload edited, old signature kept.
	edit := func(kv ...any) string {
		var m map[string]any
		if err := json.Unmarshal(decodeSeg(tb, p), &m); err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return h + "." + b64.EncodeToString(encodeJSON(tb, m)) + "." + sig
	}
	add("J08/payload-edited", edit("sub", gatehouse.NewID().String()), edit("exp", t0.Add(time.Hour).Unix()),
		edit("role", "admin"), edit("jti", "other"))
	// J09: truncated and bit-flipped signatures.
	add("J09/truncated-or-flipped", withSig(rawSig[:16]), withSig(rawSig[:len(rawSig)-1]), flipSignatureBit(tb, v))

	if f.alg == "ES256" {
		n := elliptic.P256().Params().N
		pad := func(i *big.Int) []byte { return i.FillBytes(make([]byte, 32)) }
		r, s := new(big.Int).SetBytes(rawSig[:32]), new(big.Int).SetBytes(rawSig[32:])
		der, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		add("J10/psychic-signature", withSig(make([]byte, 64)))
		add("J11/der-or-wrong-length", h+"."+p+".MAYCAQACAQA", withSig(der), withSig(rawSig[:63]), withSig(append(append([]byte{}, rawSig...), 0)),
			withSig(append([]byte{0}, rawSig...)))
		add("J12/scalar-not-below-n", withSig(append(pad(n), pad(s)...)), withSig(append(pad(r), pad(n)...)),
			withSig(append(pad(n), pad(n)...)))
	}

	// J13: the token carries its own key.
	add("J13/embedded-jwk",
		forge(tb, edSigner, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": edAttacker.kid, "jwk": attackerJWK}, pl),
		forge(tb, edSigner, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "jwk": attackerJWK}, pl),
		forge(tb, edSigner, with(hdr, "alg", "EdDSA", "jwk", attackerJWK), pl))
	// J14: the token points at the attacker's key set.
	add("J14/jku-x5u",
		forge(tb, edSigner, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": edAttacker.kid, "jku": jkuURL}, pl),
		forge(tb, edSigner, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": edAttacker.kid, "x5u": jkuURL}, pl),
		forge(tb, edSigner, with(hdr, "alg", "EdDSA", "jku", jkuURL), pl),
		// Even with our own signature, the header is refused.
		resign(with(hdr, "jku", jkuURL), pl), resign(with(hdr, "x5u", jkuURL), pl))
	// J15: a self-signed certificate chain.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, edPub, edAttacker.priv)
	if err != nil {
		tb.Fatal(err)
	}
	x5c := []string{base64.StdEncoding.EncodeToString(cert)}
	add("J15/x5c", forge(tb, edSigner, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "x5c": x5c}, pl),
		resign(with(hdr, "x5c", x5c), pl))
	// J16, J17: hostile and unknown kids, signed with our own key.
	add("J16-J17/kid", resign(with(hdr, "kid", "../../dev/null"), pl), resign(with(hdr, "kid", "' OR '1'='1"), pl),
		resign(with(hdr, "kid", strings.Repeat("k", 10240)), pl), resign(with(hdr, "kid", 1), pl),
		resign(with(hdr, "kid", map[string]any{}), pl), resign(with(hdr, "kid", []string{f.kid}), pl),
		resign(with(hdr, "kid", json.RawMessage("null")), pl), resign(with(hdr, "kid", ""), pl),
		resign(with(hdr, "kid", "unknown"), pl), resign(with(hdr, "kid", f.kid+" "), pl))
	// J18, J19: critical extensions.
	add("J18-J19/crit", resign(with(hdr, "crit", []string{"foo"}, "foo", 1), pl),
		resign(with(hdr, "crit", []string{"b64"}, "b64", false), pl), resign(with(hdr, "crit", []string{}), pl))
	// J20–J22: not a compact JWS.
	jws, _ := json.Marshal(map[string]any{"payload": p, "signatures": []map[string]string{{"protected": h, "signature": sig}}})
	add("J20-J22/shape", h+"."+p, v+".x", v+".", "."+v, v+".x.y", h+"."+p+"."+sig+"."+sig+"."+sig,
		b64.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM"}`))+"..iv.ciphertext.tag", string(jws), "", ".", "..", "...")
	// J23: huge input.
	add("J23/huge", strings.Repeat(".", 1_000_000), strings.Repeat("A", 1<<20),
		h+"."+p+"."+strings.Repeat("A", 8<<10))
	// J24: outside the unpadded base64url alphabet.
	add("J24/alphabet", h+"."+p+"."+strings.NewReplacer("-", "+", "_", "/").Replace(sig)+"+/", v+"=", v+"==", " "+v, v+" ",
		v+"\n", h+" ."+p+"."+sig, h+"."+p+"\n."+sig, h+"."+p+"."+sig[:4]+"é"+sig[4:], v+"\x00", strings.Replace(v, "eyJ", "eyJ=", 1))
	// J25: unused trailing bits changed.
	add("J25/trailing-bits", trailingBitsTwin(tb, v))

	// J27, J28: header or payload not a JSON object, or not UTF-8.
	good := encodeJSON(tb, pl)
	add("J27/not-json", resign("not json", pl), resign("[1]", pl), resign(`"x"`, pl), resign("null", pl), resign(`{"alg":"`+f.alg+`"`, pl),
		resign(hdr, "not json"), resign(hdr, "[1]"), resign(hdr, `"x"`), resign(hdr, "null"), resign(hdr, "{}"), resign(hdr, `{"sub":`),
		resign(hdr, " "+string(good)), resign(hdr, string(good)+" ,"))
	utf16le := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	add("J28/encoding", resign(hdr, strings.Replace(string(good), `"sub":"`, `"sub":"\xff`, 1)),
		resign(hdr, strings.Replace(string(good), `"iss":"gatehouse"`, `"iss":"gatehouse\xc3"`, 1)),
		resign(hdr, utf16le(string(good))), resign(hdr, append([]byte{0xef, 0xbb, 0xbf}, good...)))
	// J29: duplicate and case-variant claims.
	other := gatehouse.NewID().String()
	add("J29/duplicate-claims", resign(hdr, strings.Replace(string(good), "{", `{"sub":"`+other+`",`, 1)),
		resign(hdr, strings.Replace(string(good), "}", `,"sub":"`+other+`"}`, 1)),
		resign(hdr, strings.Replace(string(good), "}", `,"SUB":"`+other+`"}`, 1)),
		resign(hdr, strings.Replace(string(good), "}", `,"Exp":9999999999}`, 1)),
		resign(hdr, strings.Replace(string(good), "}", `,"jti":"again"}`, 1)))
	// J30, J31: bad times.
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	add("J30/exp", resign(hdr, with(pl, "exp", nil)), resign(hdr, with(pl, "exp", t0.Add(-time.Second).Unix())),
		resign(hdr, with(pl, "exp", t0.Unix())), resign(hdr, with(pl, "exp", "9999999999")), resign(hdr, with(pl, "exp", raw("1e309"))),
		resign(hdr, with(pl, "exp", -1)), resign(hdr, with(pl, "exp", raw("9999999999.5"))), resign(hdr, with(pl, "exp", raw("1e10"))),
		resign(hdr, with(pl, "exp", raw("99999999999999999999"))), resign(hdr, with(pl, "exp", raw("null"))),
		resign(hdr, with(pl, "exp", raw("true"))), resign(hdr, with(pl, "exp", raw("-0"))))
	add("J31/nbf-iat-future", resign(hdr, with(pl, "nbf", t0.Add(5*time.Minute).Unix())), resign(hdr, with(pl, "iat", t0.Add(5*time.Minute).Unix())),
		resign(hdr, with(pl, "nbf", t0.Add(time.Second).Unix())), resign(hdr, with(pl, "iat", "0")), resign(hdr, with(pl, "nbf", raw("1.5"))))
	// J32, J33: issuer and audience.
	add("J32/iss", resign(hdr, with(pl, "iss", nil)), resign(hdr, with(pl, "iss", "other")), resign(hdr, with(pl, "iss", "gatehouse/")),
		resign(hdr, with(pl, "iss", "Gatehouse")), resign(hdr, with(pl, "iss", "")), resign(hdr, with(pl, "iss", 1)),
		resign(hdr, with(pl, "iss", []string{"gatehouse"})), resign(hdr, with(pl, "iss", raw("null"))))
	add("J33/aud", resign(hdr, with(pl, "aud", nil)), resign(hdr, with(pl, "aud", "")), resign(hdr, with(pl, "aud", []string{})),
		resign(hdr, with(pl, "aud", []string{""})), resign(hdr, with(pl, "aud", "other")), resign(hdr, with(pl, "aud", []string{"other", "x"})),
		resign(hdr, with(pl, "aud", 1)), resign(hdr, with(pl, "aud", []any{1})), resign(hdr, with(pl, "aud", raw("null"))),
		resign(hdr, with(pl, "aud", []string{"fastapi-users:verify"})), resign(hdr, with(pl, "aud", []any{"fastapi-users:auth", 1})))
	// J34: other token types.
	fapiHeader := with(hdr, "typ", "JWT")
	add("J34/typ", resign(with(hdr, "typ", "JWT"), pl), resign(with(hdr, "typ", nil), pl), resign(with(hdr, "typ", "at+jwt "), pl),
		resign(with(hdr, "typ", 1), pl), resign(with(hdr, "typ", "refresh+jwt"), pl),
		// FastAPI Users' own access, verify and reset tokens.
		resign(fapiHeader, map[string]any{"sub": userID.String(), "aud": []string{"fastapi-users:auth"}, "exp": pl["exp"]}),
		resign(fapiHeader, map[string]any{"sub": userID.String(), "email": "a@example.com", "aud": "fastapi-users:verify", "exp": pl["exp"]}),
		resign(fapiHeader, map[string]any{"sub": userID.String(), "password_fgpt": "x", "aud": "fastapi-users:reset", "exp": pl["exp"]}))
	// J35 and jti: missing or malformed subject and id.
	add("J35/sub", resign(hdr, with(pl, "sub", nil)), resign(hdr, with(pl, "sub", "")), resign(hdr, with(pl, "sub", "not-a-uuid")),
		resign(hdr, with(pl, "sub", gatehouse.ID{}.String())), resign(hdr, with(pl, "sub", 12345)),
		resign(hdr, with(pl, "sub", "{"+userID.String()+"}")), resign(hdr, with(pl, "sub", userID.String()+" ")),
		resign(hdr, with(pl, "sub", []string{userID.String()})))
	add("jti", resign(hdr, with(pl, "jti", nil)), resign(hdr, with(pl, "jti", "")), resign(hdr, with(pl, "jti", 1)),
		resign(hdr, with(pl, "jti", raw("null"))))
	return as
}

// TestAttackCorpus runs the corpus against the same keys with and without
// the cache of verified tokens. V and the baseline are cached before the
// corpus runs, so a mutation of V that hit the cache would be accepted;
// and no refused token may be cached.
func TestAttackCorpus(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, alg)
			rev := newRevocations()
			cached := newStrategy(t, f, func(c *jwt.Config) { c.Revocations = rev })
			uncached := newStrategy(t, f, func(c *jwt.Config) { c.Revocations, c.CacheSize = rev, -1 })
			strategies := []struct {
				name string
				s    *jwt.Strategy
			}{{"Cached", cached}, {"Uncached", uncached}}
			v := write(t, cached)
			baseline := forge(t, f.signer(), baseHeader(f), basePayload())

			for _, st := range strategies {
				// The forger is right: a token it builds like Write is
				// accepted, so every refusal below is the strategy's doing.
				if _, err := st.s.Read(ctx, baseline); err != nil {
					t.Fatalf("%s: baseline forged token refused: %v", st.name, err)
				}
				if _, err := st.s.Read(ctx, v); err != nil {
					t.Fatalf("%s: V refused: %v", st.name, err)
				}
			}
			if n := jwt.CacheLen(cached); n != 2 {
				t.Fatalf("%d tokens cached, want V and the baseline", n)
			}

			for _, a := range corpus(t, f, v, "http://127.0.0.1:9/jwks.json") {
				t.Run(a.name, func(t *testing.T) {
					for i, tok := range a.tokens {
						for _, st := range strategies {
							p, err := st.s.Read(ctx, tok)
							if code := gatehouse.ErrorCode(err); code != gatehouse.CodeUnauthorized {
								t.Errorf("%s: token %d (%.80q…): Read = %+v, code %q (%v)", st.name, i, tok, p, code, err)
							}
							if code := gatehouse.ErrorCode(st.s.Destroy(ctx, tok)); code != gatehouse.CodeUnauthorized && code != "" {
								t.Errorf("%s: token %d: Destroy code %q", st.name, i, code)
							}
						}
					}
				})
			}
			if rev.revokes != 0 {
				t.Errorf("the corpus caused %d Revoke calls", rev.revokes)
			}
			if n := jwt.CacheLen(cached); n != 2 {
				t.Errorf("%d tokens cached after the corpus, want 2: a refused token was cached", n)
			}
			if _, err := cached.Read(ctx, v); err != nil {
				t.Errorf("V refused after the corpus: %v", err)
			}
		})
	}
}

// TestNoKeyFetch is J14: a jku or x5u header never causes a request.
func TestNoKeyFetch(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	for _, alg := range algs {
		f := newFixture(t, alg)
		s := newStrategy(t, f, nil)
		for _, a := range corpus(t, f, write(t, s), srv.URL+"/jwks.json") {
			if !strings.HasPrefix(a.name, "J13") && !strings.HasPrefix(a.name, "J14") && !strings.HasPrefix(a.name, "J15") {
				continue
			}
			for _, tok := range a.tokens {
				_, err := s.Read(context.Background(), tok)
				wantCode(t, err, gatehouse.CodeUnauthorized)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("key URL fetched %d times", n)
	}
}

// TestPrecheckBounded is J23: hostile sizes are refused without work
// proportional to what the decoder would do.
func TestPrecheckBounded(t *testing.T) {
	s := newStrategy(t, newFixture(t, "HS256"), nil)
	ctx := context.Background()
	for _, tok := range []string{strings.Repeat(".", 1_000_000), strings.Repeat("A", 1<<20), strings.Repeat("eyJ.", 2000)} {
		allocs := testing.AllocsPerRun(10, func() { s.Read(ctx, tok) })
		if allocs > 8 {
			t.Errorf("%d-byte token: %v allocations", len(tok), allocs)
		}
	}
}

// flipSignatureBit flips one bit in the middle of a token's signature.
func flipSignatureBit(tb testing.TB, tok string) string {
	h, p, sig := segments(tb, tok)
	raw := decodeSeg(tb, sig)
	raw[len(raw)/2] ^= 0x01
	return h + "." + p + "." + b64.EncodeToString(raw)
}

// trailingBitsTwin changes the unused low bits of the last signature
// character: a lenient decoder reads the same signature (J25).
func trailingBitsTwin(tb testing.TB, tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if _, _, sig := segments(tb, tok); len(sig)%4 == 0 {
		tb.Fatalf("signature length %d leaves no unused bits", len(sig))
	}
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	twin := tok[:len(tok)-1] + string(alphabet[last^1])
	// Sanity: a lenient decoder sees the same bytes.
	_, _, a := segments(tb, tok)
	_, _, b := segments(tb, twin)
	da, _ := base64.RawURLEncoding.DecodeString(a)
	db, err := base64.RawURLEncoding.DecodeString(b)
	if err != nil || string(da) != string(db) {
		tb.Fatalf("twin decodes differently: %v", err)
	}
	return twin
}

// highSTwin replaces an ES256 signature (r, s) with (r, n-s), which is
// equally valid.
func highSTwin(tb testing.TB, tok string) string {
	h, p, sig := segments(tb, tok)
	raw := decodeSeg(tb, sig)
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(raw[32:])
	s.Sub(n, s)
	out := append(raw[:32:32], s.FillBytes(make([]byte, 32))...)
	return h + "." + p + "." + b64.EncodeToString(out)
}
