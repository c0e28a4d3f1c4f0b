package cli

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/oauth"
)

// The HKDF info strings of the OAuth keys, each derived from the secret:
// the key that signs the state tokens, the key the PKCE verifiers and
// nonces are derived from, and the key that seals the providers' tokens
// in the database.
const (
	oauthStateInfo  = "gatehouse oauth state v1"
	oauthPKCEInfo   = "gatehouse oauth pkce v1"
	oauthTokensInfo = "gatehouse oauth tokens v1" // #nosec G101 -- an HKDF info label, not a credential
)

const (
	// oauthDiscoveryTimeout bounds the OpenID Connect discovery of each
	// provider at start.
	oauthDiscoveryTimeout = 30 * time.Second
	// oauthClientTimeout bounds every request to a provider (token
	// exchange, user info), within the server's write timeout.
	oauthClientTimeout = 15 * time.Second
)

// newOAuth builds the configured providers: OpenID Connect ones are
// discovered now, so an issuer that cannot be reached stops the server.
// It returns nil without providers.
func newOAuth(ctx context.Context, c *config, secret, publicURL string, log *slog.Logger) (map[string]httpapi.OAuthProvider, error) {
	if len(c.OAuth) == 0 {
		return nil, nil
	}
	stateKey, err := hkdf.Key(sha256.New, []byte(secret), nil, oauthStateInfo, 32)
	if err != nil {
		return nil, err
	}
	signer, err := jwt.NewSigner(stateKey)
	if err != nil {
		return nil, err
	}
	pkceKey, err := hkdf.Key(sha256.New, []byte(secret), nil, oauthPKCEInfo, 32)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: oauthClientTimeout}

	if u, err := url.Parse(publicURL); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		log.Warn("OAuth login needs HTTPS: browsers keep the CSRF cookie of the OAuth flow, which is Secure, only over HTTPS "+
			"(or on localhost); set GATEHOUSE_PUBLIC_URL to the https:// URL users reach the server at", "public_url", publicURL)
	}
	providers := make(map[string]httpapi.OAuthProvider, len(c.OAuth))
	for _, s := range c.OAuth {
		p, err := newOAuthProvider(ctx, s, client)
		if err != nil {
			return nil, err
		}
		op := httpapi.OAuthProvider{
			Flow:                 &oauth.Flow{Provider: p, Signer: signer, Key: pkceKey},
			Backend:              s.Backend,
			CallbackURL:          publicURL + "/auth/" + s.Name + "/callback",
			AssociateCallbackURL: publicURL + "/auth/associate/" + s.Name + "/callback",
			AssociateByEmail:     s.AssociateByEmail,
			ReturnURLs:           s.ReturnURLs,
		}
		providers[s.Name] = op
		attrs := []any{"name", s.Name, "provider", s.Kind, "backend", s.Backend,
			"callback_url", op.CallbackURL, "associate_callback_url", op.AssociateCallbackURL}
		if s.Issuer != "" {
			attrs = append(attrs, "issuer", s.Issuer)
		}
		if s.AssociateByEmail {
			attrs = append(attrs, "associate_by_email", true)
		}
		log.Info("OAuth provider", attrs...)
	}
	return providers, nil
}

// newOAuthProvider builds one provider; the error names it and the
// variable to look at.
func newOAuthProvider(ctx context.Context, s oauthSpec, client *http.Client) (oauth.Provider, error) {
	switch s.Kind {
	case "github":
		return oauth.NewGitHub(oauth.GitHubConfig{
			Name: s.Name, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scopes: s.Scopes, HTTPClient: client,
		}), nil
	case "google", "oidc":
		cfg := oauth.OIDCConfig{
			Name: s.Name, Issuer: s.Issuer, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scopes: s.Scopes, HTTPClient: client,
		}
		dctx, cancel := context.WithTimeout(ctx, oauthDiscoveryTimeout)
		defer cancel()
		var p oauth.Provider
		var err error
		if s.Kind == "google" {
			p, err = oauth.NewGoogle(dctx, cfg)
		} else {
			p, err = oauth.NewOIDC(dctx, cfg)
		}
		if err != nil {
			issuer := s.Issuer
			if issuer == "" {
				issuer = oauth.GoogleIssuer
			}
			return nil, fmt.Errorf("serve: OAuth provider %q: OpenID Connect discovery of %s failed: %w", s.Name, issuer, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("serve: OAuth provider %q: unknown kind %q", s.Name, s.Kind) // parseOAuth admits no other
}

// newOAuthSeal returns the function that seals the providers' tokens
// before they are stored: AES-256-GCM under a key of their own. An empty
// token (no refresh token) stays empty.
func newOAuthSeal(secret string) (func([]byte) ([]byte, error), error) {
	aead, err := newAEAD(secret, oauthTokensInfo)
	if err != nil {
		return nil, err
	}
	return func(plain []byte) ([]byte, error) {
		if len(plain) == 0 {
			return nil, nil
		}
		return sealWith(aead, plain, nil), nil
	}, nil
}

// unsealOAuthToken is the inverse of the seal newOAuthSeal returns.
func unsealOAuthToken(secret string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	aead, err := newAEAD(secret, oauthTokensInfo)
	if err != nil {
		return nil, err
	}
	return openWith(aead, sealed, nil)
}
