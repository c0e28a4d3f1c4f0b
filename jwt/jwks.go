package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// jwk is a public JSON Web Key (RFC 7517), members in the usual order.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKS returns a handler that serves the public halves of keys as a JWK set
// (RFC 7517 §5): GET or HEAD answers {"keys":[…]} with each key's kty, use
// "sig", alg, kid and its public parameters. HMAC keys are secrets and are
// never published, so a set of HMAC keys is served as {"keys":[]}. A kid
// listed twice is published once.
//
// The document is built once: keys do not change, and a rotation builds a
// new handler. Clients may cache it for five minutes, short enough that a
// new key is picked up well within a token lifetime of overlap.
func JWKS(keys ...Key) http.Handler {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	seen := make(map[string]bool)
	for _, k := range keys {
		if k.signer == nil || seen[k.kid] {
			continue
		}
		seen[k.kid] = true
		set.Keys = append(set.Keys, k.jwk())
	}
	body, _ := json.Marshal(set) // cannot fail: strings only

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			gatehouse.WriteError(w, &gatehouse.Error{Code: gatehouse.CodeMethodNotAllowed})
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body) // a failed write means the client has gone
	})
}

// jwk returns the public JWK of an asymmetric key.
func (k Key) jwk() jwk {
	enc := base64.RawURLEncoding
	j := jwk{Use: "sig", Alg: k.alg, Kid: k.kid}
	switch pub := k.public.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc.EncodeToString(pub)
	case *ecdsa.PublicKey:
		// The uncompressed point is 0x04 ‖ X ‖ Y, each 32 bytes for P-256,
		// already left-padded as RFC 7518 §6.2.1.2 wants.
		p, _ := pub.Bytes() // cannot fail: ParseKey and GenerateKey only make P-256 keys
		n := (len(p) - 1) / 2
		j.Kty, j.Crv = "EC", "P-256"
		j.X, j.Y = enc.EncodeToString(p[1:1+n]), enc.EncodeToString(p[1+n:])
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = enc.EncodeToString(pub.N.Bytes())
		j.E = enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	}
	return j
}
