package cli

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

// keyReloadInterval is how often a server reads the signing keys again, so
// that a key added or retired by 'gatehouse keys' (on any host) reaches
// every instance without a restart. It must stay well under the minute of
// slack signingKeys gives a retired key, so that no instance still signs
// with a key the others have stopped accepting.
const keyReloadInterval = 30 * time.Second

// keyRing is the server's jwt strategy and JWKS handler, whose keys change
// while it runs. A jwt.Strategy is immutable, so a reload builds a new one
// and swaps it in whole: every request uses one consistent key set, the one
// current when it started.
type keyRing struct {
	load func(ctx context.Context) (*keySet, error)
	log  *slog.Logger
	mu   sync.Mutex // serializes reloads; readers never take it
	cur  atomic.Pointer[keySet]
}

// keySet is one generation of keys.
type keySet struct {
	strategy *jwt.Strategy
	jwks     http.Handler
	signer   string   // kid of the signing key; "" for HS256
	verify   []string // kids of the other keys still accepted
}

var (
	_ gatehouse.Strategy = (*keyRing)(nil)
	_ http.Handler       = (*keyRing)(nil)
)

// newKeyRing loads the keys once; an error stops the server.
func newKeyRing(ctx context.Context, c *config, store gatehouse.KeyStore, secret string,
	revocations gatehouse.Revocations, now func() time.Time, log *slog.Logger) (*keyRing, error) {
	r := &keyRing{log: log}
	r.load = func(ctx context.Context) (*keySet, error) {
		sign, verify, err := signingKeys(ctx, store, c.JWTAlgorithm, secret, c.AccessTokenTTL, now(), log)
		if err != nil {
			return nil, err
		}
		s, err := jwt.New(jwt.Config{
			Key:         sign,
			Verify:      verify,
			Issuer:      c.JWTIssuer,
			Lifetime:    c.AccessTokenTTL,
			Revocations: revocations,
		})
		if err != nil {
			return nil, err
		}
		ks := &keySet{strategy: s, jwks: jwt.JWKS(append([]jwt.Key{sign}, verify...)...), signer: sign.ID()}
		for _, k := range verify {
			ks.verify = append(ks.verify, k.ID())
		}
		slices.Sort(ks.verify)
		return ks, nil
	}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the keys again and swaps them in. On an error the keys in
// use stay, and so does every token they accept.
func (r *keyRing) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks, err := r.load(ctx)
	if err != nil {
		return err
	}
	old := r.cur.Load()
	if old != nil && old.signer == ks.signer && slices.Equal(old.verify, ks.verify) {
		// A kid names one key for good: the same kids are the same keys.
		// Keeping the strategy keeps its cache of verified tokens warm.
		return nil
	}
	r.cur.Store(ks)
	if old != nil {
		r.log.Info("signing keys changed", "signing", ks.signer, "verifying", ks.verify)
	}
	return nil
}

// run reloads the keys every interval until ctx ends.
func (r *keyRing) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, interval)
		err := r.Reload(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("reloading the signing keys failed; keeping the current ones", "err", err)
		}
	}
}

func (r *keyRing) Write(ctx context.Context, u *gatehouse.User, session gatehouse.ID) (gatehouse.Token, error) {
	return r.cur.Load().strategy.Write(ctx, u, session)
}

func (r *keyRing) Read(ctx context.Context, token string) (gatehouse.Principal, error) {
	return r.cur.Load().strategy.Read(ctx, token)
}

func (r *keyRing) Destroy(ctx context.Context, token string) error {
	return r.cur.Load().strategy.Destroy(ctx, token)
}

// ServeHTTP serves the current keys' JWK set.
func (r *keyRing) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.cur.Load().jwks.ServeHTTP(w, req)
}
