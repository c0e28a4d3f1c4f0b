// Package jwt issues and checks JWT access tokens: the token strategy of
// Gatehouse, compatible with FastAPI Users' JWTStrategy.
//
// A [Strategy] signs tokens with one [Key] and accepts tokens signed by that
// key or by the extra keys of [Config.Verify], which is how keys rotate.
// Tokens look like this:
//
//	header  {"alg":"EdDSA","typ":"at+jwt","kid":"<key id>"}
//	payload {"iss":"gatehouse","sub":"<user id>","aud":["fastapi-users:auth"],
//	         "exp":…,"nbf":…,"iat":…,"jti":"<128 random bits>"}
//
// With an HS256 key ([HMACKey]) the header has no kid and the secret is the
// MAC key as given, so a FastAPI Users service sharing the secret and the
// audience accepts Gatehouse's tokens.
//
// Reading is strict, following RFC 8725 and RFC 9068: the algorithm comes
// from the configured key, never from the token; the header may only carry
// alg, typ ("at+jwt") and kid, so jku, x5u, jwk, x5c and crit are refused
// and never fetched; exp, iss, aud, sub and jti are required; malformed
// input is rejected before any decoding. With [Config.Revocations] set,
// Destroy revokes a token by its jti and Read refuses revoked tokens.
//
// Verifying a signature costs from a microsecond (HS256) to tens of them
// (RS256, ES256), and decoding the claims strictly costs more allocations
// than the rest of a request. So a Strategy remembers the tokens it has
// verified ([Config.CacheSize]) and answers for them again after a SHA-256
// of the token and a map lookup, whatever the algorithm. Only the signature
// and the claim checks are skipped: the revocation check runs on every Read,
// so a revoked token is refused at once, and the caller's checks of the
// user run as before.
//
// [JWKS] publishes the public keys so that other services can verify tokens
// without sharing a secret.
package jwt

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse"
)

const (
	// tokenType is the "typ" of access tokens (RFC 9068 §2.1). Requiring it
	// keeps other JWTs signed with the same key (reset, verify, OAuth state
	// tokens, or FastAPI Users' own "JWT"-typed ones) from being accepted as
	// access tokens (RFC 8725 §3.11).
	tokenType = "at+jwt"

	// maxTokenBytes caps what Read looks at. Real tokens are under 1 KiB;
	// the cap keeps hostile input from costing memory or time.
	maxTokenBytes = 8 << 10

	// hashBufBytes is room for a token to be hashed without an
	// allocation: more than an RS256 token with a 3072-bit key and a few
	// roles.
	hashBufBytes = 2 << 10

	// maxLeeway is the most clock skew New allows (checklist item 33).
	maxLeeway = 60 * time.Second

	defaultIssuer   = "gatehouse"
	defaultAudience = "fastapi-users:auth"
	defaultLifetime = 15 * time.Minute
)

// Config configures a Strategy. Only Key is required.
type Config struct {
	// Key signs new tokens, and tokens it signed are accepted.
	Key Key
	// Verify lists extra keys whose tokens are still accepted: the keys
	// being rotated out. Tokens name their key by kid; HS256 tokens carry
	// none and are checked against every HMAC key.
	Verify []Key

	Issuer   string        // the "iss" written and required; default "gatehouse"
	Audience string        // the "aud" written and required; default "fastapi-users:auth"
	Lifetime time.Duration // how long a token is valid; default (or <= 0) 15 minutes
	// Leeway is how far the clocks of the issuer and of this verifier may
	// disagree when checking exp, nbf and iat. Default 0, at most 60s.
	Leeway time.Duration

	// Revocations, when set, makes Destroy revoke tokens (by jti) and Read
	// refuse revoked ones. When nil, Destroy does nothing and a token stays
	// valid until it expires, which is how FastAPI Users behaves. The
	// Gatehouse server always sets it.
	Revocations gatehouse.Revocations

	// CacheSize is how many verified tokens Read remembers, so that it
	// checks a token's signature and claims once rather than on every
	// request. Zero means 10,000; a negative value turns the cache off; at most 1<<24.
	// An entry takes about 200 bytes (the default cache is about 2 MB)
	// and is dropped by the token's exp, by the clock Now. Revocation is
	// checked on every Read either way.
	CacheSize int

	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Strategy issues and checks JWT access tokens. It implements
// gatehouse.Strategy and is safe for concurrent use.
type Strategy struct {
	key         Key
	header      string // the signing key's encoded header, the same for every token
	issuer      string
	audience    string
	lifetime    time.Duration
	leeway      time.Duration
	revocations gatehouse.Revocations
	now         func() time.Time
	cache       *cache // nil when Config.CacheSize < 0

	byID   map[string]Key           // keys with a kid
	hmac   []jwtlib.VerificationKey // HS256 secrets, for tokens without a kid
	parser *jwtlib.Parser
}

var _ gatehouse.Strategy = (*Strategy)(nil)

// New returns a Strategy for cfg. It refuses a missing or zero key, two
// different keys with one kid, and a leeway outside 0..60s.
func New(cfg Config) (*Strategy, error) {
	if cfg.Key.alg == "" {
		return nil, errors.New("jwt: Config.Key is missing")
	}
	if cfg.Leeway < 0 || cfg.Leeway > maxLeeway {
		return nil, fmt.Errorf("jwt: Config.Leeway %v is outside 0..%v", cfg.Leeway, maxLeeway)
	}
	s := &Strategy{
		key:         cfg.Key,
		issuer:      orDefault(cfg.Issuer, defaultIssuer),
		audience:    orDefault(cfg.Audience, defaultAudience),
		lifetime:    cfg.Lifetime,
		leeway:      cfg.Leeway,
		revocations: cfg.Revocations,
		now:         cfg.Now,
		byID:        make(map[string]Key),
	}
	if s.lifetime <= 0 {
		s.lifetime = defaultLifetime
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case cfg.CacheSize == 0:
		s.cache = newCache(defaultCacheSize)
	case cfg.CacheSize > 0:
		s.cache = newCache(min(cfg.CacheSize, maxCacheSize))
	}

	var algs []string
	for i, k := range append([]Key{cfg.Key}, cfg.Verify...) {
		switch {
		case k.alg == "":
			return nil, fmt.Errorf("jwt: Config.Verify[%d] is the zero Key", i-1)
		case k.kid == "":
			s.hmac = append(s.hmac, k.secret)
		default:
			if old, dup := s.byID[k.kid]; dup && !old.same(k) {
				return nil, fmt.Errorf("jwt: two different keys have kid %q", k.kid)
			}
			s.byID[k.kid] = k
		}
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}

	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{cfg.Key.alg, tokenType, cfg.Key.kid})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	s.header = base64.RawURLEncoding.EncodeToString(h)

	// The method allowlist holds only the algorithms of configured keys;
	// keyfunc further requires the algorithm of the one key the token names.
	s.parser = jwtlib.NewParser(
		jwtlib.WithValidMethods(algs),
		jwtlib.WithIssuer(s.issuer),
		jwtlib.WithAudience(s.audience),
		jwtlib.WithExpirationRequired(),
		jwtlib.WithIssuedAt(),
		jwtlib.WithLeeway(s.leeway),
		jwtlib.WithTimeFunc(s.now),
		jwtlib.WithStrictDecoding(),
	)
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Write issues an access token for u, valid from now for the configured
// lifetime. A non-zero session goes into the "sid" claim, so ending the
// session ends the token.
func (s *Strategy) Write(ctx context.Context, u *gatehouse.User, session gatehouse.ID) (gatehouse.Token, error) {
	if u == nil || u.ID.IsZero() {
		return gatehouse.Token{}, errors.New("jwt: Write: user without an id")
	}
	now := s.now()
	// Whole seconds, rounded down, so that iat and nbf are never ahead of
	// the clock that wrote them.
	iat := now.Unix()
	exp := now.Add(s.lifetime).Unix()
	payload, err := json.Marshal(wireClaims{
		Issuer:    s.issuer,
		Subject:   u.ID.String(),
		Audience:  []string{s.audience},
		ExpiresAt: exp,
		NotBefore: iat,
		IssuedAt:  iat,
		ID:        randomID(),
		Session:   sessionClaim(session),
		Roles:     u.Roles,
		Scope:     strings.Join(u.Permissions, " "),
	})
	if err != nil {
		return gatehouse.Token{}, fmt.Errorf("jwt: Write: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := s.header + "." + enc.EncodeToString(payload)
	sig, err := s.key.method().Sign(signing, s.key.signingKey())
	if err != nil {
		return gatehouse.Token{}, fmt.Errorf("jwt: Write: sign: %w", err)
	}
	return gatehouse.Token{
		AccessToken: signing + "." + enc.EncodeToString(sig),
		Expiry:      time.Unix(exp, 0),
	}, nil
}

// Read checks a token and returns whom it was issued to. Every failure is
// an error with CodeUnauthorized, except a revocation store that cannot be
// asked, which is CodeUnavailable: the request fails closed.
func (s *Strategy) Read(ctx context.Context, token string) (gatehouse.Principal, error) {
	v, err := s.verify(token)
	if err != nil {
		return gatehouse.Principal{}, err
	}
	if s.revocations != nil {
		revoked, err := s.revocations.Revoked(ctx, v.tokenID)
		if err != nil {
			return gatehouse.Principal{}, &gatehouse.Error{
				Code: gatehouse.CodeUnavailable,
				Err:  fmt.Errorf("jwt: revocation check: %w", err),
			}
		}
		if revoked {
			return gatehouse.Principal{}, unauthorized(errors.New("jwt: token revoked"))
		}
	}
	if v.badSession {
		return gatehouse.Principal{}, unauthorized(errors.New("jwt: sid is not a session id"))
	}
	return gatehouse.Principal{UserID: v.user, SessionID: v.session, TokenID: v.tokenID, Expiry: time.Unix(v.exp, 0)}, nil
}

func sessionClaim(id gatehouse.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

// Destroy revokes a token, by its jti, until it would have expired. Only a
// token that passes every check of Read (signature first) is revoked, so
// nobody can fill the revocation store with forged ids. An expired token is
// already unusable, and destroying it does nothing.
//
// Without Config.Revocations, Destroy does nothing, like FastAPI Users'
// JWTStrategy: the token stays valid until it expires.
func (s *Strategy) Destroy(ctx context.Context, token string) error {
	if s.revocations == nil {
		return nil
	}
	v, err := s.verify(token)
	if err != nil {
		// The library checks claims only after the signature, so an
		// "expired" error means a genuine token that has just run out.
		if errors.Is(err, jwtlib.ErrTokenExpired) && !errors.Is(err, jwtlib.ErrTokenSignatureInvalid) {
			return nil
		}
		return err
	}
	// Read accepts a token until exp+leeway, so that is how long the
	// revocation must be remembered.
	until := time.Unix(v.exp, 0).Add(s.leeway)
	if err := s.revocations.Revoke(ctx, v.tokenID, until); err != nil {
		return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: fmt.Errorf("jwt: revoke: %w", err)}
	}
	return nil
}

// verify runs every check but revocation, or finds the token in the cache
// of tokens that passed them. The precheck comes first either way, so that
// hostile input is refused before it is hashed.
func (s *Strategy) verify(token string) (verified, error) {
	if err := precheck(token); err != nil {
		return verified{}, unauthorized(err)
	}
	if s.cache == nil {
		return s.parse(token)
	}
	// Hashing a copy on the stack saves the allocation of []byte(token)
	// for all but unusually long tokens.
	var buf [hashBufBytes]byte
	key := sha256.Sum256(append(buf[:0], token...))
	now := s.now().Unix()
	if v, ok := s.cache.get(&key, now); ok {
		return v, nil
	}
	v, err := s.parse(token)
	if err == nil && now < v.exp {
		s.cache.put(&key, v, now)
	}
	return v, err
}

// parse checks a token's signature and claims.
func (s *Strategy) parse(token string) (verified, error) {
	c := new(claims)
	if _, err := s.parser.ParseWithClaims(token, c, s.keyfunc); err != nil {
		return verified{}, unauthorized(fmt.Errorf("jwt: %w", err))
	}
	if c.id == "" {
		return verified{}, unauthorized(errors.New("jwt: token has no jti"))
	}
	id, err := gatehouse.ParseID(c.subject)
	if err != nil || id.IsZero() {
		return verified{}, unauthorized(errors.New("jwt: sub is not a user id"))
	}
	v := verified{user: id, tokenID: c.id, exp: c.exp}
	if c.hasNbf {
		v.from = c.nbf
	}
	if c.hasIat {
		v.from = max(v.from, c.iat)
	}
	if c.session != "" {
		v.session, err = gatehouse.ParseID(c.session)
		v.badSession = err != nil
	}
	return v, nil
}

func unauthorized(err error) error {
	return &gatehouse.Error{Code: gatehouse.CodeUnauthorized, Err: err}
}

// precheck rejects what cannot be a compact JWS before anything is decoded
// (RFC 8725bis "Check JWT Format Type"; CVE-2025-30204): at most
// maxTokenBytes, exactly two dots, only the unpadded base64url alphabet,
// three non-empty segments, and a header and payload that start with `{"`.
// It is one pass over the bytes and decodes nothing.
func precheck(token string) error {
	if len(token) > maxTokenBytes {
		return fmt.Errorf("jwt: token is longer than %d bytes", maxTokenBytes)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			if dots++; dots > 2 {
				return errors.New("jwt: token has more than three segments")
			}
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return errors.New("jwt: token has a byte outside the base64url alphabet")
		}
	}
	header, rest, _ := strings.Cut(token, ".")
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || header == "" || payload == "" || sig == "" {
		return errors.New("jwt: token is not three non-empty segments")
	}
	// "eyJ" is base64url for `{"`. A header or payload that is not a JSON
	// object (null, an array, a string) is refused here, where it is cheap.
	if !strings.HasPrefix(header, "eyJ") || !strings.HasPrefix(payload, "eyJ") {
		return errors.New("jwt: header or payload is not a JSON object")
	}
	return nil
}

// keyfunc picks the key that checks a token's signature. It looks only at
// the header, which the library has decoded but not trusted: every rule
// here is about which key applies, never about accepting the token.
func (s *Strategy) keyfunc(t *jwtlib.Token) (any, error) {
	for name := range t.Header {
		switch name {
		case "alg", "typ", "kid":
		case "crit":
			// RFC 7515 §4.1.11: extensions we do not implement must fail.
			return nil, errors.New("jwt: crit header is not supported")
		default:
			// jku, x5u, jwk and x5c would let the token choose its own key
			// (RFC 8725 §3.10); Write never sets any other header.
			return nil, fmt.Errorf("jwt: header %q is not accepted", name)
		}
	}
	if typ, _ := t.Header["typ"].(string); typ != tokenType {
		return nil, errors.New("jwt: typ is not " + tokenType)
	}
	alg := t.Method.Alg()
	raw, named := t.Header["kid"]
	if !named {
		// Only HMAC tokens omit the kid: try every HMAC secret.
		if alg != algHS256 || len(s.hmac) == 0 {
			return nil, errors.New("jwt: token names no key")
		}
		return jwtlib.VerificationKeySet{Keys: s.hmac}, nil
	}
	kid, _ := raw.(string)
	k, ok := s.byID[kid]
	if !ok {
		return nil, errors.New("jwt: unknown kid")
	}
	// The algorithm is the key's, not the token's: RFC 8725 §3.1.
	if k.alg != alg {
		return nil, fmt.Errorf("jwt: key %q is for %s, not %s", kid, k.alg, alg)
	}
	return k.public, nil
}
