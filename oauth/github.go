package oauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
)

// GitHubConfig configures GitHub as a provider.
type GitHubConfig struct {
	Name         string // default "github"
	ClientID     string
	ClientSecret string
	// Scopes requested when the flow names none; default read:user,
	// user:email (without user:email there is no e-mail).
	Scopes []string
	// Endpoints, default GitHub's: https://github.com/login/oauth/authorize,
	// https://github.com/login/oauth/access_token and
	// https://api.github.com. Set them for GitHub Enterprise Server or tests.
	AuthURL, TokenURL, APIURL string
	// HTTPClient makes every request to GitHub; default http.DefaultClient.
	HTTPClient *http.Client
}

// GitHub's endpoints.
const (
	GitHubAuthURL  = "https://github.com/login/oauth/authorize"
	GitHubTokenURL = "https://github.com/login/oauth/access_token" // #nosec G101 -- a public endpoint URL, not a credential
	GitHubAPIURL   = "https://api.github.com"
)

type githubProvider struct {
	name   string
	config oauth2.Config
	api    string
	client *http.Client
}

// NewGitHub returns GitHub as a provider. GitHub is OAuth 2.0, not OpenID
// Connect: it issues no ID token, so there is no nonce (AuthCodeURL ignores
// it) and nothing signed says who logged in. Exchange asks GitHub's REST API
// with the fresh access token instead: GET {APIURL}/user gives the account
// id (GitHub's numeric user id), GET {APIURL}/user/emails the e-mail, and
// only the address GitHub marks both primary and verified counts. Without
// one, Identity.Email is "" and EmailVerified false: the public e-mail of
// /user is never used, since GitHub does not say it is verified.
func NewGitHub(cfg GitHubConfig) Provider {
	p := &githubProvider{
		name: cfg.Name,
		config: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			// GitHub documents client_id and client_secret as form
			// parameters; one style means one request per code.
			Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
			Scopes:   cfg.Scopes,
		},
		api:    strings.TrimSuffix(cfg.APIURL, "/"),
		client: cfg.HTTPClient,
	}
	if p.name == "" {
		p.name = "github"
	}
	if len(p.config.Scopes) == 0 {
		p.config.Scopes = []string{"read:user", "user:email"}
	}
	if p.config.Endpoint.AuthURL == "" {
		p.config.Endpoint.AuthURL = GitHubAuthURL
	}
	if p.config.Endpoint.TokenURL == "" {
		p.config.Endpoint.TokenURL = GitHubTokenURL
	}
	if p.api == "" {
		p.api = GitHubAPIURL
	}
	return p
}

func (p *githubProvider) Name() string { return p.name }

func (p *githubProvider) AuthCodeURL(redirectURI, state, verifier, _ string, scopes []string) string {
	c := p.config
	c.RedirectURL = redirectURI
	if len(scopes) > 0 {
		c.Scopes = scopes
	}
	return c.AuthCodeURL(state, pkce(verifier)...)
}

// githubUser and githubEmail are the parts of GitHub's answers Exchange
// reads (https://docs.github.com/en/rest/users/users#get-the-authenticated-user,
// https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user).
type githubUser struct {
	ID int64 `json:"id"`
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

func (p *githubProvider) Exchange(ctx context.Context, redirectURI, code, verifier, _ string) (*Identity, error) {
	ctx = withClient(ctx, p.client)
	c := p.config
	c.RedirectURL = redirectURI
	tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, exchangeError(p.name, err)
	}
	var user githubUser
	if ok, err := p.get(ctx, tok.AccessToken, "/user", &user); err != nil {
		return nil, err
	} else if !ok || user.ID == 0 {
		return nil, gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: GET /user gave no user id", p.name)
	}
	id := &Identity{
		AccountID:    strconv.FormatInt(user.ID, 10),
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	}
	var emails []githubEmail
	// A 403 or 404 here means the token lacks the user:email scope: no
	// e-mail, not an error.
	if ok, err := p.get(ctx, tok.AccessToken, "/user/emails", &emails); err != nil {
		return nil, err
	} else if ok {
		for _, e := range emails {
			if e.Primary && e.Verified && e.Email != "" {
				id.Email, id.EmailVerified = e.Email, true
				break
			}
		}
	}
	return id, nil
}

// get fetches a GitHub API path with the user's token into v. It reports
// false, with no error, when GitHub answers 403 or 404; other failures are
// CodeBadGateway.
func (p *githubProvider) get(ctx context.Context, token, path string, v any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+path, nil)
	if err != nil {
		return false, gatehouse.Errorf(gatehouse.CodeInternal, "oauth: %s: GET %s: %w", p.name, path, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	client := p.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: GET %s: %w", p.name, path, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		return false, gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: GET %s: %s", p.name, path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return false, gatehouse.Errorf(gatehouse.CodeBadGateway, "oauth: %s: GET %s: %w", p.name, path, err)
	}
	return true, nil
}

// String is for %v of a provider in logs: its name, never its secret.
func (p *githubProvider) String() string { return "oauth.GitHub(" + p.name + ")" }
