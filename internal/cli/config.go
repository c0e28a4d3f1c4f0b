package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
	"github.com/gatehouse/gatehouse/clientip"
	"github.com/gatehouse/gatehouse/cookie"
	"github.com/gatehouse/gatehouse/mail"
)

// config is the server's configuration after flags, environment and
// defaults were resolved and checked.
type config struct {
	Addr           string
	DB             dbURL
	RedisURL       string // "" when not configured
	RedisPrefix    string
	Secret         string // "" when not configured
	Backends       []backendSpec
	APIKeyQuery    bool // the apikey backend also reads ?api_key=
	JWTAlgorithm   string
	JWTIssuer      string
	AccessTokenTTL time.Duration

	// Sessions: refresh tokens are on when both lifetimes are positive.
	RefreshIdleTTL               time.Duration
	RefreshAbsoluteTTL           time.Duration
	RefreshGrace                 time.Duration
	KeepSessionsOnPasswordChange bool

	RequireVerification bool
	PasswordMinLength   int
	// Cookie is what every cookie backend shares, checked by cookie.New
	// when the settings are read; each backend scopes its refresh cookie
	// to its own routes (newTransport).
	Cookie         cookie.Config
	cookieMaxAge   *time.Duration // nil: the access token lifetime
	TrustedOrigins []string
	PublicURL      string // "" means http:// + the listen address; for links in mails
	LogLevel       slog.Level
	LogFormat      string
	Metrics        bool     // GET /metrics
	MFA            bool     // second factors at /users/me/mfa
	PasskeyRPID    string   // "" means the public URL's host
	PasskeyOrigins []string // nil means the public URL's origin
	RateLimit      bool
	TrustedProxies []netip.Prefix
	AuditRetention time.Duration // 0: keep forever
	CacheTTL       time.Duration // 0: no in-process caches
	PprofAddr      string        // "" when profiling is off
	TLSCert        string        // "" when serving plain HTTP
	TLSKey         string

	// Account flows: e-mail verification and password reset.
	VerifyTokenTTL time.Duration
	ResetTokenTTL  time.Duration
	SMTPURL        string     // "" when not configured; may hold a password
	SMTP           *mail.SMTP // built from SMTPURL and MailFrom by the cross checks
	MailDir        string     // "" when not configured
	MailFrom       string     // resolved: never "" after the cross checks
	MailTemplates  *mail.Templates
	WebhookURL     string // "" when not configured; may hold a token
	WebhookSecret  string
	UserFields     []gatehouse.Field
	// Policies answer POST /authorize, compiled from PoliciesFile when
	// the settings are read; nil without --policies.
	Policies     authz.CELPolicies
	PoliciesFile string
	// ForwardPolicies decide GET /auth/forward; nil: any active user.
	ForwardPolicies     authz.CELPolicies
	ForwardPoliciesFile string

	// OAuth are the identity providers of the GATEHOUSE_OAUTH_<NAME>_*
	// variables (oauthconfig.go), sorted by name; read by serve only.
	OAuth []oauthSpec
}

// A setting is one row of the configuration table: a flag, its environment
// variable and its default. Flag wins over environment, environment over
// default; an empty environment variable counts as unset.
type setting struct {
	flag   string // without dashes
	env    string
	def    string // used when neither flag nor environment is set
	defDoc string // default as help shows it, when def alone does not say it
	arg    string // placeholder in help; "" for booleans
	usage  string
	// parse stores v in c; v is "" only when the setting has no default and
	// is unset. Errors must not quote the value of a setting that may hold
	// a secret (the secret, a database URL).
	parse func(c *config, v string) error
}

func (s *setting) isBool() bool { return s.arg == "" }

// settings is the configuration table, in the order help shows it.
var settings = []*setting{
	{
		flag: "addr", env: "GATEHOUSE_ADDR", def: "127.0.0.1:8000", arg: "HOST:PORT",
		usage: "address to listen on (port 0 picks a free port)",
		parse: func(c *config, v string) error {
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				return err
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				return fmt.Errorf("bad port %q", port)
			}
			c.Addr = v
			return nil
		},
	},
	{
		flag: "database-url", env: "GATEHOUSE_DATABASE_URL", def: "sqlite://gatehouse.db", arg: "URL",
		usage: "sqlite://FILE (relative to the working directory), sqlite:///ABS/PATH.db, or postgres://user@host:port/db?sslmode=disable",
		parse: func(c *config, v string) (err error) {
			c.DB, err = parseDatabaseURL(v)
			return err
		},
	},
	{
		flag: "redis-url", env: "GATEHOUSE_REDIS_URL", arg: "URL", defDoc: "none",
		usage: "Redis: redis://[:password@]host:port/db, rediss:// (TLS), unix://, redis-sentinel://, redis-cluster://; " +
			"when set, JWT revocations are kept there instead of the database, and the redis strategy can be used",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			// Only the scheme is checked here; redis.Open reads the rest
			// at start. The URL may hold a password, so errors never
			// quote it.
			scheme, _, _ := strings.Cut(v, "://")
			if !slices.Contains(redisSchemes, scheme) || scheme == v {
				return fmt.Errorf("want a URL of scheme %s", strings.Join(redisSchemes, ", "))
			}
			c.RedisURL = v
			return nil
		},
	},
	{
		flag: "redis-prefix", env: "GATEHOUSE_REDIS_PREFIX", def: "gatehouse:", arg: "PREFIX",
		usage: "prefix of every Redis key the server writes, so that several servers or tests can share one Redis database",
		parse: func(c *config, v string) error {
			if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return errors.New("must not contain spaces or control characters")
			}
			c.RedisPrefix = v
			return nil
		},
	},
	{
		flag: "secret", env: "GATEHOUSE_SECRET", arg: "SECRET",
		defDoc: "generated into <database file>.secret (SQLite only)",
		usage:  "signing secret, at least 32 bytes; prefer the environment variable over the flag",
		parse: func(c *config, v string) error {
			if v != "" && len(v) < minSecretLen {
				return fmt.Errorf("must be at least %d bytes, has %d", minSecretLen, len(v))
			}
			c.Secret = v
			return nil
		},
	},
	{
		flag: "backends", env: "GATEHOUSE_BACKENDS", def: defaultBackends, arg: "LIST",
		usage: "auth backends, comma list of NAME=TRANSPORT+STRATEGY, tried in order; transports: " +
			strings.Join(supportedTransports, ", ") + "; strategies: " + strings.Join(supportedStrategies, ", ") +
			"; the API key backend (X-API-Key header) is always tried last, under the reserved name " + apiKeyBackend,
		parse: func(c *config, v string) (err error) {
			c.Backends, err = parseBackends(v)
			return err
		},
	},
	{
		flag: "api-key-query", env: "GATEHOUSE_API_KEY_QUERY", def: "false",
		usage: "also accept API keys in the api_key query parameter (the X-API-Key header always works); " +
			"keys in URLs end up in logs and browser history, so leave it off unless a client cannot send headers",
		parse: func(c *config, v string) (err error) {
			c.APIKeyQuery, err = strconv.ParseBool(v)
			return err
		},
	},
	{
		flag: "jwt-algorithm", env: "GATEHOUSE_JWT_ALGORITHM", def: "HS256", arg: "ALG",
		usage: "access token signing algorithm: HS256 (with the secret), EdDSA, ES256 or RS256 (key pairs kept in the database)",
		parse: func(c *config, v string) error {
			switch v {
			case "HS256", "EdDSA", "ES256", "RS256":
				c.JWTAlgorithm = v
				return nil
			}
			return fmt.Errorf("unknown algorithm %q; supported: HS256, EdDSA, ES256, RS256", v)
		},
	},
	{
		flag: "jwt-issuer", env: "GATEHOUSE_JWT_ISSUER", def: "gatehouse", arg: "ISS",
		usage: "the iss claim of access tokens",
		parse: func(c *config, v string) error {
			c.JWTIssuer = v
			return nil
		},
	},
	{
		flag: "access-token-ttl", env: "GATEHOUSE_ACCESS_TOKEN_TTL", def: "15m", arg: "DURATION",
		usage: "access token lifetime (Go duration)",
		parse: func(c *config, v string) (err error) {
			c.AccessTokenTTL, err = parsePositiveDuration(v)
			return err
		},
	},
	{
		flag: "refresh-idle-ttl", env: "GATEHOUSE_REFRESH_IDLE_TTL", def: "336h", arg: "DURATION",
		usage: "a refresh token unused this long expires, and its session with it (Go duration); " +
			"0 turns refresh tokens and sessions off",
		parse: func(c *config, v string) (err error) {
			c.RefreshIdleTTL, err = parseNonNegativeDuration(v)
			return err
		},
	},
	{
		flag: "refresh-absolute-ttl", env: "GATEHOUSE_REFRESH_ABSOLUTE_TTL", def: "2160h", arg: "DURATION",
		usage: "a session ends this long after its login, however often it is refreshed (Go duration); " +
			"0 turns refresh tokens and sessions off",
		parse: func(c *config, v string) (err error) {
			c.RefreshAbsoluteTTL, err = parseNonNegativeDuration(v)
			return err
		},
	},
	{
		flag: "refresh-grace", env: "GATEHOUSE_REFRESH_GRACE", def: "10s", arg: "DURATION",
		usage: "how long a refresh token already traded may be presented again and get the same successor " +
			"(two tabs refreshing at once); 0: any second use ends the session",
		parse: func(c *config, v string) (err error) {
			c.RefreshGrace, err = parseNonNegativeDuration(v)
			return err
		},
	},
	{
		flag: "keep-sessions-on-password-change", env: "GATEHOUSE_KEEP_SESSIONS_ON_PASSWORD_CHANGE", def: "false",
		usage: "keep a user's other sessions alive when their password changes or is reset (by default they end)",
		parse: func(c *config, v string) (err error) {
			c.KeepSessionsOnPasswordChange, err = strconv.ParseBool(v)
			return err
		},
	},
	{
		flag: "require-verification", env: "GATEHOUSE_REQUIRE_VERIFICATION", def: "false",
		usage: "require a verified e-mail to log in",
		parse: func(c *config, v string) (err error) {
			c.RequireVerification, err = strconv.ParseBool(v)
			return err
		},
	},
	{
		flag: "password-min-length", env: "GATEHOUSE_PASSWORD_MIN_LENGTH", def: "8", arg: "N",
		usage: "minimum password length in characters",
		parse: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("not a number: %q", v)
			}
			if n < 1 || n > 1024 {
				return fmt.Errorf("must be between 1 and 1024, got %d", n)
			}
			c.PasswordMinLength = n
			return nil
		},
	},
	{
		flag: "cookie-secure", env: "GATEHOUSE_COOKIE_SECURE", def: "true",
		usage: "give the auth cookie the Secure attribute, so browsers send it over HTTPS only; --cookie-secure=false is for plain-HTTP development",
		parse: func(c *config, v string) error {
			secure, err := strconv.ParseBool(v)
			c.Cookie.InsecureNoSecure = !secure
			return err
		},
	},
	{
		flag: "cookie-name", env: "GATEHOUSE_COOKIE_NAME", def: "gatehouse_auth", arg: "NAME",
		usage: "name of the auth cookie; a __Host- prefix pins it to this host (no --cookie-domain, --cookie-path /)",
		parse: func(c *config, v string) error {
			if _, err := cookie.New(cookie.Config{Name: v}); err != nil {
				return err
			}
			c.Cookie.Name = v
			return nil
		},
	},
	{
		flag: "cookie-domain", env: "GATEHOUSE_COOKIE_DOMAIN", arg: "DOMAIN", defDoc: "none (this host only)",
		usage: "Domain attribute of the auth cookie, which sends it to subdomains too",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			if _, err := cookie.New(cookie.Config{Domain: v}); err != nil {
				return err
			}
			c.Cookie.Domain = v
			return nil
		},
	},
	{
		flag: "cookie-path", env: "GATEHOUSE_COOKIE_PATH", def: "/", arg: "PATH",
		usage: "Path attribute of the auth cookie",
		parse: func(c *config, v string) error {
			if _, err := cookie.New(cookie.Config{Path: v}); err != nil {
				return err
			}
			c.Cookie.Path = v
			return nil
		},
	},
	{
		flag: "cookie-samesite", env: "GATEHOUSE_COOKIE_SAMESITE", def: "lax", arg: "MODE",
		usage: "SameSite attribute of the auth cookie: lax, strict or none (none needs --cookie-secure)",
		parse: func(c *config, v string) error {
			switch v {
			case "lax":
				c.Cookie.SameSite = http.SameSiteLaxMode
			case "strict":
				c.Cookie.SameSite = http.SameSiteStrictMode
			case "none":
				c.Cookie.SameSite = http.SameSiteNoneMode
			default:
				return fmt.Errorf("want lax, strict or none, got %q", v)
			}
			return nil
		},
	},
	{
		flag: "cookie-max-age", env: "GATEHOUSE_COOKIE_MAX_AGE", arg: "DURATION", defDoc: "the access token lifetime",
		usage: "how long browsers keep the auth cookie (Go duration, at most 400 days); 0 makes it a session cookie",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			d, err := time.ParseDuration(v)
			switch {
			case err != nil:
				return err
			case d < 0:
				return fmt.Errorf("must not be negative, got %s", v)
			}
			c.cookieMaxAge = &d
			return nil
		},
	},
	{
		flag: "trusted-origins", env: "GATEHOUSE_TRUSTED_ORIGINS", arg: "LIST", defDoc: "none",
		usage: "comma list of origins (scheme://host[:port]) whose cross-origin requests may use the auth cookie, " +
			"such as a front end served from another host",
		parse: func(c *config, v string) (err error) {
			c.TrustedOrigins, err = parseOrigins(v)
			return err
		},
	},
	{
		flag: "public-url", env: "GATEHOUSE_PUBLIC_URL", arg: "URL", defDoc: "http:// + the listen address",
		usage: "base URL users reach the server at: the links in mails start with it (never with a request's Host header), " +
			"and the pages the links open call the API under its path (for a reverse proxy that mounts the server there)",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			u, err := url.Parse(v)
			if err != nil {
				return errors.New("not a URL")
			}
			switch {
			case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
				return fmt.Errorf("want an absolute http or https URL, got %q", v)
			case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
				return fmt.Errorf("want scheme://host[:port][/path], without user, query or fragment, got %q", v)
			}
			// The path, if any, is where a reverse proxy mounts the
			// server: the pages post to the API under it.
			if p := strings.TrimSuffix(u.EscapedPath(), "/"); p != "" && path.Clean(p) != p {
				return fmt.Errorf("the path %q is not clean (no //, . or .. segments)", u.EscapedPath())
			}
			c.PublicURL = strings.TrimSuffix(v, "/")
			return nil
		},
	},
	{
		flag: "verify-token-ttl", env: "GATEHOUSE_VERIFY_TOKEN_TTL", def: "1h", arg: "DURATION",
		usage: "lifetime of e-mail verification tokens (Go duration)",
		parse: func(c *config, v string) (err error) {
			c.VerifyTokenTTL, err = parsePositiveDuration(v)
			return err
		},
	},
	{
		flag: "reset-token-ttl", env: "GATEHOUSE_RESET_TOKEN_TTL", def: "1h", arg: "DURATION",
		usage: "lifetime of password reset tokens (Go duration)",
		parse: func(c *config, v string) (err error) {
			c.ResetTokenTTL, err = parsePositiveDuration(v)
			return err
		},
	},
	{
		flag: "smtp-url", env: "GATEHOUSE_SMTP_URL", arg: "URL", defDoc: "none (mails are logged, unless --mail-dir)",
		usage: "send mails through this server: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (TLS); " +
			"prefer the environment variable, as the URL holds a password",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			// The URL may hold a password: errors never quote it.
			u, err := url.Parse(v)
			switch {
			case err != nil:
				return errors.New("not a URL")
			case u.Scheme != "smtp" && u.Scheme != "smtps":
				return errors.New("want smtp://[user:pass@]host[:port] or smtps://[user:pass@]host[:port]")
			case u.Hostname() == "" || u.Opaque != "":
				return errors.New("the URL has no host")
			}
			c.SMTPURL = v
			return nil
		},
	},
	{
		flag: "mail-dir", env: "GATEHOUSE_MAIL_DIR", arg: "DIR", defDoc: "none",
		usage: "write each mail as one RFC 5322 .eml file into this directory instead of sending it (development, tests)",
		parse: func(c *config, v string) error {
			if strings.ContainsRune(v, 0) {
				return errors.New("a directory name cannot contain NUL")
			}
			c.MailDir = v
			return nil
		},
	},
	{
		flag: "mail-from", env: "GATEHOUSE_MAIL_FROM", arg: "ADDRESS", defDoc: "Gatehouse <noreply@HOST>, HOST being the public URL's host",
		usage: "sender of the mails, an address such as \"Example <noreply@example.com>\"",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			if err := checkMailAddress(v); err != nil {
				return err
			}
			c.MailFrom = v
			return nil
		},
	},
	{
		flag: "mail-templates", env: "GATEHOUSE_MAIL_TEMPLATES", arg: "DIR", defDoc: "the built-in templates",
		usage: "directory of mail templates; verify.txt, verify.html, reset.txt and reset.html found there replace the built-in ones",
		parse: func(c *config, v string) (err error) {
			// Every template is parsed and tried now, so a broken one
			// stops the server at start rather than fail the first mail.
			c.MailTemplates, err = mail.LoadTemplates(v)
			return err
		},
	},
	{
		flag: "webhook-url", env: "GATEHOUSE_WEBHOOK_URL", arg: "URL", defDoc: "none",
		usage: "POST every account event (registered, logged in, updated, verified, password reset, deleted...) as signed JSON to this URL " +
			"(https, or http to localhost); needs --webhook-secret",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			// The URL may hold a token: errors never quote it.
			u, err := url.Parse(v)
			switch {
			case err != nil:
				return errors.New("not a URL")
			case u.Scheme != "http" && u.Scheme != "https":
				return errors.New("want an absolute https:// URL")
			case u.Hostname() == "" || u.Opaque != "":
				return errors.New("the URL has no host")
			case u.Fragment != "":
				return errors.New("a webhook URL has no fragment")
			case u.Scheme == "http" && !isLoopback(u.Hostname()):
				// The bodies hold e-mail addresses.
				return errors.New("want https://; http:// is only allowed to localhost, 127.0.0.1 or ::1")
			}
			c.WebhookURL = v
			return nil
		},
	},
	{
		flag: "webhook-secret", env: "GATEHOUSE_WEBHOOK_SECRET", arg: "SECRET", defDoc: "none",
		usage: fmt.Sprintf("key of the webhook signatures (HMAC-SHA256), at least %d bytes, shared with the receiver; prefer the environment variable", minSecretLen),
		parse: func(c *config, v string) error {
			if v != "" && len(v) < minSecretLen {
				return fmt.Errorf("must be at least %d bytes, has %d", minSecretLen, len(v))
			}
			c.WebhookSecret = v
			return nil
		},
	},
	{
		flag: "user-fields", env: "GATEHOUSE_USER_FIELDS", arg: "LIST", defDoc: "none",
		usage: "custom user fields, comma list of NAME:TYPE or NAME:TYPE:required; types: " + fieldTypeNames() +
			" (time is RFC 3339); fields that are not required may be null",
		parse: func(c *config, v string) (err error) {
			c.UserFields, err = parseUserFields(v)
			return err
		},
	},
	{
		flag: "policies", env: "GATEHOUSE_POLICIES", arg: "FILE", defDoc: "none (POST /authorize denies everything)",
		usage: "file of CEL policies for POST /authorize, one per line as NAME: EXPRESSION (indented lines continue it; " +
			"# comments); a request is allowed when any policy allows it. Compiled at start: a bad policy stops the server",
		parse: func(c *config, v string) (err error) {
			if v == "" {
				return nil
			}
			c.Policies, err = loadPolicies(v)
			c.PoliciesFile = v
			return err
		},
	},
	{
		flag: "forward-auth-policies", env: "GATEHOUSE_FORWARD_AUTH_POLICIES", arg: "FILE",
		defDoc: "none (GET /auth/forward lets every active user through)",
		usage: "file of CEL policies, in the format of --policies, that GET /auth/forward asks with action \"forward\" and " +
			"resource {method, scheme, host, path, query}; a forwarded request passes when any policy allows it",
		parse: func(c *config, v string) (err error) {
			if v == "" {
				return nil
			}
			c.ForwardPolicies, err = loadPolicies(v)
			c.ForwardPoliciesFile = v
			return err
		},
	},
	{
		flag: "log-level", env: "GATEHOUSE_LOG_LEVEL", def: "info", arg: "LEVEL",
		usage: "debug, info, warn or error",
		parse: func(c *config, v string) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("want debug, info, warn or error, got %q", v)
			}
			return nil
		},
	},
	{
		flag: "log-format", env: "GATEHOUSE_LOG_FORMAT", def: "text", arg: "FORMAT",
		usage: "text or json",
		parse: func(c *config, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("want text or json, got %q", v)
			}
			c.LogFormat = v
			return nil
		},
	},
	{
		flag: "rate-limit", env: "GATEHOUSE_RATE_LIMIT", def: "on", arg: "on|off",
		usage: "throttle login, registration, verification, password reset, refresh and failed token or API-key attempts " +
			"per client address and per account (in Redis when --redis-url is set, shared by every instance; else in memory); " +
			"over the limit: 429 TOO_MANY_REQUESTS with Retry-After",
		parse: func(c *config, v string) error {
			switch strings.ToLower(v) {
			case "on", "true":
				c.RateLimit = true
			case "off", "false":
				c.RateLimit = false
			default:
				return fmt.Errorf("want on or off, got %q", v)
			}
			return nil
		},
	},
	{
		flag: "trusted-proxies", env: "GATEHOUSE_TRUSTED_PROXIES", arg: "LIST", defDoc: "none (the peer address is the client)",
		usage: "comma list of addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client; " +
			"from any other peer the header is ignored, so clients cannot pick the address they are throttled by",
		parse: func(c *config, v string) (err error) {
			if v == "" {
				return nil
			}
			c.TrustedProxies, err = clientip.ParsePrefixes(v)
			return err
		},
	},
	{
		flag: "audit-retention", env: "GATEHOUSE_AUDIT_RETENTION", def: "2160h", arg: "DURATION",
		usage: "how long security events stay in the audit log (GET /audit); older ones are pruned; 0 keeps them forever",
		parse: func(c *config, v string) (err error) {
			c.AuditRetention, err = parseNonNegativeDuration(v)
			return err
		},
	},
	{
		flag: "cache-ttl", env: "GATEHOUSE_CACHE_TTL", def: "10s", arg: "DURATION",
		usage: "how long an instance may answer from memory what the stores said about users, roles, sessions, tokens and revocations; " +
			"changes reach every instance at once through Redis or PostgreSQL, this bounds changes made behind their back; 0 turns the caches off",
		parse: func(c *config, v string) (err error) {
			c.CacheTTL, err = parseNonNegativeDuration(v)
			return err
		},
	},
	{
		flag: "mfa", env: "GATEHOUSE_MFA", def: "true",
		usage: "let users add second factors (an authenticator app, passkeys, with recovery codes) at /users/me/mfa, " +
			"and log in with a passkey alone; a login of a user who has one then takes it at POST /auth/NAME/mfa",
		parse: func(c *config, v string) (err error) {
			c.MFA, err = strconv.ParseBool(v)
			return err
		},
	},
	{
		flag: "passkey-rp-id", env: "GATEHOUSE_PASSKEY_RP_ID", arg: "DOMAIN", defDoc: "the public URL's host",
		usage: "the domain passkeys are bound to: the host of every origin that runs passkey ceremonies, or a parent domain " +
			"of them all (example.com for login.example.com); changing it orphans the passkeys made before",
		parse: func(c *config, v string) error {
			if strings.ContainsAny(v, "/:@ ") {
				return fmt.Errorf("want a domain such as example.com, got %q", v)
			}
			c.PasskeyRPID = strings.ToLower(v)
			return nil
		},
	},
	{
		flag: "passkey-origins", env: "GATEHOUSE_PASSKEY_ORIGINS", arg: "ORIGINS", defDoc: "the public URL's origin",
		usage: "comma-separated origins (scheme://host[:port]) whose pages run passkey ceremonies, each on the passkey RP ID",
		parse: func(c *config, v string) (err error) {
			c.PasskeyOrigins, err = parseOrigins(v)
			return err
		},
	},
	{
		flag: "metrics", env: "GATEHOUSE_METRICS", def: "true",
		usage: "serve Prometheus metrics at GET /metrics (requests by route and status, logins by outcome, " +
			"token verifications by backend, password hash durations, rate-limit rejections)",
		parse: func(c *config, v string) (err error) {
			c.Metrics, err = strconv.ParseBool(v)
			return err
		},
	},
	{
		flag: "pprof-addr", env: "GATEHOUSE_PPROF_ADDR", arg: "HOST:PORT", defDoc: "none (profiling off)",
		usage: "serve Go's net/http/pprof profiles on this separate address; keep it private (loopback or an internal network), " +
			"as profiles reveal the program's internals",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return err
			}
			c.PprofAddr = v
			return nil
		},
	},
	{
		flag: "tls-cert", env: "GATEHOUSE_TLS_CERT", arg: "FILE", defDoc: "none (plain HTTP)",
		usage: "serve HTTPS with this PEM certificate chain (needs --tls-key); pages then send Strict-Transport-Security",
		parse: func(c *config, v string) error { c.TLSCert = v; return nil },
	},
	{
		flag: "tls-key", env: "GATEHOUSE_TLS_KEY", arg: "FILE", defDoc: "none",
		usage: "the PEM private key of --tls-cert",
		parse: func(c *config, v string) error { c.TLSKey = v; return nil },
	},
}

func parseNonNegativeDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", v)
	}
	return d, nil
}

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", v)
	}
	return d, nil
}

// checkMailAddress accepts one address, with or without a display name,
// and nothing that could add a header line.
func checkMailAddress(v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return errors.New("must be one line")
	}
	if _, err := netmail.ParseAddress(v); err != nil {
		return fmt.Errorf("not an e-mail address such as \"Example <noreply@example.com>\": %q", v)
	}
	return nil
}

// defaultMailFrom is "Gatehouse <noreply@HOST>", HOST being the host of the
// public URL or, without one, of the listen address.
func defaultMailFrom(publicURL, addr string) string {
	var host string
	if u, err := url.Parse(publicURL); publicURL != "" && err == nil {
		host = u.Hostname()
	} else {
		host, _, _ = net.SplitHostPort(addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	} else if ip != nil && ip.To4() == nil {
		host = "[" + host + "]"
	}
	return "Gatehouse <noreply@" + host + ">"
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redisSchemes are the URL schemes redis.Open takes.
var redisSchemes = []string{"redis", "rediss", "unix", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"}

// minSecretLen is the least number of bytes a signing secret has: an HS256
// key needs 256 bits.
const minSecretLen = 32

func lookupSetting(name string) *setting {
	for _, s := range settings {
		if s.flag == name {
			return s
		}
	}
	panic("cli: no setting " + name) // a programming error in the command table
}

// settingValue is a flag.Value that records whether the flag was given.
type settingValue struct {
	s     *setting
	value string
	set   bool
}

func (v *settingValue) String() string { return v.value }

func (v *settingValue) Set(s string) error {
	v.value, v.set = s, true
	return nil
}

func (v *settingValue) IsBoolFlag() bool { return v.s.isBool() }

// settingFlags defines the named settings on fs and returns a function that
// resolves them (after fs.Parse) into a config.
func settingFlags(fs *flag.FlagSet, names []string) func(getenv func(string) string) (*config, error) {
	var values []*settingValue
	for _, name := range names {
		v := &settingValue{s: lookupSetting(name)}
		fs.Var(v, name, v.s.usage)
		values = append(values, v)
	}
	return func(getenv func(string) string) (*config, error) {
		c := &config{}
		given := make(map[string]bool)
		for _, v := range values {
			raw, src := v.s.def, "default"
			if v.set {
				raw, src = v.value, "--"+v.s.flag
			} else if e := getenv(v.s.env); e != "" {
				raw, src = e, v.s.env
			}
			if err := v.s.parse(c, raw); err != nil {
				return nil, &settingError{s: v.s, src: src, err: err}
			}
			given[v.s.flag] = src != "default"
		}
		for _, x := range crossChecks {
			if !slices.ContainsFunc(x.needs, func(n string) bool { _, ok := given[n]; return !ok }) {
				if err := x.check(c, given); err != nil {
					return nil, err
				}
			}
		}
		return c, nil
	}
}

// crossChecks are the rules that involve several settings. Each runs when
// the command has all the settings it needs; its errors name them all.
var crossChecks = []struct {
	needs []string
	check func(c *config, given map[string]bool) error
}{
	{
		needs: []string{"tls-cert", "tls-key"},
		check: func(c *config, _ map[string]bool) error {
			if (c.TLSCert == "") != (c.TLSKey == "") {
				return fmt.Errorf("%s and %s go together: set both to serve HTTPS, or neither", describeSettings("tls-cert"), describeSettings("tls-key"))
			}
			return nil
		},
	},
	{
		needs: []string{"backends", "redis-url"},
		check: func(c *config, _ map[string]bool) error {
			if c.RedisURL != "" {
				return nil
			}
			for _, b := range c.Backends {
				if b.Strategy == "redis" {
					return fmt.Errorf("backend %q of %s uses the redis strategy, which needs %s; set it or change the backends",
						b.Name, describeSettings("backends"), describeSettings("redis-url"))
				}
			}
			return nil
		},
	},
	{
		needs: cookieSettings,
		check: func(c *config, given map[string]bool) error {
			c.Cookie.MaxAge = c.AccessTokenTTL
			if c.cookieMaxAge != nil {
				c.Cookie.MaxAge = *c.cookieMaxAge
			}
			if _, err := cookie.New(c.Cookie); err != nil {
				// Each value passed alone; name those that were set, as
				// it is their combination that is refused.
				var set []string
				for _, name := range cookieSettings {
					if given[name] {
						set = append(set, name)
					}
				}
				if len(set) == 0 {
					set = cookieSettings
				}
				return fmt.Errorf("invalid cookie settings %s: %w", describeSettings(set...), err)
			}
			return nil
		},
	},
	{
		needs: []string{"refresh-idle-ttl", "refresh-absolute-ttl"},
		check: func(c *config, _ map[string]bool) error {
			if c.sessionsOn() && c.RefreshIdleTTL > c.RefreshAbsoluteTTL {
				return fmt.Errorf("%s (%s) is longer than %s (%s): a session cannot stay idle longer than it may live at all; "+
					"shorten the first or lengthen the second (0 in either turns refresh tokens off)",
					describeSettings("refresh-idle-ttl"), c.RefreshIdleTTL, describeSettings("refresh-absolute-ttl"), c.RefreshAbsoluteTTL)
			}
			return nil
		},
	},
	{
		needs: []string{"smtp-url", "mail-dir"},
		check: func(c *config, _ map[string]bool) error {
			if c.SMTPURL != "" && c.MailDir != "" {
				return fmt.Errorf("both %s are set; mails are either sent or written to a directory, so set one of them",
					describeSettings("smtp-url", "mail-dir"))
			}
			return nil
		},
	},
	{
		needs: []string{"passkey-rp-id", "passkey-origins", "public-url"},
		check: func(c *config, _ map[string]bool) error {
			origins := c.PasskeyOrigins
			if len(origins) == 0 && c.PublicURL != "" {
				origins = []string{c.PublicURL}
			}
			return checkPasskeyOrigins(c.PasskeyRPID, origins)
		},
	},
	{
		needs: []string{"mail-from", "public-url", "addr"},
		check: func(c *config, _ map[string]bool) error {
			if c.MailFrom == "" {
				c.MailFrom = defaultMailFrom(c.PublicURL, c.Addr)
			}
			return checkMailAddress(c.MailFrom)
		},
	},
	{
		needs: []string{"smtp-url", "mail-from"},
		check: func(c *config, _ map[string]bool) (err error) {
			if c.SMTPURL == "" {
				return nil
			}
			// NewSMTP checks what the settings did not (port, parameters,
			// credentials) and never quotes the URL.
			if c.SMTP, err = mail.NewSMTP(c.SMTPURL, c.MailFrom); err != nil {
				return fmt.Errorf("invalid %s: %w", describeSettings("smtp-url"), err)
			}
			return nil
		},
	},
	{
		needs: []string{"webhook-url", "webhook-secret"},
		check: func(c *config, _ map[string]bool) error {
			if (c.WebhookURL == "") != (c.WebhookSecret == "") {
				return fmt.Errorf("set both %s, or neither: every webhook is signed with the secret",
					describeSettings("webhook-url", "webhook-secret"))
			}
			return nil
		},
	},
}

// sessionsOn reports whether logins start sessions with refresh tokens:
// "0" for either lifetime turns them off.
func (c *config) sessionsOn() bool { return c.RefreshIdleTTL > 0 && c.RefreshAbsoluteTTL > 0 }

// cookieSettings are the settings that make up cookie.Config.
var cookieSettings = []string{"cookie-secure", "cookie-name", "cookie-domain", "cookie-path", "cookie-samesite", "cookie-max-age", "access-token-ttl"}

// describeSettings names settings for an error: "--a (GATEHOUSE_A) and --b
// (GATEHOUSE_B)".
func describeSettings(names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("--%s (%s)", n, lookupSetting(n).env)
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// parseOrigins parses --trusted-origins: a comma list of origins exactly as
// browsers send them in the Origin header, scheme://host[:port] in lower
// case, without a path and without the scheme's default port.
func parseOrigins(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var origins []string
	check := http.NewCrossOriginProtection()
	for i, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			return nil, fmt.Errorf("entry %d is empty", i+1)
		}
		u, err := url.Parse(o)
		if err != nil {
			return nil, fmt.Errorf("entry %d %q: want scheme://host[:port]", i+1, o)
		}
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, fmt.Errorf("origin %q: want an http:// or https:// origin", o)
		case u.Opaque != "" || u.Host == "" || u.User != nil:
			return nil, fmt.Errorf("origin %q: want scheme://host[:port]", o)
		case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "?#"):
			return nil, fmt.Errorf("origin %q: an origin has no path, query or fragment (not even a trailing /)", o)
		case o != strings.ToLower(o):
			return nil, fmt.Errorf("origin %q: write it in lower case, as browsers send it", o)
		case u.Port() == "" && strings.HasSuffix(u.Host, ":"),
			u.Scheme == "http" && u.Port() == "80", u.Scheme == "https" && u.Port() == "443":
			return nil, fmt.Errorf("origin %q: leave out the default port, as browsers do", o)
		}
		if err := check.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("origin %q: %v", o, err)
		}
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return origins, nil
}

// settingError names the setting whose value is bad.
type settingError struct {
	s   *setting
	src string // where the value came from: "--flag", "ENV" or "default"
	err error
}

func (e *settingError) Error() string {
	return fmt.Sprintf("invalid --%s (%s), from %s: %v", e.s.flag, e.s.env, e.src, e.err)
}

func (e *settingError) Unwrap() error { return e.err }

// printSettings writes the help rows of the named settings: flag,
// environment variable and default on one line, the meaning below.
func printSettings(w io.Writer, names []string) {
	type row struct{ left, env, def, usage string }
	var rows []row
	wLeft, wEnv := 0, 0
	for _, name := range names {
		s := lookupSetting(name)
		r := row{left: "--" + s.flag, env: s.env, def: s.defDoc, usage: s.usage}
		if !s.isBool() {
			r.left += " " + s.arg
		}
		if r.def == "" {
			r.def = s.def
		}
		wLeft, wEnv = max(wLeft, len(r.left)), max(wEnv, len(r.env))
		rows = append(rows, r)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %-*s  default: %s\n        %s\n", wLeft, r.left, wEnv, r.env, r.def, r.usage)
	}
}

// dbURL is a parsed --database-url.
type dbURL struct {
	Driver string // "sqlite" or "postgres"
	Path   string // SQLite file
	URL    string // PostgreSQL connection URL
}

// String returns the URL with any password hidden, fit for logs.
func (d dbURL) String() string {
	if d.Driver == "sqlite" {
		return "sqlite://" + d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "postgres://"
	}
	return u.Redacted()
}

func parseDatabaseURL(s string) (dbURL, error) {
	if rest, ok := strings.CutPrefix(s, "sqlite://"); ok {
		switch {
		case rest == "" || rest == "/" || strings.HasSuffix(rest, "/"):
			return dbURL{}, errors.New("sqlite:// needs a file name, as in sqlite://gatehouse.db or sqlite:///var/lib/gatehouse.db")
		case strings.ContainsAny(rest, "?#\x00"):
			return dbURL{}, errors.New("a SQLite file name cannot contain '?', '#' or NUL")
		}
		return dbURL{Driver: "sqlite", Path: rest}, nil
	}
	scheme, _, _ := strings.Cut(s, "://")
	if scheme == "postgres" || scheme == "postgresql" {
		u, err := url.Parse(s)
		if err != nil {
			return dbURL{}, errors.New("malformed PostgreSQL URL")
		}
		if u.Opaque != "" {
			return dbURL{}, errors.New("malformed PostgreSQL URL")
		}
		return dbURL{Driver: "postgres", URL: s}, nil
	}
	return dbURL{}, errors.New("want sqlite://FILE, sqlite:///ABS/PATH or postgres://user@host:port/db")
}
