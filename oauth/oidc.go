package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
)

// OIDCConfig configures an OpenID Connect provider.
type OIDCConfig struct {
	Name         string // default "oidc" ("google" for NewGoogle)
	Issuer       string // discovery at Issuer + "/.well-known/openid-configuration"
	ClientID     string
	ClientSecret string
	// Scopes requested when the flow names none; default openid, email,
	// profile. "openid" is always requested.
	Scopes []string
	// HTTPClient makes every request to the provider (discovery, token,
	// JWKS, userinfo); default http.DefaultClient. Keep TLS verification on.
	HTTPClient *http.Client
}

type oidcProvider struct {
	name     string
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	config   oauth2.Config
	client   *http.Client
}

// NewOIDC returns the OpenID Connect provider at cfg.Issuer. It fetches the
// issuer's discovery document, so it fails when the issuer cannot be
// reached or its document names another issuer.
//
// ID tokens are verified by go-oidc: signed with an algorithm the issuer
// advertises (RS256 when it advertises none) by a key of its JWKS, iss is
// the issuer, aud holds the client id, exp is in the future; and
// Exchange checks the nonce and, when present, at_hash. The e-mail and
// email_verified come from the ID token, or from the userinfo endpoint when
// the ID token has no e-mail.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (Provider, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oauth: OIDCConfig has no Issuer")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oauth: OIDCConfig has no ClientID")
	}
	name := cfg.Name
	if name == "" {
		name = "oidc"
	}
	ctx = withClient(ctx, cfg.HTTPClient)
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s: discovery: %w", name, err)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	return &oidcProvider{
		name:     name,
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		config: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     p.Endpoint(),
			Scopes:       withOpenID(scopes),
		},
		client: cfg.HTTPClient,
	}, nil
}

// GoogleIssuer is Google's OpenID Connect issuer.
const GoogleIssuer = "https://accounts.google.com"

// NewGoogle returns Google as an OpenID Connect provider: NewOIDC with
// Issuer GoogleIssuer (when cfg.Issuer is "") and Name "google" (when
// cfg.Name is "").
func NewGoogle(ctx context.Context, cfg OIDCConfig) (Provider, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = GoogleIssuer
	}
	if cfg.Name == "" {
		cfg.Name = "google"
	}
	return NewOIDC(ctx, cfg)
}

func (p *oidcProvider) Name() string { return p.name }

func (p *oidcProvider) AuthCodeURL(redirectURI, state, verifier, nonce string, scopes []string) string {
	c := p.config
	c.RedirectURL = redirectURI
	if len(scopes) > 0 {
		c.Scopes = withOpenID(scopes)
	}
	opts := pkce(verifier)
	if nonce != "" {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return c.AuthCodeURL(state, opts...)
}

// idClaims are the e-mail claims of an ID token.
type idClaims struct {
	Email         string       `json:"email"`
	EmailVerified stringAsBool `json:"email_verified"`
}

func (p *oidcProvider) Exchange(ctx context.Context, redirectURI, code, verifier, nonce string) (*Identity, error) {
	ctx = withClient(ctx, p.client)
	c := p.config
	c.RedirectURL = redirectURI
	tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, exchangeError(p.name, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: the token response has no id_token", p.name)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, verifyError(p.name, err)
	}
	if idt.Subject == "" {
		return nil, gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: %s: the ID token has no sub", p.name)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: %s: the ID token's nonce does not match", p.name)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: %s: the ID token's at_hash does not match", p.name)
		}
	}
	var claims idClaims
	if err := idt.Claims(&claims); err != nil {
		return nil, gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: %s: ID token claims: %w", p.name, err)
	}
	if claims.Email == "" && p.provider.UserInfoEndpoint() != "" {
		// OIDC Core §5.4: with the email scope the claims may be
		// returned only by the userinfo endpoint.
		ui, err := p.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: userinfo: %w", p.name, err)
		}
		// OIDC Core §5.3.2: the userinfo sub must be the ID token's.
		if ui.Subject == idt.Subject {
			claims.Email, claims.EmailVerified = ui.Email, stringAsBool(ui.EmailVerified)
		}
	}
	return &Identity{
		AccountID:     idt.Subject,
		Email:         claims.Email,
		EmailVerified: claims.Email != "" && bool(claims.EmailVerified),
		AccessToken:   tok.AccessToken,
		RefreshToken:  tok.RefreshToken,
		Expiry:        tok.Expiry,
	}, nil
}

// withOpenID returns scopes with "openid" first, added when missing.
func withOpenID(scopes []string) []string {
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		return slices.Clone(scopes)
	}
	return append([]string{oidc.ScopeOpenID}, scopes...)
}

// pkce returns the PKCE parameters of verifier (RFC 7636 §4.3).
func pkce(verifier string) []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("code_challenge", s256(verifier)),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}
}

// withClient makes c the client of oauth2 and go-oidc requests under ctx.
func withClient(ctx context.Context, c *http.Client) context.Context {
	if c == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// exchangeError maps a failed token request: the provider refusing the
// grant (a 4xx answer, or an error code in a 2xx one) is CodeBadRequest;
// anything else (unreachable, 5xx, an unreadable answer) CodeBadGateway.
// Only the status and the protocol error code are kept: never the body.
func exchangeError(name string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if (status >= 400 && status < 500) || (status >= 200 && status < 300 && re.ErrorCode != "") {
			return gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: %s: the provider refused the grant: %d %q", name, status, re.ErrorCode)
		}
		return gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: token endpoint answered %d %q", name, status, re.ErrorCode)
	}
	return gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: token request: %w", name, err)
}

// verifyError maps a failed ID token verification to CodeBadRequest. (go-oidc
// flattens a failure to fetch the issuer's keys into the same kind of error.)
func verifyError(name string, err error) error {
	return gatehouse.Errorf(gatehouse.CodeBadRequest, "oauth: %s: ID token: %w", name, err)
}

// stringAsBool reads a JSON boolean that some providers send as a string
// ("true").
type stringAsBool bool

func (b *stringAsBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = stringAsBool(v)
	case string:
		*b = v == "true"
	case nil:
		*b = false
	default:
		return fmt.Errorf("email_verified: %v is not a boolean", v)
	}
	return nil
}

// String is for %v of a provider in logs: its name, never its secret.
func (p *oidcProvider) String() string { return "oauth.OIDC(" + p.name + ")" }
