package cli

import (
	"log/slog"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/prometheus/client_golang/prometheus"
)

// hotStores are the stores a request may read before its handler runs:
// the user, their roles, the token's revocation or session, an opaque
// token, an API key. With --cache-ttl above 0 each sits behind an
// in-process cache, so that a request costs no store round trip.
//
// A change travels on the feed of the store it was made in: changes to
// the database's stores on the database's feed (LISTEN/NOTIFY on
// PostgreSQL, this process only on SQLite), changes to Redis's stores on
// Redis pub/sub. A program that writes to the database only (the
// gatehouse users and roles commands) therefore reaches every server.
type hotStores struct {
	Users       gatehouse.UserStore
	Roles       gatehouse.RoleStore
	Revocations gatehouse.Revocations // Redis's when there is one
	Sessions    gatehouse.SessionStore
	Tokens      gatehouse.TokenStore // of the database strategy
	RedisTokens gatehouse.TokenStore // of the redis strategy; nil without Redis
	APIKeys     gatehouse.APIKeyStore

	// caches are to be run while the server serves, by the name of their
	// feed ("database", "redis").
	caches map[string]*cache.Cache
}

// register exposes the caches' state and hit counts to Prometheus.
func (h *hotStores) register(reg prometheus.Registerer) {
	for feed, c := range h.caches {
		labels := prometheus.Labels{"feed": feed}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "gatehouse_cache_up",
				Help:        "1 while the change feed is up and the in-process cache answers; 0 while every read goes to the store.",
				ConstLabels: labels,
			}, func() float64 {
				if c.Stats().Up {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "gatehouse_cache_hits_total",
				Help:        "Store reads answered from memory.",
				ConstLabels: labels,
			}, func() float64 { return float64(c.Stats().Hits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "gatehouse_cache_misses_total",
				Help:        "Store reads that went to the store.",
				ConstLabels: labels,
			}, func() float64 { return float64(c.Stats().Misses) }),
		)
	}
}

// newHotStores wraps the stores in caches when c.CacheTTL > 0.
func newHotStores(c *config, db *database, rdb *redis.DB, log *slog.Logger) *hotStores {
	h := &hotStores{
		Users:       db.Users,
		Roles:       db.Roles,
		Revocations: db.Revocations,
		Sessions:    db.Sessions,
		Tokens:      db.Tokens,
		APIKeys:     db.APIKeys,
	}
	if rdb != nil {
		h.Revocations = redis.NewRevocations(rdb)
		h.Sessions = redis.NewSessionStore(rdb)
		h.RedisTokens = redis.NewTokenStore(rdb)
	}
	if c.CacheTTL == 0 {
		return h
	}
	opts := cache.Options{TTL: c.CacheTTL, Logger: log}
	dbCache := cache.New(db.Changes, opts)
	h.caches = map[string]*cache.Cache{"database": dbCache}
	h.Users = dbCache.Users(h.Users)
	h.Roles = dbCache.Roles(h.Roles)
	h.Tokens = dbCache.Tokens(h.Tokens)
	h.APIKeys = dbCache.APIKeys(h.APIKeys)
	if f, ok := db.Changes.(*postgres.ChangeFeed); ok {
		f.Logger = log
	}
	// Revocations and sessions are where Redis is, if it is.
	sessionCache := dbCache
	if rdb != nil {
		feed := redis.NewChangeFeed(rdb)
		feed.Logger = log
		sessionCache = cache.New(feed, opts)
		h.caches["redis"] = sessionCache
		h.RedisTokens = sessionCache.Tokens(h.RedisTokens)
	}
	h.Revocations = sessionCache.Revocations(h.Revocations)
	h.Sessions = sessionCache.Sessions(h.Sessions)
	return h
}

// publishing returns db with its users and roles behind a Cache that is
// never run: it reads through, and tells the servers on the database's feed
// of every change, so a command's change reaches them at once.
func publishing(db *database) *database {
	c := cache.New(db.Changes, cache.Options{})
	out := *db
	out.Users = c.Users(db.Users)
	out.Roles = c.Roles(db.Roles)
	return &out
}
