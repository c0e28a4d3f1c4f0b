package jwt

import (
	"errors"
	"fmt"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse"
)

// Signer signs the short-lived tokens of the account flows (e-mail
// verification, password reset) with HS256, in FastAPI Users' format: the
// flow's claims, a string "aud" naming the flow, and "exp". It implements
// gatehouse.Signer.
//
// Give it its own secret (the server derives one from its main secret):
// its tokens are typed "JWT", not "at+jwt", so even under one key they could
// never pass as access tokens, but separate keys keep the two apart for sure.
type Signer struct {
	secret []byte
	now    func() time.Time
}

var _ gatehouse.Signer = (*Signer)(nil)

// NewSigner returns a Signer keyed by secret, which must hold at least 32
// bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < minHMACBytes {
		return nil, fmt.Errorf("jwt: NewSigner: the secret has %d bytes, want at least %d", len(secret), minHMACBytes)
	}
	return &Signer{secret: append([]byte(nil), secret...), now: time.Now}, nil
}

// SetClock replaces the Signer's clock, for tests.
func (s *Signer) SetClock(now func() time.Time) { s.now = now }

// Sign returns a token holding claims, the audience and an expiry ttl from
// now.
func (s *Signer) Sign(audience string, claims map[string]string, ttl time.Duration) (string, error) {
	c := jwtlib.MapClaims{}
	for k, v := range claims {
		c[k] = v
	}
	c["aud"] = audience
	c["exp"] = s.now().Add(ttl).Unix()
	tok, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, c).SignedString(s.secret)
	if err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	return tok, nil
}

// Parse checks a token's signature (HS256 only), audience and expiry, with
// no leeway, and returns its string claims. The signature is checked first,
// so a tampered token is never reported as merely expired.
func (s *Signer) Parse(token, audience string) (map[string]string, error) {
	if len(token) > maxTokenBytes {
		return nil, &gatehouse.Error{Code: gatehouse.CodeAccessTokenDecodeError}
	}
	p := jwtlib.NewParser(
		jwtlib.WithValidMethods([]string{jwtlib.SigningMethodHS256.Alg()}),
		jwtlib.WithAudience(audience),
		jwtlib.WithExpirationRequired(),
		jwtlib.WithTimeFunc(s.now),
		jwtlib.WithStrictDecoding(),
	)
	c := jwtlib.MapClaims{}
	_, err := p.ParseWithClaims(token, c, func(t *jwtlib.Token) (any, error) {
		if t.Header["typ"] != nil && t.Header["typ"] != "JWT" {
			return nil, errors.New("jwt: unexpected typ")
		}
		return s.secret, nil
	})
	switch {
	case errors.Is(err, jwtlib.ErrTokenExpired):
		return nil, &gatehouse.Error{Code: gatehouse.CodeAccessTokenAlreadyExpired, Err: err}
	case err != nil:
		return nil, &gatehouse.Error{Code: gatehouse.CodeAccessTokenDecodeError, Err: err}
	}
	out := make(map[string]string, len(c))
	for k, v := range c {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out, nil
}
