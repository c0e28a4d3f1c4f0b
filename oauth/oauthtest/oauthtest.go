// Package oauthtest runs a real OpenID Connect provider in-process, for
// tests of code that logs users in with package oauth.
//
// What is real: the provider is zitadel/oidc's op package (the provider
// library behind ZITADEL) on an httptest.Server at http://127.0.0.1:PORT
// (Provider.Issuer). It serves discovery (/.well-known/openid-configuration),
// the authorization endpoint (/authorize, response_type=code), the token
// endpoint (/oauth/token, client_secret_basic or client_secret_post), the
// JWKS (/keys) and userinfo (/userinfo), with op's own request validation:
// registered redirect URIs are matched exactly, the client secret is
// checked, codes are single use (a replayed code is invalid_grant), and the
// PKCE verifier is checked against the challenge.
// ID tokens are RS256 JWTs signed by a fresh 2048-bit RSA key published in
// the JWKS, with iss, sub, aud, azp, exp, iat, auth_time, nonce, at_hash,
// c_hash, email and email_verified.
//
// What is simplified: the storage is in memory; there is no login page and
// no consent, and Login (or a GET of the login URL with ?sub=SUBJECT)
// logs any user added with AddUser in at once; PKCE with S256 is required
// of every authorization request (a request without it is refused with
// invalid_request, as an OAuth 2.1 provider would); the issuer is plain
// http (op's WithAllowInsecure); no refresh tokens, no other grants
// (client credentials, device, token exchange, JWT profile); access tokens
// are opaque (op's encrypted bearer tokens) and live an hour. The knobs
// SetIDTokenLifetime, SetIDTokenAudience and SetIDTokenNonce make the
// provider issue ID tokens a client must refuse; SetUserinfoOnly moves the
// e-mail claims from the ID token to the userinfo endpoint. op logs refused
// requests with slog's default logger.
package oauthtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Provider is an OpenID Connect provider on a local test server.
type Provider struct {
	// Issuer is the provider's issuer URL, http://127.0.0.1:PORT (no
	// trailing slash): give it to oauth.NewOIDC.
	Issuer string

	server *httptest.Server
	op     *op.Provider
	store  *storage
}

// New starts a provider; it is closed when the test ends. It has no users
// and no clients: add them with AddUser and SetClient.
func New(tb testing.TB) *Provider {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("oauthtest: %v", err)
	}
	var kid [8]byte
	rand.Read(kid[:])
	p := &Provider{store: &storage{
		key:     key,
		kid:     base64.RawURLEncoding.EncodeToString(kid[:]),
		users:   map[string]user{},
		clients: map[string]*client{},
		reqs:    map[string]*authRequest{},
		codes:   map[string]string{},
		tokens:  map[string]*accessToken{},
	}}
	p.server = httptest.NewUnstartedServer(nil)
	p.Issuer = "http://" + p.server.Listener.Addr().String()
	p.store.issuer = p.Issuer

	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:      cryptoKey,
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, p.store, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		tb.Fatalf("oauthtest: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", p.login)
	mux.Handle("/", p.op)
	mux.Handle("POST /oauth/token", p.rewriteAudience(p.op))
	p.server.Config.Handler = mux
	p.server.Start()
	tb.Cleanup(p.server.Close)
	return p
}

// Close stops the provider's server, for tests of a provider that is down.
func (p *Provider) Close() { p.server.Close() }

// AddUser adds (or replaces) a user who can log in as sub, with an e-mail
// that the provider says is verified or not.
func (p *Provider) AddUser(sub, email string, verified bool) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.users[sub] = user{email: email, verified: verified}
}

// SetClient registers (or replaces) a confidential web client, which
// authenticates with its secret and may only use the given redirect URIs
// (matched exactly).
func (p *Provider) SetClient(id, secret string, redirectURIs ...string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.clients[id] = &client{
		store:        p.store,
		id:           id,
		secret:       secret,
		redirectURIs: slices.Clone(redirectURIs),
	}
}

// SetIDTokenLifetime sets how long ID tokens issued from now on are valid
// (default an hour; 0 restores it). A negative d issues ID tokens that
// have already expired.
func (p *Provider) SetIDTokenLifetime(d time.Duration) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.idLifetime = d
}

// SetIDTokenAudience makes ID tokens issued from now on name aud as their
// audience (aud and azp) instead of the client; "" restores the client.
// (op always adds the client to aud, so the token endpoint's answer is
// rewritten: the ID token is re-signed with the provider's key.)
func (p *Provider) SetIDTokenAudience(aud string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.audience = aud
}

// SetUserinfoOnly, when on, leaves the e-mail claims out of ID tokens
// issued from now on: only the userinfo endpoint gives them, as OpenID
// Connect allows (Core §5.4) and many providers do.
func (p *Provider) SetUserinfoOnly(on bool) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.userinfoOnly = on
}

// SetIDTokenNonce makes ID tokens issued from now on carry nonce instead
// of the one of the authorization request; "" restores that.
func (p *Provider) SetIDTokenNonce(nonce string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.nonce = nonce
}

// Login does in a test what a browser would: it follows authURL (an
// authorization URL of this provider), logs in as sub, which must have been
// added with AddUser, and returns the URL the provider then sends the
// browser to: the client's redirect URI with code and state, or with error
// when the provider refused the request. It fails the test when the
// provider answers with an error page instead.
func (p *Provider) Login(tb testing.TB, authURL, sub string) string {
	tb.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := authURL
	for range 10 {
		u, err := url.Parse(next)
		if err != nil {
			tb.Fatalf("oauthtest: Login: %v", err)
		}
		if u.Scheme+"://"+u.Host != p.Issuer {
			return next // left the provider: the client's redirect URI
		}
		if u.Path == "/login" {
			q := u.Query()
			q.Set("sub", sub)
			u.RawQuery = q.Encode()
		}
		resp, err := c.Get(u.String())
		if err != nil {
			tb.Fatalf("oauthtest: Login: %v", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			tb.Fatalf("oauthtest: Login: GET %s: %s: %s", u.Path, resp.Status, body)
		}
		next = loc.String()
	}
	tb.Fatalf("oauthtest: Login: too many redirects")
	return ""
}

// rewriteAudience wraps the token endpoint: when SetIDTokenAudience is in
// force, the ID token of a successful answer is re-signed for that audience.
func (p *Provider) rewriteAudience(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.store.mu.Lock()
		aud := p.store.audience
		p.store.mu.Unlock()
		if aud == "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			if b, err := p.store.reaudience(body, aud); err == nil {
				body = b
			} else {
				rec.Code, body = http.StatusInternalServerError, []byte(err.Error())
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body) // a failed write means the client has gone
	})
}

// reaudience returns a token response whose id_token names aud as its
// audience and authorized party, signed again with s's key.
func (s *storage) reaudience(body []byte, aud string) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	raw, _ := resp["id_token"].(string)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(&s.key.PublicKey)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	claims["aud"], claims["azp"] = []string{aud}, aud
	payload, err = json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid))
	if err != nil {
		return nil, err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	if resp["id_token"], err = obj.CompactSerialize(); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// login is the provider's login "page": GET /login?authRequestID=ID&sub=SUB
// logs SUB in for the request at once and goes on to op's callback.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id, sub := r.FormValue("authRequestID"), r.FormValue("sub")
	s := p.store
	s.mu.Lock()
	req, ok := s.reqs[id]
	_, known := s.users[sub]
	if ok && known {
		req.subject = sub
		req.authTime = time.Now()
	}
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "oauthtest: no such authorization request", http.StatusBadRequest)
		return
	case !known:
		http.Error(w, fmt.Sprintf("oauthtest: no user %q: add it with AddUser", sub), http.StatusBadRequest)
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.Issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, id), http.StatusFound)
}

// storage is op.Storage in memory.
type storage struct {
	issuer string
	key    *rsa.PrivateKey
	kid    string

	mu         sync.Mutex
	users      map[string]user
	clients    map[string]*client
	reqs       map[string]*authRequest // by id
	codes      map[string]string       // code -> request id
	tokens     map[string]*accessToken // by id
	idLifetime time.Duration
	audience   string
	nonce      string

	userinfoOnly bool
}

var _ op.Storage = (*storage)(nil)

type user struct {
	email    string
	verified bool
}

type accessToken struct {
	subject, clientID string
	scopes            []string
	expires           time.Time
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var errNotFound = errors.New("oauthtest: not found")

var errUnsupported = errors.New("oauthtest: not supported")

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method=S256 is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req := &authRequest{
		id:        randomID(),
		clientID:  r.ClientID,
		redirect:  r.RedirectURI,
		scopes:    slices.Clone(r.Scopes),
		state:     r.State,
		nonce:     r.Nonce,
		respType:  r.ResponseType,
		respMode:  r.ResponseMode,
		challenge: &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod},
		audience:  []string{r.ClientID},
	}
	if s.nonce != "" {
		req.nonce = s.nonce
	}
	s.reqs[req.id] = req
	return req.snapshot(), nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.reqs[id]; ok {
		return req.snapshot(), nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.reqs[s.codes[code]]; ok {
		return req.snapshot(), nil
	}
	return nil, errNotFound
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.reqs[id]; !ok {
		return errNotFound
	}
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest is called when a code is redeemed: the request and its
// code are gone, so the code cannot be redeemed again.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reqs, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := randomID()
	var clientID string
	if ar, ok := r.(op.AuthRequest); ok {
		clientID = ar.GetClientID()
	}
	exp := time.Now().Add(time.Hour)
	s.tokens[id] = &accessToken{subject: r.GetSubject(), clientID: clientID, scopes: slices.Clone(r.GetScopes()), expires: exp}
	return id, exp, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errUnsupported
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) RevokeToken(_ context.Context, token, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.key, s.kid}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key, s.kid}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return errNotFound
	}
	// Compare hashes so that the lengths leak nothing either.
	a, b := sha256.Sum256([]byte(c.secret)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return errors.New("oauthtest: wrong client secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, ui *oidc.UserInfo, sub, _ string, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userinfo(ui, sub, scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, sub, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenID]
	if !ok || t.subject != sub || time.Now().After(t.expires) {
		return errors.New("oauthtest: invalid access token")
	}
	return s.userinfo(ui, sub, t.scopes)
}

// userinfo sets the claims of sub that scopes allow; s.mu is held.
func (s *storage) userinfo(ui *oidc.UserInfo, sub string, scopes []string) error {
	u, ok := s.users[sub]
	if !ok {
		return errNotFound
	}
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeOpenID:
			ui.Subject = sub
		case oidc.ScopeEmail:
			ui.Email = u.email
			ui.EmailVerified = oidc.Bool(u.verified)
		}
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errUnsupported
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnsupported
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is an authorization request; op only ever sees snapshots.
type authRequest struct {
	id, clientID, redirect, state, nonce string
	scopes                               []string
	respType                             oidc.ResponseType
	respMode                             oidc.ResponseMode
	challenge                            *oidc.CodeChallenge
	audience                             []string
	subject                              string
	authTime                             time.Time
}

func (r *authRequest) snapshot() *authRequest {
	c := *r
	return &c
}

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (r *authRequest) GetAudience() []string                 { return r.audience }
func (r *authRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirect }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.respType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.respMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.subject != "" }

// client is a confidential web client using client_secret_basic (op
// accepts client_secret_post too).
type client struct {
	store        *storage
	id, secret   string
	redirectURIs []string
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string          { return c.id }
func (c *client) RedirectURIs() []string { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string {
	return nil
}
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string {
	return c.store.issuer + "/login?authRequestID=" + url.QueryEscape(id)
}
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration {
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	if c.store.idLifetime == 0 {
		return time.Hour
	}
	return c.store.idLifetime
}
func (c *client) DevMode() bool { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(string) bool { return false }

// IDTokenUserinfoClaimsAssertion puts the e-mail claims in the ID token,
// as Google does, unless SetUserinfoOnly is on.
func (c *client) IDTokenUserinfoClaimsAssertion() bool {
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	return !c.store.userinfoOnly
}
func (c *client) ClockSkew() time.Duration { return 0 }

type signingKey struct {
	key *rsa.PrivateKey
	kid string
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.kid }

type publicKey struct {
	key *rsa.PrivateKey
	kid string
}

func (k publicKey) ID() string                         { return k.kid }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// String keeps a Provider's %v short.
func (p *Provider) String() string { return "oauthtest.Provider(" + p.Issuer + ")" }
