// Package redis keeps Gatehouse's opaque access tokens, sessions with
// their refresh tokens, and token revocations in Redis, through
// github.com/redis/go-redis/v9: the "Redis strategy" of FastAPI Users,
// and sessions and a revocation list every server instance shares.
//
// Redis expires keys on its own, so nothing here needs sweeping. Tokens and
// revocations still carry their expiry in their value, and every read
// checks it against [DB.Now]: TTLs are set from the same clock (as a
// duration, not an instant), so tests can move time, and a key Redis has
// not evicted yet is never taken for a live one.
//
// Keys start with [DB.Prefix] and hold only token hashes and ids, never a
// token:
//
//	<prefix>token:<hash>        hash of the token record (TokenStore)
//	<prefix>user:<user id>      sorted set of the user's token hashes, scored by expiry
//	<prefix>revoked:<id>        revocation of a token id (Revocations)
//	<prefix>session:{<id>}...   a session and its refresh tokens, under one hash tag (SessionStore)
//	<prefix>refresh:<hash>      the session id of a refresh token (SessionStore)
//	<prefix>sessions:<user id>  sorted set of the user's session ids, scored by expiry (SessionStore)
//
// The client fails fast: unless the URL says otherwise, connecting times out
// after 2 s and reading or writing after 1 s, and a failed command is
// retried once. Every error that means Redis could not be reached (refused,
// timed out, reset, closed client, a replica that is loading or read-only)
// is a CodeUnavailable *gatehouse.Error, which a server answers with 503:
// a token store that cannot be asked fails closed.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
)

// defaultPrefix is the prefix of every key unless DB.Prefix is changed.
const defaultPrefix = "gatehouse:"

// Timeouts the client gets unless the URL sets its own (dial_timeout,
// read_timeout, write_timeout, max_retries). go-redis defaults to 5 s and
// 3 s and three retries, long enough for every request to hang while Redis
// is down; a store behind authentication should rather answer 503 at once.
const (
	defaultDialTimeout  = 2 * time.Second
	defaultReadTimeout  = time.Second
	defaultWriteTimeout = time.Second
	defaultMaxRetries   = 1
)

// DB is an open Redis client. Its stores ([NewTokenStore],
// [NewSessionStore], [NewRevocations]) share its connections, its clock and
// its prefix.
type DB struct {
	// Now is the clock behind every timestamp the stores write, every
	// expiry they check and every TTL they set. Open sets it to time.Now
	// (as does nil); tests replace it before using the stores.
	Now func() time.Time

	// Prefix starts every key, so several applications (or tests) can
	// share one Redis database. Open sets it to "gatehouse:"; change it
	// before using the stores.
	Prefix string

	client  goredis.UniversalClient
	cluster bool // keys of one operation may live on different nodes
}

// Open connects to the Redis server, Sentinel-managed master or Cluster
// named by rawURL, and checks that it answers. The URL forms are:
//
//	redis://[user:password@]host[:port][/db][?options]    one server (rediss:// for TLS)
//	unix://[user:password@]/path/to/redis.sock[?db=N&options]
//	redis-sentinel://[user:password@]host1[:port],host2[:port]/master[/db][?options]
//	redis-cluster://[user:password@]host1[:port],host2[:port][?options]
//
// rediss-sentinel:// and rediss-cluster:// use TLS, each node's certificate
// checked against its own host name. Ports default to 6379, and to 26379
// for sentinels. The user and password are the data nodes'; sentinels that
// require a password of their own take it from the options
// sentinel_username and sentinel_password. Other options are those of
// go-redis' ParseURL (dial_timeout, read_timeout, write_timeout,
// max_retries, pool_size, client_name, protocol, skip_verify, ...).
//
// Open fails with a CodeUnavailable error when the server cannot be
// reached, so a wrong URL is found at startup. Errors never quote the URL,
// which may hold a password.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	db := &DB{Now: time.Now, Prefix: defaultPrefix, cluster: cfg.mode == modeCluster}
	switch cfg.mode {
	case modeSingle:
		db.client = goredis.NewClient(cfg.single)
	case modeSentinel:
		db.client = goredis.NewFailoverClient(cfg.universal.Failover())
	case modeCluster:
		db.client = goredis.NewClusterClient(cfg.universal.Cluster())
	}
	if err := db.Ping(ctx); err != nil {
		_ = db.client.Close() // the ping error is the one to report
		return nil, err
	}
	return db, nil
}

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.client.Ping(ctx).Err(); err != nil {
		return db.fail(ctx, "ping", err)
	}
	return nil
}

// Close closes every connection. Stores made from db stop working: their
// calls fail with CodeUnavailable.
func (db *DB) Close() error {
	if err := db.client.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// now reads the clock once per operation, in UTC and truncated to the
// microseconds the SQL stores keep, so every store gives back the same
// values.
func (db *DB) now() time.Time {
	now := db.Now
	if now == nil {
		now = time.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// ttl is how long a key that dies at t must live from now. Redis counts in
// milliseconds; rounding up keeps the key at least until t. The result is
// not positive when t has passed.
func (db *DB) ttl(t time.Time) time.Duration {
	d := t.Sub(db.now())
	if d <= 0 {
		return d
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// fail turns a go-redis error into a Gatehouse error.
func (db *DB) fail(ctx context.Context, op string, err error) error {
	wrapped := fmt.Errorf("redis: %s: %w", op, err)
	switch {
	case errors.Is(err, goredis.Nil):
		return &gatehouse.Error{Code: gatehouse.CodeNotFound, Err: wrapped}
	case unavailable(err) || ctx.Err() != nil:
		return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: wrapped}
	}
	return wrapped
}

// unavailable reports whether err means Redis could not do the work now, as
// opposed to refusing the command. Server replies are told apart by their
// error code (the reply's first word), through go-redis' Is*Error helpers,
// never by message text.
func unavailable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, goredis.ErrPoolExhausted) ||
		goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) || goredis.IsMasterDownError(err) ||
		goredis.IsClusterDownError(err) || goredis.IsTryAgainError(err) || goredis.IsMaxClientsError(err)
}

// key builds a key under the DB's prefix.
func (db *DB) key(kind, id string) string { return db.Prefix + kind + ":" + id }

// mode is the kind of deployment a URL names.
type mode int

const (
	modeSingle   mode = iota // one server
	modeSentinel             // a master found through sentinels
	modeCluster              // a Redis Cluster
)

// config is a parsed URL: go-redis options for one server, or universal
// options (seed addresses and all) for a sentinel or cluster deployment.
type config struct {
	mode      mode
	single    *goredis.Options
	universal *goredis.UniversalOptions
}

// parseURL reads the URL forms Open documents. The sentinel and cluster
// forms list several hosts, which net/url cannot parse; they are split
// here, and the rest of the URL, rewritten as a redis:// URL of the first
// host, goes through go-redis' ParseURL, so every form takes the same
// options.
func parseURL(rawURL string) (*config, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("redis: open: URL must start with redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		if _, err := url.Parse(rawURL); err != nil {
			return nil, errors.New("redis: open: malformed URL") // url's errors quote the URL, password and all
		}
		o, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis: open: %w", err)
		}
		setDefaults(o)
		return &config{mode: modeSingle, single: o}, nil
	case "redis-sentinel", "rediss-sentinel":
		return parseMulti(modeSentinel, strings.TrimSuffix(scheme, "-sentinel"), rest, "26379")
	case "redis-cluster", "rediss-cluster":
		return parseMulti(modeCluster, strings.TrimSuffix(scheme, "-cluster"), rest, "6379")
	}
	return nil, fmt.Errorf("redis: open: unknown URL scheme %q", scheme)
}

// parseMulti parses what follows "scheme://" in a sentinel or cluster URL.
// base is "redis" or "rediss".
func parseMulti(m mode, base, rest, defaultPort string) (*config, error) {
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	var addrs []string
	for _, h := range strings.Split(authority, ",") {
		addr, err := hostPort(h, defaultPort)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}

	u, err := url.Parse(base + "://" + userinfo + addrs[0] + tail)
	if err != nil {
		return nil, errors.New("redis: open: malformed URL")
	}
	q := u.Query()
	var master string
	switch m {
	case modeSentinel:
		// The path is /master or /master/db.
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if parts[0] == "" || len(parts) > 2 {
			return nil, errors.New("redis: open: a sentinel URL needs the master's name as its path: redis-sentinel://host:26379,.../mymaster[/db]")
		}
		master = parts[0]
		u.Path = ""
		if len(parts) == 2 {
			u.Path = "/" + parts[1]
		}
	case modeCluster:
		if u.Path != "" && u.Path != "/" {
			return nil, errors.New("redis: open: a cluster URL has no path: a cluster has database 0 only")
		}
	}
	// Options of ours, which go-redis' ParseURL would reject.
	sentinelUser, sentinelPassword := q.Get("sentinel_username"), q.Get("sentinel_password")
	if m != modeSentinel && (q.Has("sentinel_username") || q.Has("sentinel_password")) {
		return nil, errors.New("redis: open: sentinel_username and sentinel_password are options of redis-sentinel:// URLs")
	}
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	u.RawQuery = q.Encode()

	o, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	if m == modeCluster && o.DB != 0 {
		return nil, errors.New("redis: open: a cluster has database 0 only")
	}
	setDefaults(o)
	if o.TLSConfig != nil {
		// ParseURL named the first host; with several nodes each must be
		// checked against its own name, which crypto/tls takes from the
		// address it dials when ServerName is empty.
		o.TLSConfig.ServerName = ""
	}
	uo := universal(o)
	uo.Addrs = addrs
	switch m {
	case modeSentinel:
		uo.MasterName = master
		uo.SentinelUsername, uo.SentinelPassword = sentinelUser, sentinelPassword
	case modeCluster:
		uo.IsClusterMode = true // even with a single seed address
	}
	return &config{mode: m, universal: uo}, nil
}

// hostPort checks one host of a host list and gives it a port if it has
// none.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("redis: open: empty host in the host list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port (or a bare IPv6 address, which must be bracketed).
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			return "", fmt.Errorf("redis: open: host %q: write IPv6 addresses in brackets", h)
		}
		host, port = strings.Trim(h, "[]"), defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return "", fmt.Errorf("redis: open: bad host %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// setDefaults gives o the timeouts Gatehouse wants where the URL set none
// (go-redis would pick its longer ones), and makes the client honour the
// deadlines of contexts.
func setDefaults(o *goredis.Options) {
	if o.DialTimeout == 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = defaultMaxRetries
	}
	// One dial attempt per command attempt: the command retry covers a
	// blip, and go-redis' own five dial attempts would multiply the time a
	// dead server takes to report.
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	o.ContextTimeoutEnabled = true
}

// universal copies the options ParseURL can set onto universal options.
func universal(o *goredis.Options) *goredis.UniversalOptions {
	return &goredis.UniversalOptions{
		ClientName:              o.ClientName,
		DB:                      o.DB,
		Protocol:                o.Protocol,
		Username:                o.Username,
		Password:                o.Password,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		DialerRetries:           o.DialerRetries,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		ContextTimeoutEnabled:   o.ContextTimeoutEnabled,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		PoolTimeout:             o.PoolTimeout,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		TLSConfig:               o.TLSConfig,
	}
}
