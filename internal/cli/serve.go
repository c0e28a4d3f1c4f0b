package cli

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/clientip"
	"github.com/gatehouse/gatehouse/cookie"
	"github.com/gatehouse/gatehouse/forwardauth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/opaque"
	"github.com/gatehouse/gatehouse/pages"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/swaggerui"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const (
	// serviceName names the server in the API reference, and passwords
	// equal to it are refused.
	serviceName = "Gatehouse"

	shutdownTimeout = 10 * time.Second
	sweepInterval   = 5 * time.Minute

	// refreshKeyInfo is the HKDF info string of the key that derives
	// refresh-token successors (gatehouse.Sessions.Key).
	refreshKeyInfo = "gatehouse refresh tokens v1"

	// pagesCSRFInfo is the HKDF info string of the key that signs the
	// account pages' CSRF tokens.
	pagesCSRFInfo = "gatehouse pages csrf v1"

	// maxCookieAge is the longest lifetime browsers keep a cookie.
	maxCookieAge = 400 * 24 * time.Hour
)

func newLogger(w io.Writer, c *config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve migrates the database, then serves the HTTP API until ctx ends.
func serve(ctx context.Context, c *config, cio cmdIO) error {
	log := newLogger(cio.stderr, c)
	if err := checkSecret(c, "serve"); err != nil {
		return err
	}

	db, err := openDatabase(ctx, c.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, name := range applied {
		log.Info("applied migration", "name", name)
	}

	secret, file, created, err := serverSecret(c)
	if err != nil {
		return err
	}
	if file != "" {
		log.Warn("using a signing secret kept next to the database; production should set GATEHOUSE_SECRET",
			"file", file, "generated", created)
	}

	var rdb *redis.DB
	if c.RedisURL != "" {
		if rdb, err = openRedis(ctx, c.RedisURL, c.RedisPrefix); err != nil {
			return err
		}
		defer rdb.Close() // after the server and the sweeper stopped
		log.Info("using Redis for JWT revocations and sessions", "url", redactURL(c.RedisURL), "prefix", c.RedisPrefix)
	}

	// A bad certificate must stop the start, not every handshake.
	var tlsConfig *tls.Config
	scheme := "http"
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("serve: TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}

	// Listen before building the handler: with port 0, the default public
	// URL needs the port picked.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close() // for the returns before Serve; Serve closes it too
	publicURL := c.PublicURL
	if publicURL == "" {
		publicURL = scheme + "://" + ln.Addr().String()
		log.Info("links in mails use the listen address; set GATEHOUSE_PUBLIC_URL to the URL users reach the server at",
			"public_url", publicURL)
	}

	hot := newHotStores(c, db, rdb, log)
	handler, hooks, keys, err := newHandler(ctx, c, cio.opts, db, hot, rdb, secret, publicURL, log)
	if err != nil {
		return err
	}
	// Mails and webhooks still queued are delivered at shutdown, within
	// what is left of its time; this deferred call only covers the early
	// returns.
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		_ = hooks.Close(ctx) // it logs what it drops
	}()
	if tlsConfig != nil {
		handler = strictTransportSecurity(handler)
	}
	srv := &http.Server{
		Handler:           httpapi.Recover(log)(handler),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sweepCtx, stopSweep := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		sweepers := map[string]sweeper{"revocations": db.Revocations, "access tokens": db.Tokens, "sessions": db.Sessions,
			"second steps of logins": db.MFA, "used nonces": db.Nonces}
		if c.AuditRetention > 0 {
			sweepers["audit events"] = auditPruner{db.Audit, c.AuditRetention, cio.opts.now}
		}
		sweep(sweepCtx, log, sweepers)
	})
	for _, cc := range hot.caches {
		wg.Go(func() { _ = cc.Run(sweepCtx) }) // it returns when sweepCtx ends
	}
	if c.JWTAlgorithm != "HS256" { // HS256 signs with the secret: nothing to reload
		wg.Go(func() { keys.run(sweepCtx, keyReloadInterval) })
	}
	defer wg.Wait()
	defer stopSweep()
	if cio.opts.KeyReloader != nil {
		cio.opts.KeyReloader(keys.Reload)
	}

	if c.PprofAddr != "" {
		stopProfiles, err := serveProfiles(c.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}

	served := make(chan error, 1)
	if tlsConfig != nil {
		go func() { served <- srv.Serve(tls.NewListener(ln, tlsConfig)) }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	log.Info("listening on " + scheme + "://" + ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close() // the Shutdown error is the one reported
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	<-served // http.ErrServerClosed
	// No request runs any more, so no hook queues anything new.
	if err := hooks.Close(shutdownCtx); err != nil {
		log.Warn("gave up delivering queued mails or webhooks at shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// openRedis connects to Redis; the URL is not quoted in errors, as it may
// hold a password.
func openRedis(ctx context.Context, rawURL, prefix string) (*redis.DB, error) {
	rdb, err := redis.Open(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("open Redis %s: %w", redactURL(rawURL), err)
	}
	rdb.Prefix = prefix
	return rdb, nil
}

// redactURL returns a Redis URL fit for logs: the password and the query
// (which may hold sentinel_password) are hidden. It does not use url.Parse,
// which refuses the host lists of Sentinel and Cluster URLs.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(not a URL)"
	}
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest = rest[:q] + "?..."
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	return scheme + "://" + rest
}

// newHandler wires the stores, hasher, strategies and transports into the
// HTTP API, and the account flows' hooks (mails, webhook) into the Manager.
// rdb is nil when no Redis is configured. The hooks must be closed, which
// delivers what they still queue; the key ring is the jwt strategy, for
// the caller to reload now and then.
func newHandler(ctx context.Context, c *config, opts options, db *database, hot *hotStores, rdb *redis.DB, secret, publicURL string,
	log *slog.Logger) (_ http.Handler, _ *accountHooks, _ *keyRing, err error) {
	flowTokens, err := flowSigner(secret)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	pub, err := url.Parse(publicURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %s: %w", describeSettings("public-url"), err)
	}
	// The routes' path as browsers see it, under a reverse proxy that
	// mounts the server at the public URL's path.
	pubPath := strings.TrimSuffix(pub.EscapedPath(), "/")
	// JWT revocations live in Redis when there is one: every instance
	// sees them at once, and they expire by themselves.
	keys, err := newKeyRing(ctx, c, db.Keys, secret, hot.Revocations, opts.now, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}

	// Strategies and the bearer transport are shared by the backends that
	// name them, and built only when some backend does. Each cookie backend
	// has a transport of its own, as its refresh cookie is scoped to its
	// own routes.
	bearerTransport := &bearer.Transport{}
	strategies := map[string]gatehouse.Strategy{"jwt": keys}
	var backends []gatehouse.Backend
	for _, b := range c.Backends {
		var t gatehouse.Transport = bearerTransport
		if b.Transport != "bearer" {
			if t, err = newTransport(b, c, pubPath); err != nil {
				return nil, nil, nil, fmt.Errorf("serve: backend %q: %w", b.Name, err)
			}
		}
		s, ok := strategies[b.Strategy]
		if !ok {
			if s, err = newStrategy(b.Strategy, c, hot); err != nil {
				return nil, nil, nil, fmt.Errorf("serve: backend %q: %w", b.Name, err)
			}
			strategies[b.Strategy] = s
		}
		backends = append(backends, gatehouse.Backend{Name: b.Name, Transport: t, Strategy: s})
	}
	// The API key backend comes last, so a request that also carries a
	// token is authenticated by the token, and its name is reserved.
	backends = append(backends, gatehouse.Backend{
		Name:      apiKeyBackend,
		Transport: apikey.Transport{AllowQuery: c.APIKeyQuery},
		Strategy:  apikey.Strategy{Store: hot.APIKeys},
	})
	if c.APIKeyQuery {
		log.Warn("API keys are also accepted in the api_key query parameter; URLs end up in logs, proxies and browser history, " +
			"so prefer the X-API-Key header and set GATEHOUSE_API_KEY_QUERY=false when every client sends it")
	}
	if c.Cookie.InsecureNoSecure && slices.ContainsFunc(c.Backends, func(b backendSpec) bool { return b.Transport == "cookie" }) {
		log.Warn("the auth cookie lacks the Secure attribute, so browsers send it over plain HTTP; " +
			"set GATEHOUSE_COOKIE_SECURE=true outside development")
	}
	auth, err := gatehouse.NewAuthenticator(hot.Users, backends...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	for _, o := range c.TrustedOrigins {
		// parseOrigins checked them already.
		if err := auth.CrossOriginProtection().AddTrustedOrigin(o); err != nil {
			return nil, nil, nil, fmt.Errorf("serve: %s: %w", describeSettings("trusted-origins"), err)
		}
	}
	var m *metrics.Metrics
	var reg *prometheus.Registry
	if c.Metrics {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m = metrics.New(reg)
		hot.register(reg)
		auth.SetObserver(m.ObserveToken)
	}
	if c.sessionsOn() {
		sessions, err := newSessions(c, hot, secret)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("serve: %w", err)
		}
		auth.SetSessions(sessions)
	}

	hooks, err := newAccountHooks(c, publicURL, log)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = hooks.Close(context.WithoutCancel(ctx)) // nothing is queued yet
		}
	}()
	manager := &gatehouse.Manager{
		Users:     hot.Users,
		Hasher:    &password.Hasher{Params: opts.HashParams},
		Passwords: &password.Policy{MinLength: c.PasswordMinLength, ServiceName: serviceName},
		Hooks:     hooks,
		Tokens:    flowTokens,
		VerifyTTL: c.VerifyTokenTTL,
		ResetTTL:  c.ResetTokenTTL,
	}
	if m != nil {
		manager.Hasher = m.Hasher(manager.Hasher)
	}
	if len(c.UserFields) > 0 {
		log.Info("custom user fields", "fields", formatUserFields(c.UserFields))
	}
	if c.PoliciesFile != "" {
		names := make([]string, len(c.Policies))
		for i, p := range c.Policies {
			names[i] = p.Name()
		}
		log.Info("authorization policies for POST /authorize", "file", c.PoliciesFile, "policies", strings.Join(names, ","))
	}
	oauthProviders, err := newOAuth(ctx, c, secret, publicURL, log)
	if err != nil {
		return nil, nil, nil, err
	}
	// The login page offers the providers whose login sets the pages'
	// cookie; their browser flow may come back to the account page.
	pagesBackend := firstCookieBackend(c.Backends)
	var pageProviders []string
	for name, op := range oauthProviders {
		if pagesBackend != "" && op.Backend == pagesBackend {
			op.ReturnURLs = append(op.ReturnURLs, strings.TrimSuffix(publicURL, "/")+pages.AccountPath)
			oauthProviders[name] = op
			pageProviders = append(pageProviders, name)
		}
	}
	slices.Sort(pageProviders)
	var seal func([]byte) ([]byte, error)
	if oauthProviders != nil {
		if seal, err = newOAuthSeal(secret); err != nil {
			return nil, nil, nil, fmt.Errorf("serve: %w", err)
		}
	}
	// The pages' login page is where forward-auth sends browsers that
	// are not logged in; without a cookie backend there is none.
	loginURL, mfaLoginURL := "", ""
	if pagesBackend != "" {
		loginURL = strings.TrimSuffix(publicURL, "/") + "/login"
		mfaLoginURL = strings.TrimSuffix(publicURL, "/") + pages.LoginMFAPath
	}
	forward, err := forwardauth.New(forwardauth.Config{
		Authenticator: auth,
		Requirement:   gatehouse.Requirement{Active: true, Verified: c.RequireVerification},
		Roles:         hot.Roles,
		Policies:      c.ForwardPolicies,
		LoginURL:      loginURL,
		Logger:        log,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	var metricsHandler http.Handler
	if reg != nil {
		metricsHandler = metrics.Handler(reg)
	}
	// Limits live in Redis when there is one, so that every instance
	// counts the same attempts; else in this process.
	var limiter gatehouse.Limiter
	switch {
	case !c.RateLimit:
		log.Warn("rate limiting is off: password and token guessing are not throttled; set GATEHOUSE_RATE_LIMIT=on outside tests")
	case rdb != nil:
		limiter = redis.NewLimiter(rdb)
	default:
		limiter = ratelimit.NewMemory(ratelimit.DefaultMaxKeys)
	}
	clients, err := clientip.New(c.TrustedProxies)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %s: %w", describeSettings("trusted-proxies"), err)
	}
	checks := map[string]func(context.Context) error{"database": db.Ping}
	if rdb != nil {
		checks["redis"] = rdb.Ping
	}
	second, err := newMFA(c, db, secret, publicURL, opts.now, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	api, err := httpapi.New(httpapi.Config{
		MFA:                          second,
		MFALoginURL:                  mfaLoginURL,
		Manager:                      manager,
		Authenticator:                auth,
		RequireVerification:          c.RequireVerification,
		KeepSessionsOnPasswordChange: c.KeepSessionsOnPasswordChange,
		Logger:                       log,
		Checks:                       checks,
		Fields:                       c.UserFields,
		Roles:                        hot.Roles,
		APIKeys:                      hot.APIKeys,
		Policies:                     c.Policies,
		OAuth:                        oauthProviders,
		OAuthAccounts:                db.OAuth,
		Seal:                         seal,
		ForwardAuth:                  forward,
		Limiter:                      limiter,
		ClientIP:                     clients.IP,
		Audit:                        db.Audit,
		JWKS:                         keys,
		Docs:                         swaggerui.Handler(swaggerui.Config{SpecURL: pubPath + "/openapi.json", Title: serviceName + " API"}),
		Metrics:                      metricsHandler,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}

	// httpapi serves the account routes; the keys are the server's, so the
	// server publishes them. The account pages front the API in process;
	// their links and forms go under the public URL's path, where a
	// reverse proxy may mount the server. Without a cookie backend there is
	// no browser login: only the pages of the mails' links, registration
	// and forgot-password are served.
	csrfKey, err := hkdf.Key(sha256.New, []byte(secret), nil, pagesCSRFInfo, 32)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	pagesConfig := pages.Config{
		API:             api,
		CookieBackend:   pagesBackend,
		CSRFKey:         csrfKey,
		InsecureCookies: c.Cookie.InsecureNoSecure,
		PathPrefix:      pubPath,
		OAuthProviders:  pageProviders,
	}
	if len(pageProviders) > 0 {
		pagesConfig.OAuthReturnURL = strings.TrimSuffix(publicURL, "/") + pages.AccountPath
	}
	p := pages.Handler(pagesConfig)
	mux := http.NewServeMux()
	for _, pattern := range pages.Patterns(pagesConfig) {
		mux.Handle(pattern, p)
	}
	mux.Handle("/", api)
	if m != nil {
		// Around the outer mux: the route label is the pattern of the
		// innermost mux that served the request.
		return m.Middleware(mux), hooks, keys, nil
	}
	return mux, hooks, keys, nil
}

// firstCookieBackend names the first backend with a cookie transport, the
// one the account pages log browsers in with; "" when there is none.
func firstCookieBackend(backends []backendSpec) string {
	for _, b := range backends {
		if b.Transport == "cookie" {
			return b.Name
		}
	}
	return ""
}

// newSessions runs sessions in Redis when there is one, else in the
// database: wherever they are, every instance sees a session end at once.
func newSessions(c *config, hot *hotStores, secret string) (*gatehouse.Sessions, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, refreshKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	return &gatehouse.Sessions{
		Store:       hot.Sessions,
		Key:         key,
		IdleTTL:     c.RefreshIdleTTL,
		AbsoluteTTL: c.RefreshAbsoluteTTL,
		Grace:       c.RefreshGrace,
	}, nil
}

// newTransport builds the transport of a backend whose transport is not
// bearer. pathPrefix is where browsers see the routes (the public URL's
// path, "" at the root).
func newTransport(b backendSpec, c *config, pathPrefix string) (gatehouse.Transport, error) {
	switch b.Transport {
	case "cookie":
		// The settings were checked with cookie.New when they were read.
		cfg := c.Cookie
		if c.sessionsOn() {
			// The refresh cookie goes to this backend's refresh and logout
			// routes only (logout must see it to clear it), and lives as
			// long as the session may.
			cfg.RefreshPath = pathPrefix + "/auth/" + b.Name + "/"
			cfg.RefreshMaxAge = min(c.RefreshAbsoluteTTL, maxCookieAge)
		}
		t, err := cookie.New(cfg)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown transport %q", b.Transport) // parseBackends admits no other
}

// newStrategy builds a strategy other than jwt.
func newStrategy(name string, c *config, hot *hotStores) (gatehouse.Strategy, error) {
	var store gatehouse.TokenStore
	switch name {
	case "database":
		store = hot.Tokens
	case "redis":
		if hot.RedisTokens == nil { // the settings check forbids this
			return nil, fmt.Errorf("the redis strategy needs %s", describeSettings("redis-url"))
		}
		store = hot.RedisTokens
	default:
		return nil, fmt.Errorf("unknown strategy %q", name) // parseBackends admits no other
	}
	s, err := opaque.New(opaque.Config{Store: store, Lifetime: c.AccessTokenTTL})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// A sweeper drops expired rows.
type sweeper interface {
	Sweep(ctx context.Context) (int64, error)
}

// auditPruner drops audit events older than the retention.
type auditPruner struct {
	store     gatehouse.AuditStore
	retention time.Duration
	now       func() time.Time
}

func (p auditPruner) Sweep(ctx context.Context) (int64, error) {
	n, err := p.store.PruneAuditEvents(ctx, p.now().Add(-p.retention))
	return int64(n), err
}

// sweep drops expired revocations and tokens from the database now and
// then, until ctx ends. Redis expires its keys by itself.
func sweep(ctx context.Context, log *slog.Logger, sweepers map[string]sweeper) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for what, s := range sweepers {
			n, err := s.Sweep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("sweeping expired "+what+" failed", "err", err)
			case n > 0:
				log.Debug("swept expired "+what, "count", n)
			}
		}
	}
}
