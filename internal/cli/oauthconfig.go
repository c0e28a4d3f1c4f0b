package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The OAuth providers are configured by environment variables only, one
// group per provider: GATEHOUSE_OAUTH_<NAME>_CLIENT_ID turns provider NAME
// on, and the other variables of the group configure it. A group is not a
// row of the settings table because its names are not known in advance.
const oauthEnvPrefix = "GATEHOUSE_OAUTH_"

// The suffixes of a provider's variables.
const (
	oauthClientID         = "_CLIENT_ID"
	oauthClientSecret     = "_CLIENT_SECRET"
	oauthIssuer           = "_ISSUER"
	oauthProvider         = "_PROVIDER"
	oauthScopes           = "_SCOPES"
	oauthAssociateByEmail = "_ASSOCIATE_BY_EMAIL"
	oauthBackend          = "_BACKEND"
	oauthReturnURLs       = "_RETURN_URLS"
)

// oauthVariables are the suffixes with their help text, in the order help
// shows them.
var oauthVariables = []struct{ suffix, usage string }{
	{oauthClientID, "client id registered at the provider; setting it turns the provider on"},
	{oauthClientSecret, "client secret (required)"},
	{oauthIssuer, "OpenID Connect issuer URL (https; discovered at start), or"},
	{oauthProvider, "github or google; exactly one of _ISSUER and _PROVIDER"},
	{oauthScopes, "comma or space list; default openid email profile, openid always added (github: read:user user:email)"},
	{oauthAssociateByEmail, "true: a login whose e-mail the provider says is verified links to the account of that e-mail; default false (refused)"},
	{oauthBackend, "backend whose login answer the callback gives; default the first of --backends"},
	{oauthReturnURLs, "comma list of URLs a browser flow (?redirect=true&return_to=URL) may return to; needs a cookie _BACKEND"},
}

// oauthKinds are the values of _PROVIDER; an _ISSUER makes the kind "oidc".
var oauthKinds = []string{"github", "google"}

// oauthSpec is one configured provider.
type oauthSpec struct {
	Name             string // lower-cased NAME: the path segment
	Kind             string // "oidc", "github" or "google"
	ClientID         string
	ClientSecret     string
	Issuer           string   // only for "oidc"
	Scopes           []string // nil: the provider's defaults
	AssociateByEmail bool
	Backend          string // never "": the first backend by default
	ReturnURLs       []string
}

// parseOAuth reads the GATEHOUSE_OAUTH_* variables. environ lists the
// environment as KEY=VALUE (os.Environ); values are read with getenv, and
// an empty value counts as unset, as for every setting. Errors name the
// variable and never quote a client secret.
func parseOAuth(getenv func(string) string, environ func() []string, backends []backendSpec) ([]oauthSpec, error) {
	if environ == nil {
		return nil, nil
	}
	// Group the variables by provider name, lower-cased.
	type group struct {
		prefix string            // GATEHOUSE_OAUTH_<NAME as written>
		vars   map[string]string // suffix -> variable name
	}
	groups := make(map[string]*group)
	var names []string
	for _, kv := range environ() {
		key, _, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(key, oauthEnvPrefix)
		if !ok || getenv(key) == "" {
			continue
		}
		suffix := ""
		for _, v := range oauthVariables {
			if strings.HasSuffix(rest, v.suffix) && len(v.suffix) > len(suffix) {
				suffix = v.suffix
			}
		}
		if suffix == "" || len(rest) == len(suffix) {
			return nil, fmt.Errorf("unknown variable %s: OAuth providers are configured by %s<NAME>_CLIENT_ID and the like (see 'gatehouse serve --help')",
				key, oauthEnvPrefix)
		}
		written := rest[:len(rest)-len(suffix)]
		name := strings.ToLower(written)
		g := groups[name]
		if g == nil {
			g = &group{prefix: oauthEnvPrefix + written, vars: make(map[string]string)}
			groups[name] = g
			names = append(names, name)
		}
		if other, dup := g.vars[suffix]; dup {
			a, b := min(other, key), max(other, key)
			return nil, fmt.Errorf("both %s and %s are set: provider names are lower-cased, so they name the same provider %q; unset one",
				a, b, name)
		}
		g.vars[suffix] = key
	}
	slices.Sort(names) // the environment's order is not the user's

	var specs []oauthSpec
	for _, name := range names {
		g := groups[name]
		get := func(suffix string) (variable, value string) {
			variable = g.vars[suffix]
			if variable == "" {
				return g.prefix + suffix, ""
			}
			return variable, getenv(variable)
		}
		idVar, id := get(oauthClientID)
		if id == "" {
			var set []string
			for _, v := range g.vars {
				set = append(set, v)
			}
			slices.Sort(set)
			return nil, fmt.Errorf("%s is set but %s is not: set it to turn the OAuth provider %q on, or unset what is set",
				strings.Join(set, ", "), idVar, name)
		}
		spec, err := parseOAuthProvider(name, id, get, backends)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// parseOAuthProvider checks the variables of one provider; get returns a
// variable's name and value ("" when unset).
func parseOAuthProvider(name, clientID string, get func(suffix string) (string, string), backends []backendSpec) (oauthSpec, error) {
	s := oauthSpec{Name: name, ClientID: clientID}
	idVar, _ := get(oauthClientID)
	if !validOAuthName(name) {
		return s, fmt.Errorf("%s: the provider name %q must start with a letter and have at most %d of a-z, 0-9, _ and - (NAME is lower-cased)",
			idVar, name, maxBackendName)
	}
	if name == "associate" {
		return s, fmt.Errorf("%s: the provider name %q is taken by the /auth/associate/NAME/… routes; pick another name", idVar, name)
	}
	if name == apiKeyBackend || slices.ContainsFunc(backends, func(b backendSpec) bool { return b.Name == name }) {
		return s, fmt.Errorf("%s: the provider name %q is the name of a backend (%s), and both are mounted under /auth/%s/; rename one",
			idVar, name, describeSettings("backends"), name)
	}
	if strings.ContainsFunc(clientID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s, fmt.Errorf("%s: a client id has no control characters", idVar)
	}

	secretVar, secret := get(oauthClientSecret)
	if secret == "" {
		return s, fmt.Errorf("%s is required for the OAuth provider %q (set with %s)", secretVar, name, idVar)
	}
	if strings.ContainsFunc(secret, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s, fmt.Errorf("%s: a client secret has no control characters", secretVar) // never quoted
	}
	s.ClientSecret = secret

	issuerVar, issuer := get(oauthIssuer)
	kindVar, kind := get(oauthProvider)
	switch {
	case issuer != "" && kind != "":
		return s, fmt.Errorf("both %s and %s are set; set exactly one: an OpenID Connect issuer, or %s",
			issuerVar, kindVar, strings.Join(oauthKinds, " or "))
	case issuer == "" && kind == "":
		return s, fmt.Errorf("the OAuth provider %q needs %s (an OpenID Connect issuer URL) or %s (%s)",
			name, issuerVar, kindVar, strings.Join(oauthKinds, " or "))
	case issuer != "":
		if err := checkIssuer(issuer); err != nil {
			return s, fmt.Errorf("invalid %s: %w", issuerVar, err)
		}
		s.Kind, s.Issuer = "oidc", issuer
	default:
		if !slices.Contains(oauthKinds, kind) {
			return s, fmt.Errorf("invalid %s: unknown provider %q; want %s, or set %s to an OpenID Connect issuer instead",
				kindVar, kind, strings.Join(oauthKinds, " or "), issuerVar)
		}
		s.Kind = kind
	}

	if scopesVar, v := get(oauthScopes); v != "" {
		scopes, err := parseScopes(v)
		if err != nil {
			return s, fmt.Errorf("invalid %s: %w", scopesVar, err)
		}
		s.Scopes = scopes
	}

	if v, raw := get(oauthAssociateByEmail); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return s, fmt.Errorf("invalid %s: want true or false, got %q", v, raw)
		}
		s.AssociateByEmail = b
	}

	backendVar, backend := get(oauthBackend)
	var bs backendSpec
	if backend == "" {
		if len(backends) == 0 {
			return s, fmt.Errorf("the OAuth provider %q needs a backend to log users in with; see %s", name, describeSettings("backends"))
		}
		bs = backends[0]
	} else {
		i := slices.IndexFunc(backends, func(b backendSpec) bool { return b.Name == backend })
		if i < 0 {
			var known []string
			for _, b := range backends {
				known = append(known, b.Name)
			}
			return s, fmt.Errorf("invalid %s: no backend %q in %s; want one of %s",
				backendVar, backend, describeSettings("backends"), strings.Join(known, ", "))
		}
		bs = backends[i]
	}
	s.Backend = bs.Name

	if urlsVar, v := get(oauthReturnURLs); v != "" {
		urls, err := parseReturnURLs(v)
		if err != nil {
			return s, fmt.Errorf("invalid %s: %w", urlsVar, err)
		}
		if bs.Transport != "cookie" {
			return s, fmt.Errorf("%s needs a cookie backend: a browser sent back to a return URL keeps only cookies, "+
				"but the backend %q of the OAuth provider %q answers logins with %s; set %s to a cookie backend",
				urlsVar, bs.Name, name, bs.Transport, backendVar)
		}
		s.ReturnURLs = urls
	}
	return s, nil
}

// validOAuthName accepts a provider name as a path segment: a letter, then
// a-z, 0-9, _ and -.
func validOAuthName(name string) bool {
	return validBackendName(name) && 'a' <= name[0] && name[0] <= 'z'
}

// checkIssuer accepts an absolute https URL (http only to this host, for
// development) without user, query or fragment: OpenID Connect discovery
// fetches ISSUER/.well-known/openid-configuration, and the issuer in the ID
// tokens must equal it exactly, so it is kept as written.
func checkIssuer(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("want an absolute https:// URL, got %q", v)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return fmt.Errorf("an issuer URL has no user, query or fragment, got %q", v)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("want https://; http:// is only allowed to localhost, 127.0.0.1 or ::1, got %q", v)
	}
	return nil
}

// parseScopes splits a comma or space list of scopes (RFC 6749 §3.3
// scope-tokens), dropping repeats.
func parseScopes(v string) ([]string, error) {
	var scopes []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, fmt.Errorf("scope %q: a scope is printable ASCII without quotes or backslashes", s)
			}
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		return nil, errors.New("no scopes; want a comma or space list, as in openid,email,profile")
	}
	return scopes, nil
}

// parseReturnURLs parses the comma list of URLs a browser flow may be sent
// back to: absolute https URLs (http only to this host) without user or
// fragment. The server compares return_to with them exactly.
func parseReturnURLs(v string) ([]string, error) {
	var urls []string
	for i, raw := range strings.Split(v, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return nil, fmt.Errorf("entry %d is empty", i+1)
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return nil, fmt.Errorf("entry %d %q: not a URL", i+1, raw)
		case u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "":
			return nil, fmt.Errorf("entry %d %q: want an absolute https:// URL", i+1, raw)
		case u.User != nil || u.Fragment != "" || strings.Contains(raw, "#"):
			return nil, fmt.Errorf("entry %d %q: a return URL has no user or fragment", i+1, raw)
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			return nil, fmt.Errorf("entry %d %q: want https://; http:// is only allowed to localhost, 127.0.0.1 or ::1", i+1, raw)
		}
		if !slices.Contains(urls, raw) {
			urls = append(urls, raw)
		}
	}
	return urls, nil
}

// printOAuthHelp documents the provider variables.
func printOAuthHelp(w io.Writer) {
	fmt.Fprint(w, `
OAuth providers (environment variables only, one group per provider; NAME,
lower-cased, names the provider in /auth/NAME/... and /auth/associate/NAME/...;
register PUBLIC_URL/auth/NAME/callback and PUBLIC_URL/auth/associate/NAME/callback
as redirect URIs at the provider):
`)
	width := 0
	for _, v := range oauthVariables {
		width = max(width, len(oauthEnvPrefix+"<NAME>"+v.suffix))
	}
	for _, v := range oauthVariables {
		fmt.Fprintf(w, "  %-*s  %s\n", width, oauthEnvPrefix+"<NAME>"+v.suffix, v.usage)
	}
}
