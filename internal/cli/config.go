package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the server's configuration after flags, environment and
// defaults were resolved and checked.
type config struct {
	Addr                string
	DB                  dbURL
	Secret              string // "" when not configured
	Backends            []backendSpec
	JWTAlgorithm        string
	JWTIssuer           string
	AccessTokenTTL      time.Duration
	RequireVerification bool
	PasswordMinLength   int
	PublicURL           string // "" means http:// + the listen address; for links in mails, which come later
	LogLevel            slog.Level
	LogFormat           string
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
			strings.Join(supportedTransports, ", ") + "; strategies: " + strings.Join(supportedStrategies, ", "),
		parse: func(c *config, v string) (err error) {
			c.Backends, err = parseBackends(v)
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
		parse: func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			if d <= 0 {
				return fmt.Errorf("must be positive, got %s", v)
			}
			c.AccessTokenTTL = d
			return nil
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
		flag: "public-url", env: "GATEHOUSE_PUBLIC_URL", arg: "URL", defDoc: "http:// + the listen address",
		usage: "public base URL, for links in mails",
		parse: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			u, err := url.Parse(v)
			if err != nil {
				return errors.New("not a URL")
			}
			if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("want an absolute http or https URL, got %q", v)
			}
			c.PublicURL = strings.TrimSuffix(v, "/")
			return nil
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
}

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
		}
		return c, nil
	}
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
