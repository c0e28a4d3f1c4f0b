// Package oauth logs users in with third-party identity providers: the
// OAuth 2.0 authorization code flow with PKCE (RFC 7636, S256) and, for
// OpenID Connect providers, a verified ID token with a nonce.
//
// A Provider knows one identity provider: NewOIDC (any OpenID Connect
// issuer, found by discovery), NewGoogle, and NewGitHub (plain OAuth 2.0:
// GitHub issues no ID token, so there is no nonce and the identity comes
// from its REST API). Flow runs the two halves of a login or association
// against a Provider:
//
//	authURL, csrf, err := flow.Authorize(redirectURI, nil, gatehouse.ID{}, "")
//	// set csrf as a cookie and send the browser to authURL; later, on the
//	// callback request:
//	id, returnTo, err := flow.Callback(ctx, redirectURI, code, state, csrfCookie, gatehouse.ID{})
//
// Nothing is kept on the server between the two halves. The state is a
// short-lived token made by a gatehouse.Signer (audience
// "fastapi-users:oauth-state", as in FastAPI Users) holding a random CSRF
// token that is also set as a cookie; the PKCE verifier and the OIDC nonce
// are derived from that CSRF token with HMAC-SHA256 under Flow.Key, so
// neither ever appears in a URL and neither can be computed without the
// key. The callback checks the state (signature, audience, expiry), the
// double-submitted CSRF token and the user the flow was started for before
// it spends the code.
//
// Errors are *gatehouse.Error values: the state's errors carry the HTTP
// contract's codes (ACCESS_TOKEN_DECODE_ERROR, ACCESS_TOKEN_ALREADY_EXPIRED,
// OAUTH_INVALID_STATE); a grant the provider refuses or an ID token that
// fails verification is CodeBadRequest; a provider that cannot be reached
// or fails is CodeBadGateway. Provider tokens never appear in errors.
//
// This package has no HTTP routes: package httpapi mounts them. Package
// oauthtest runs a real OpenID Connect provider for tests.
package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Identity is who logged in at a provider, and the provider's tokens.
type Identity struct {
	AccountID     string // the account's stable id at the provider ("sub", GitHub's numeric id)
	Email         string // "" when the provider gave none (GitHub: no primary, verified address)
	EmailVerified bool
	AccessToken   string
	RefreshToken  string    // "" when the provider gave none
	Expiry        time.Time // of AccessToken; zero when it does not expire or the provider did not say
}

// Provider is one identity provider.
type Provider interface {
	// Name is the provider's configured name ("google", "github"),
	// FastAPI Users' oauth_name.
	Name() string

	// AuthCodeURL returns the provider's authorization URL with
	// response_type=code, client_id, redirect_uri, state, scope
	// (space-joined; the provider's default scopes when scopes is empty),
	// code_challenge (the S256 challenge of verifier),
	// code_challenge_method=S256 and, for OpenID Connect, nonce.
	AuthCodeURL(redirectURI, state, verifier, nonce string, scopes []string) string

	// Exchange redeems code with the PKCE verifier and returns who logged
	// in. For OpenID Connect the ID token is verified (signature by a key
	// of the issuer's JWKS, iss, aud == the client id, exp) and its nonce
	// must equal nonce.
	//
	// A provider that cannot be reached or answers 5xx is CodeBadGateway;
	// a grant the provider refuses (invalid_grant: a replayed code, a wrong
	// verifier) or an ID token that fails verification is CodeBadRequest.
	Exchange(ctx context.Context, redirectURI, code, verifier, nonce string) (*Identity, error)
}

// stateAudience is the audience of state tokens, FastAPI Users'.
const stateAudience = "fastapi-users:oauth-state"

// Claims of a state token.
const (
	claimCSRF     = "csrftoken"
	claimSub      = "sub"
	claimReturnTo = "return_to"
	// claimProvider binds a state to the provider it was made for, so a
	// flow started with one provider cannot finish at another's callback
	// (a mix-up attack, RFC 9700 §4.4), even when providers share keys.
	claimProvider = "provider"
)

// DefaultStateTTL is how long a flow may take: FastAPI Users' hour.
const DefaultStateTTL = time.Hour

// MinKeyBytes is the least length of Flow.Key.
const MinKeyBytes = 32

// Flow runs logins and associations with one Provider. Its fields are
// read-only once the Flow is in use; a Flow is safe for concurrent use.
type Flow struct {
	Provider Provider
	// Signer makes and checks state tokens (audience
	// "fastapi-users:oauth-state", claims csrftoken, sub for an
	// association, return_to when given). The state's expiry is checked
	// with the Signer's clock.
	Signer gatehouse.Signer
	// Key (at least MinKeyBytes) derives the PKCE verifier and the OIDC
	// nonce from the state's CSRF token with HMAC-SHA256. Give it its own
	// secret: whoever knows it and a CSRF token knows the verifier.
	Key []byte
	// StateTTL is the lifetime of a state token, and so of the CSRF
	// cookie; default DefaultStateTTL.
	StateTTL time.Duration
	// Now is the Flow's clock, default time.Now. The state tokens' expiry
	// is the Signer's business, with its own clock.
	Now func() time.Time
}

func (f *Flow) check() error {
	switch {
	case f == nil || f.Provider == nil:
		return errors.New("oauth: Flow has no Provider")
	case f.Signer == nil:
		return errors.New("oauth: Flow has no Signer")
	case len(f.Key) < MinKeyBytes:
		return fmt.Errorf("oauth: Flow.Key has %d bytes, want at least %d", len(f.Key), MinKeyBytes)
	}
	return nil
}

// Authorize starts a flow. It returns the provider's authorization URL,
// to send the browser to, and the CSRF token, to set as a cookie that the
// callback request must bring back (FastAPI Users' fastapiusersoauthcsrf).
//
// A non-zero userID starts an association (the state names the user, and
// the callback must be made by the same user); the zero ID starts a login.
// returnTo, if not "", is carried in the state and handed back by Callback;
// checking it against an allow-list is the caller's job. Empty scopes mean
// the provider's defaults.
func (f *Flow) Authorize(redirectURI string, scopes []string, userID gatehouse.ID, returnTo string) (authURL, csrf string, err error) {
	if err := f.check(); err != nil {
		return "", "", err
	}
	var b [32]byte
	rand.Read(b[:]) // never returns an error: crypto/rand panics instead
	csrf = base64.RawURLEncoding.EncodeToString(b[:])

	claims := map[string]string{claimCSRF: csrf, claimProvider: f.Provider.Name()}
	if !userID.IsZero() {
		claims[claimSub] = userID.String()
	}
	if returnTo != "" {
		claims[claimReturnTo] = returnTo
	}
	ttl := f.StateTTL
	if ttl <= 0 {
		ttl = DefaultStateTTL
	}
	state, err := f.Signer.Sign(stateAudience, claims, ttl)
	if err != nil {
		return "", "", fmt.Errorf("oauth: sign state: %w", err)
	}
	verifier, nonce := f.derive(csrf)
	return f.Provider.AuthCodeURL(redirectURI, state, verifier, nonce, scopes), csrf, nil
}

// Callback finishes a flow started by Authorize: code and state are the
// callback request's parameters, csrfCookie the CSRF cookie it brought
// ("" when none), userID the logged-in user for an association or the zero
// ID for a login. It returns who logged in at the provider and the
// return_to given to Authorize.
//
// The checks come in this order, and all of them before the code is
// spent, so a forged callback cannot burn a victim's code:
//  1. the state: a missing, malformed or badly signed state, or one made
//     for another audience, is CodeAccessTokenDecodeError; an expired one
//     CodeAccessTokenAlreadyExpired;
//  2. CSRF double submit: a missing cookie, or one that differs from the
//     state's csrftoken, is CodeOAuthInvalidState, and so is a state made
//     for another provider;
//  3. the user: for an association the state's sub must be userID, else
//     CodeBadRequest; a login's state must have no sub, else
//     CodeOAuthInvalidState;
//  4. the exchange, with the verifier and nonce derived from the CSRF
//     token: see Provider.Exchange. A missing code is CodeBadRequest.
//
// (FastAPI Users exchanges the code before it looks at the state.)
func (f *Flow) Callback(ctx context.Context, redirectURI, code, state, csrfCookie string, userID gatehouse.ID) (*Identity, string, error) {
	if err := f.check(); err != nil {
		return nil, "", err
	}
	if state == "" {
		return nil, "", gatehouse.Errorf(gatehouse.CodeAccessTokenDecodeError, "oauth: no state")
	}
	claims, err := f.Signer.Parse(state, stateAudience)
	if err != nil {
		if c := gatehouse.ErrorCode(err); c != gatehouse.CodeAccessTokenAlreadyExpired {
			return nil, "", &gatehouse.Error{Code: gatehouse.CodeAccessTokenDecodeError, Err: err}
		}
		return nil, "", err
	}
	csrf := claims[claimCSRF]
	if csrf == "" || csrfCookie == "" || subtle.ConstantTimeCompare([]byte(csrf), []byte(csrfCookie)) != 1 {
		return nil, "", gatehouse.Errorf(gatehouse.CodeOAuthInvalidState, "oauth: the CSRF cookie does not match the state")
	}
	if claims[claimProvider] != f.Provider.Name() {
		return nil, "", gatehouse.Errorf(gatehouse.CodeOAuthInvalidState, "oauth: the state was made for another provider")
	}
	sub, hasSub := claims[claimSub]
	switch {
	case !userID.IsZero() && sub != userID.String():
		return nil, "", gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: the state was made for another user")
	case userID.IsZero() && hasSub:
		return nil, "", gatehouse.Errorf(gatehouse.CodeOAuthInvalidState, "oauth: an association state used to log in")
	}
	if code == "" {
		return nil, "", gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: no code")
	}
	verifier, nonce := f.derive(csrf)
	id, err := f.Provider.Exchange(ctx, redirectURI, code, verifier, nonce)
	if err != nil {
		return nil, "", err
	}
	return id, claims[claimReturnTo], nil
}

// derive returns the PKCE verifier and the OIDC nonce of a flow:
// base64url(HMAC-SHA256(Key, "pkce:"+csrf)), 43 characters (RFC 7636 asks
// for 43 to 128), and base64url(HMAC-SHA256(Key, "nonce:"+csrf)).
func (f *Flow) derive(csrf string) (verifier, nonce string) {
	return mac(f.Key, "pkce:"+csrf), mac(f.Key, "nonce:"+csrf)
}

func mac(key []byte, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// s256 is RFC 7636's S256 code challenge of a verifier:
// base64url(SHA-256(ASCII(verifier))).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
