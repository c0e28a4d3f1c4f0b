package jwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jwtlib "github.com/golang-jwt/jwt/v5"
)

// maxNumericDate is the last second of year 9999. Larger dates only come
// from forged or broken tokens, and would overflow time arithmetic.
const maxNumericDate = 253402300799

// wireClaims is the payload Write produces, in this order. It is the whole
// claim set: nothing secret, nothing that changes with the user's profile
// (security checklist item 42).
type wireClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"` // an array, as FastAPI Users writes it
	ExpiresAt int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Session   string   `json:"sid,omitempty"` // the session, when there is one
	// Roles and Scope tell other services what the user may do (RFC 9068
	// §2.2.3): a snapshot taken when the token was issued. Gatehouse itself
	// always asks its role store, so a removed role counts at once there.
	Roles []string `json:"roles,omitempty"`
	Scope string   `json:"scope,omitempty"`
}

// claims is a payload as Read decodes it. It implements jwtlib.Claims so
// that the library's validator checks exp, nbf, iat, iss and aud.
//
// It decodes itself rather than through struct tags because encoding/json
// is too lenient for tokens: it matches field names ignoring case ("SUB"
// fills sub), lets a later duplicate key win, accepts a quoted number as a
// NumericDate and replaces invalid UTF-8. Each of those lets one token mean
// different things to different verifiers (RFC 7519 §4, RFC 8725 §3.7).
type claims struct {
	issuer, subject, id string
	session             string
	audience            []string
	exp, nbf, iat       int64
	hasExp, hasNbf      bool
	hasIat              bool
}

var _ jwtlib.Claims = (*claims)(nil)

// UnmarshalJSON decodes a payload. encoding/json has checked that b is one
// valid JSON value before calling it.
func (c *claims) UnmarshalJSON(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("jwt: payload is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("jwt: payload is not a JSON object")
	}
	seen := make(map[string]bool, 8)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("jwt: payload: %w", err)
		}
		name, _ := t.(string) // object keys are always strings
		if seen[name] {
			return fmt.Errorf("jwt: duplicate claim %q", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("jwt: claim %q: %w", name, err)
		}
		switch name {
		case "iss":
			err = decodeString(raw, &c.issuer)
		case "sub":
			err = decodeString(raw, &c.subject)
		case "jti":
			err = decodeString(raw, &c.id)
		case "sid":
			err = decodeString(raw, &c.session)
		case "aud":
			c.audience, err = decodeAudience(raw)
		case "exp":
			c.exp, err = decodeDate(raw)
			c.hasExp = true
		case "nbf":
			c.nbf, err = decodeDate(raw)
			c.hasNbf = true
		case "iat":
			c.iat, err = decodeDate(raw)
			c.hasIat = true
		default:
			// Unknown claims are ignored, but a case variant of a known
			// one is not: other decoders would read "SUB" as "sub".
			for _, known := range [...]string{"iss", "sub", "jti", "sid", "aud", "exp", "nbf", "iat"} {
				if strings.EqualFold(name, known) {
					return fmt.Errorf("jwt: claim %q is a case variant of %q", name, known)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("jwt: claim %q: %w", name, err)
		}
	}
	return nil
}

func decodeString(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, s)
}

// decodeAudience accepts a string or an array of strings (RFC 7519 §4.1.3).
func decodeAudience(raw json.RawMessage) ([]string, error) {
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return []string{s}, err
	case len(raw) > 0 && raw[0] == '[':
		var list []string
		err := json.Unmarshal(raw, &list)
		return list, err
	}
	return nil, errors.New("not a string or an array of strings")
}

// decodeDate accepts a NumericDate written as Write writes it: a plain
// non-negative integer of seconds. Fractions, exponents, strings and
// out-of-range values are refused rather than rounded.
func decodeDate(raw json.RawMessage) (int64, error) {
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, errors.New("not a non-negative integer")
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > maxNumericDate {
		return 0, errors.New("out of range")
	}
	return n, nil
}

func date(ok bool, sec int64) (*jwtlib.NumericDate, error) {
	if !ok {
		return nil, nil
	}
	return &jwtlib.NumericDate{Time: time.Unix(sec, 0)}, nil
}

// GetExpirationTime implements jwtlib.Claims.
func (c *claims) GetExpirationTime() (*jwtlib.NumericDate, error) { return date(c.hasExp, c.exp) }

// GetNotBefore implements jwtlib.Claims.
func (c *claims) GetNotBefore() (*jwtlib.NumericDate, error) { return date(c.hasNbf, c.nbf) }

// GetIssuedAt implements jwtlib.Claims.
func (c *claims) GetIssuedAt() (*jwtlib.NumericDate, error) { return date(c.hasIat, c.iat) }

// GetIssuer implements jwtlib.Claims.
func (c *claims) GetIssuer() (string, error) { return c.issuer, nil }

// GetSubject implements jwtlib.Claims.
func (c *claims) GetSubject() (string, error) { return c.subject, nil }

// GetAudience implements jwtlib.Claims.
func (c *claims) GetAudience() (jwtlib.ClaimStrings, error) { return c.audience, nil }
