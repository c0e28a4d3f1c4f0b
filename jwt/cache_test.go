package jwt_test

import (
	"context"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

// sessionToken writes a token for userID in a session.
func sessionToken(tb testing.TB, s *jwt.Strategy, session gatehouse.ID) string {
	tb.Helper()
	tok, err := s.Write(context.Background(), &gatehouse.User{ID: userID}, session)
	if err != nil {
		tb.Fatal(err)
	}
	return tok.AccessToken
}

// TestCacheSameAnswers reads tokens twice (the second time from the cache)
// and compares every answer with a strategy without a cache, including the
// principal itself.
func TestCacheSameAnswers(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, alg)
			cached := newStrategy(t, f, nil)
			uncached := newStrategy(t, f, func(c *jwt.Config) { c.CacheSize = -1 })
			badSID := forge(t, f.signer(), baseHeader(f), with(basePayload(), "sid", "not-a-session"))
			for _, tok := range []string{write(t, cached), sessionToken(t, cached, gatehouse.NewID()), badSID} {
				want, wantErr := uncached.Read(ctx, tok)
				for range 2 {
					got, err := cached.Read(ctx, tok)
					if !reflect.DeepEqual(got, want) || gatehouse.ErrorCode(err) != gatehouse.ErrorCode(wantErr) {
						t.Errorf("cached Read = %+v, %v; uncached %+v, %v", got, err, want, wantErr)
					}
				}
			}
			if n := jwt.CacheLen(cached); n != 3 {
				t.Errorf("%d tokens cached, want 3", n)
			}
		})
	}
}

// TestCacheClock runs TestClock's edges with the token cached when it was
// issued: the cache answers only while the token is valid without leeway,
// and otherwise verification decides, exactly as without the cache.
func TestCacheClock(t *testing.T) {
	f := newFixture(t, "ES256")
	exp := t0.Add(15 * time.Minute)
	tests := []struct {
		name   string
		leeway time.Duration
		read   time.Time
		ok     bool
	}{
		{"JustBeforeExp", 0, exp.Add(-time.Second), true},
		{"AtExp", 0, exp, false},
		{"LongAfterExp", 0, exp.Add(time.Hour), false},
		{"WithinLeeway", 30 * time.Second, exp.Add(29 * time.Second), true},
		{"AtExpPlusLeeway", 30 * time.Second, exp.Add(30 * time.Second), false},
		{"ClockBackBeforeIat", 0, t0.Add(-time.Second), false},
		{"ClockBackWithinLeeway", 60 * time.Second, t0.Add(-60 * time.Second), true},
		{"ClockBackBeyondLeeway", 60 * time.Second, t0.Add(-61 * time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock(t0)
			s := newStrategy(t, f, func(cfg *jwt.Config) { cfg.Leeway, cfg.Now = tt.leeway, c.Now })
			tok := write(t, s)
			if _, err := s.Read(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if jwt.CacheLen(s) != 1 {
				t.Fatal("token not cached")
			}
			c.Set(tt.read)
			_, err := s.Read(ctx, tok)
			if tt.ok && err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !tt.ok {
				wantCode(t, err, gatehouse.CodeUnauthorized)
			}
		})
	}
}

// TestCacheRevocation: a cached token is refused as soon as it is revoked,
// whether through Destroy or in the store by another instance, and a store
// that cannot answer still fails the request.
func TestCacheRevocation(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			rev := newRevocations()
			s := newStrategy(t, newFixture(t, alg), func(c *jwt.Config) { c.Revocations = rev })
			destroyed, elsewhere := write(t, s), write(t, s)
			var ids []string
			for _, tok := range []string{destroyed, elsewhere} {
				p, err := s.Read(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, p.TokenID)
			}

			rev.revokedErr = errStoreDown
			_, err := s.Read(ctx, destroyed)
			wantCode(t, err, gatehouse.CodeUnavailable)
			rev.revokedErr = nil

			if err := s.Destroy(ctx, destroyed); err != nil {
				t.Fatal(err)
			}
			if err := rev.Revoke(ctx, ids[1], t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{destroyed, elsewhere} {
				_, err := s.Read(ctx, tok)
				wantCode(t, err, gatehouse.CodeUnauthorized)
			}
			if n := jwt.CacheLen(s); n != 2 {
				t.Errorf("%d tokens cached, want 2: the test must read from the cache", n)
			}
		})
	}
}

// TestCacheRotation: a token cached by a strategy that accepts the old key
// is refused by the next one, which does not: the cache belongs to a key
// set.
func TestCacheRotation(t *testing.T) {
	ctx := context.Background()
	for _, pair := range [][2]string{{"EdDSA", "ES256"}, {"HS256", "HS256"}} {
		t.Run(pair[0]+"To"+pair[1], func(t *testing.T) {
			oldKey, newKey := newFixture(t, pair[0]), newFixture(t, pair[1])
			oldTok := write(t, newStrategy(t, oldKey, nil))
			during := newStrategy(t, newKey, func(c *jwt.Config) { c.Verify = []jwt.Key{oldKey.key} })
			for range 2 {
				if _, err := during.Read(ctx, oldTok); err != nil {
					t.Fatalf("during rotation: %v", err)
				}
			}
			after := newStrategy(t, newKey, nil)
			_, err := after.Read(ctx, oldTok)
			wantCode(t, err, gatehouse.CodeUnauthorized)
		})
	}
}

// TestCacheBounded reads many more tokens than the cache holds: it stays at
// its size, and evicted tokens still verify.
func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "HS256")
	for _, size := range []int{1, 3, 100} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			s := newStrategy(t, f, func(c *jwt.Config) { c.CacheSize = size })
			toks := make([]string, 1000)
			for i := range toks {
				toks[i] = write(t, s)
				if _, err := s.Read(ctx, toks[i]); err != nil {
					t.Fatal(err)
				}
				if n := jwt.CacheLen(s); n > size {
					t.Fatalf("%d tokens cached, CacheSize %d", n, size)
				}
			}
			for _, tok := range toks {
				if _, err := s.Read(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
			if size == 100 && jwt.CacheLen(s) < size/2 {
				t.Errorf("%d of %d entries used", jwt.CacheLen(s), size)
			}
		})
	}
}

// TestCacheEvictsExpired: once a shard is full, expired tokens make room
// before live ones, however recently they were read.
func TestCacheEvictsExpired(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	s := newStrategy(t, newFixture(t, "HS256"), func(cfg *jwt.Config) { cfg.CacheSize, cfg.Now = 1, c.Now })
	old := write(t, s)
	s.Read(ctx, old)
	s.Read(ctx, old) // marks it used
	c.Set(t0.Add(time.Hour))
	fresh := write(t, s)
	if _, err := s.Read(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, old); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
		t.Fatalf("expired token: %v", err)
	}
	if n := jwt.CacheLen(s); n != 1 {
		t.Errorf("%d tokens cached, want 1", n)
	}
}

func TestCacheOff(t *testing.T) {
	s := newStrategy(t, newFixture(t, "EdDSA"), func(c *jwt.Config) { c.CacheSize = -1 })
	if _, err := s.Read(context.Background(), write(t, s)); err != nil {
		t.Fatal(err)
	}
	if n := jwt.CacheLen(s); n != 0 {
		t.Errorf("%d tokens cached with CacheSize -1", n)
	}
}

// TestCacheParallel reads valid, revoked and tampered tokens from many
// goroutines through a cache small enough to evict all the time (meaningful
// under -race).
func TestCacheParallel(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "EdDSA")
	rev := newRevocations()
	s := newStrategy(t, f, func(c *jwt.Config) { c.Revocations, c.CacheSize = rev, 20 })
	var good, bad []string
	for i := range 40 {
		tok := write(t, s)
		good = append(good, tok)
		bad = append(bad, flipSignatureBit(t, tok))
		if i%4 == 0 {
			if err := s.Destroy(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				j := (i*7 + g*13) % len(good)
				_, err := s.Read(ctx, good[j])
				if revoked := j%4 == 0; revoked != (err != nil) {
					t.Errorf("token %d (revoked %v): %v", j, revoked, err)
					return
				}
				if _, err := s.Read(ctx, bad[j]); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
					t.Errorf("tampered token %d: %v", j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := jwt.CacheLen(s); n > 20 {
		t.Errorf("%d tokens cached, CacheSize 20", n)
	}
}
