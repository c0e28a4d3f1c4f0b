package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// Algorithm names, as they appear in a token's "alg" header.
const (
	algHS256 = "HS256"
	algEdDSA = "EdDSA"
	algES256 = "ES256"
	algRS256 = "RS256"
)

const (
	// minHMACBytes is 256 bits: an HS256 secret as long as the MAC
	// (RFC 7518 §3.2, security checklist item 41).
	minHMACBytes = 32
	// minRSABits is the floor of RFC 7518 §3.3; GenerateKey uses rsaBits,
	// which gives 128-bit security.
	minRSABits = 2048
	rsaBits    = 3072
	// maxKIDBytes bounds key ids, which travel in every token header.
	maxKIDBytes = 128
)

// Key is one signing key bound to one algorithm: an HS256 secret, or an
// EdDSA (Ed25519), ES256 (P-256) or RS256 (RSA) private key. Binding the
// algorithm to the key, not reading it from tokens, is what defeats
// algorithm confusion (RFC 8725 §3.1): a token is only ever checked with the
// algorithm of the key its kid names.
//
// Asymmetric keys carry a key id ("kid") that tokens name in their header.
// HMAC keys have none: HS256 tokens carry no kid, like those of FastAPI
// Users, and are checked against every configured HMAC secret.
//
// The zero Key is not a key; New rejects it.
type Key struct {
	alg    string
	kid    string
	secret []byte        // HS256 only
	signer crypto.Signer // asymmetric keys only
	public any           // what the jwt library verifies with
}

// HMACKey returns an HS256 key. The secret is used as given, so services
// that hold the same secret (FastAPI Users, PyJWT) verify the tokens. It
// must be at least 32 bytes (256 bits) of random data: a shorter secret, or
// a password, can be brute-forced offline from any token.
func HMACKey(secret []byte) (Key, error) {
	if len(secret) < minHMACBytes {
		return Key{}, fmt.Errorf("jwt: HMAC secret is %d bytes, need at least %d", len(secret), minHMACBytes)
	}
	s := append([]byte(nil), secret...) // the caller may reuse its slice
	return Key{alg: algHS256, secret: s, public: s}, nil
}

// GenerateKey makes a new private key for alg: "EdDSA" (Ed25519), "ES256"
// (P-256) or "RS256" (RSA 3072). Its id is 128 random bits, base64url
// encoded: random rather than a thumbprint, so that an id says nothing
// about the key and stays stable whatever encoding the key is stored in.
func GenerateKey(alg string) (Key, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case algEdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	case algES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case algRS256:
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case algHS256:
		return Key{}, errors.New("jwt: GenerateKey: use HMACKey for HS256")
	default:
		return Key{}, fmt.Errorf("jwt: GenerateKey: unsupported algorithm %q", alg)
	}
	if err != nil {
		return Key{}, fmt.Errorf("jwt: GenerateKey: %w", err)
	}
	return newKey(alg, randomID(), signer)
}

// ParseKey returns the key for alg whose private key is pkcs8 (DER, as
// MarshalPKCS8 makes it) and whose id is kid. The key type must match alg:
// an Ed25519 key for "EdDSA", a P-256 key for "ES256", an RSA key of at
// least 2048 bits for "RS256". kid must be 1 to 128 printable ASCII
// characters.
func ParseKey(alg, kid string, pkcs8 []byte) (Key, error) {
	if err := checkKID(kid); err != nil {
		return Key{}, err
	}
	if alg == algHS256 {
		return Key{}, errors.New("jwt: ParseKey: use HMACKey for HS256")
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return Key{}, fmt.Errorf("jwt: ParseKey: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("jwt: ParseKey: %T is not a signing key", priv)
	}
	return newKey(alg, kid, signer)
}

// newKey checks that signer suits alg and builds the Key.
func newKey(alg, kid string, signer crypto.Signer) (Key, error) {
	switch k := signer.(type) {
	case ed25519.PrivateKey:
		if alg != algEdDSA {
			return Key{}, fmt.Errorf("jwt: an Ed25519 key cannot be used for %q", alg)
		}
		if len(k) != ed25519.PrivateKeySize {
			return Key{}, errors.New("jwt: malformed Ed25519 key")
		}
	case *ecdsa.PrivateKey:
		if alg != algES256 {
			return Key{}, fmt.Errorf("jwt: an ECDSA key cannot be used for %q", alg)
		}
		if k.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("jwt: ES256 needs a P-256 key, not %s", k.Curve.Params().Name)
		}
	case *rsa.PrivateKey:
		if alg != algRS256 {
			return Key{}, fmt.Errorf("jwt: an RSA key cannot be used for %q", alg)
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return Key{}, fmt.Errorf("jwt: RSA key is %d bits, need at least %d", bits, minRSABits)
		}
	default:
		return Key{}, fmt.Errorf("jwt: unsupported key type %T", signer)
	}
	return Key{alg: alg, kid: kid, signer: signer, public: signer.Public()}, nil
}

// checkKID keeps key ids short and printable: they are copied into every
// token header and JWKS document.
func checkKID(kid string) error {
	if kid == "" || len(kid) > maxKIDBytes {
		return fmt.Errorf("jwt: key id must be 1 to %d bytes", maxKIDBytes)
	}
	for i := 0; i < len(kid); i++ {
		if c := kid[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("jwt: key id contains byte %#x", c)
		}
	}
	return nil
}

// randomID returns 128 random bits, base64url encoded without padding.
func randomID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns the key id ("kid"); "" for HMAC keys.
func (k Key) ID() string { return k.kid }

// Algorithm returns the JWS algorithm the key is bound to: "HS256",
// "EdDSA", "ES256" or "RS256"; "" for the zero Key.
func (k Key) Algorithm() string { return k.alg }

// MarshalPKCS8 returns the private key in PKCS#8 DER form, for ParseKey. It
// fails for HMAC keys, which are configured secrets and never stored.
func (k Key) MarshalPKCS8() ([]byte, error) {
	if k.signer == nil {
		return nil, fmt.Errorf("jwt: MarshalPKCS8: a %q key has no PKCS#8 form", k.alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, fmt.Errorf("jwt: MarshalPKCS8: %w", err)
	}
	return der, nil
}

// method returns the jwt library's signing method for the key's algorithm.
func (k Key) method() jwtlib.SigningMethod {
	switch k.alg {
	case algHS256:
		return jwtlib.SigningMethodHS256
	case algEdDSA:
		return jwtlib.SigningMethodEdDSA
	case algES256:
		return jwtlib.SigningMethodES256
	case algRS256:
		return jwtlib.SigningMethodRS256
	}
	return nil
}

// signingKey returns what the jwt library signs with.
func (k Key) signingKey() any {
	if k.alg == algHS256 {
		return k.secret
	}
	return k.signer
}

// same reports whether k and o are the same key material for the same
// algorithm, so that listing a key twice in a Config is harmless.
func (k Key) same(o Key) bool {
	if k.alg != o.alg || k.kid != o.kid {
		return false
	}
	if k.alg == algHS256 {
		return subtle.ConstantTimeCompare(k.secret, o.secret) == 1
	}
	p, ok := k.public.(interface{ Equal(crypto.PublicKey) bool })
	return ok && p.Equal(o.public)
}
