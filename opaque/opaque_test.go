package opaque_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/opaque"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// countingStore counts FindToken calls and can pretend to be down.
type countingStore struct {
	gatehouse.TokenStore
	finds atomic.Int64
	down  atomic.Bool
}

func (c *countingStore) FindToken(ctx context.Context, h string) (*gatehouse.TokenRecord, error) {
	c.finds.Add(1)
	if c.down.Load() {
		return nil, &gatehouse.Error{Code: gatehouse.CodeUnavailable}
	}
	return c.TokenStore.FindToken(ctx, h)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	s     *opaque.Strategy
	store *countingStore
	clock *clock
	user  *gatehouse.User
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	db := sqlitetest.New(t)
	db.Now = clk.Now
	u := &gatehouse.User{Email: "alice@example.com", HashedPassword: "x", IsActive: true}
	if err := sqlite.NewUserStore(db).CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{TokenStore: sqlite.NewTokenStore(db)}
	s, err := opaque.New(opaque.Config{Store: store, Lifetime: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{s: s, store: store, clock: clk, user: u}
}

func hashOf(t *testing.T, token string) string {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := gatehouse.WithClient(context.Background(), gatehouse.Client{UserAgent: strings.Repeat("u", 600), IP: "192.0.2.1"})
	tok, err := f.s.Write(ctx, f.user, gatehouse.ID{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.AccessToken) != 43 || !tok.Expiry.Equal(f.clock.Now().Add(time.Hour)) {
		t.Fatalf("token %q expiring %v", tok.AccessToken, tok.Expiry)
	}
	rec, err := f.store.TokenStore.FindToken(ctx, hashOf(t, tok.AccessToken))
	if err != nil {
		t.Fatalf("the store has no record under the token's hash: %v", err)
	}
	if rec.UserID != f.user.ID || rec.IP != "192.0.2.1" || len(rec.UserAgent) != 512 || strings.Contains(rec.Hash, tok.AccessToken) {
		t.Fatalf("record %+v", rec)
	}
	p, err := f.s.Read(ctx, tok.AccessToken)
	if err != nil || p.UserID != f.user.ID || p.TokenID != rec.Hash {
		t.Fatalf("Read = %+v, %v", p, err)
	}
}

func TestReadRefusesMalformedTokensWithoutALookup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, err := f.s.Write(context.Background(), f.user, gatehouse.ID{})
	if err != nil {
		t.Fatal(err)
	}
	good := tok.AccessToken
	// The last character carries 2 unused bits; changing them gives a
	// non-canonical spelling of the same bytes.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", good[42])
	twin := good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^1])
	for _, bad := range []string{
		"", good[:42], good + "A", good + "=", good[:41] + "+/",
		good[:42] + "\n", " " + good[:42], good[:20] + "." + good[21:], twin,
		strings.Repeat("A", 4097), "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
	} {
		before := f.store.finds.Load()
		if _, err := f.s.Read(context.Background(), bad); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
			t.Errorf("Read(%q) = %v, want Unauthorized", bad, err)
		}
		if f.store.finds.Load() != before {
			t.Errorf("Read(%q) looked the token up", bad)
		}
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		end  func(f *fixture, token string) error
	}{
		{"logout", func(f *fixture, tok string) error { return f.s.Destroy(ctx, tok) }},
		{"log out everywhere", func(f *fixture, tok string) error { return f.s.RevokeUser(ctx, f.user.ID) }},
		{"expiry", func(f *fixture, tok string) error { f.clock.Add(time.Hour); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tok, err := f.s.Write(ctx, f.user, gatehouse.ID{})
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Add(time.Hour - time.Second)
			if _, err := f.s.Read(ctx, tok.AccessToken); err != nil {
				t.Fatalf("just before the end: %v", err)
			}
			if err := tc.end(f, tok.AccessToken); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(time.Second)
			if _, err := f.s.Read(ctx, tok.AccessToken); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
				t.Fatalf("after the end: %v", err)
			}
			if err := f.s.Destroy(ctx, tok.AccessToken); err != nil {
				t.Fatalf("destroying a dead token: %v", err)
			}
		})
	}
}

func TestTouch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tok, _ := f.s.Write(ctx, f.user, gatehouse.ID{})
	h := hashOf(t, tok.AccessToken)
	created := f.clock.Now()
	f.clock.Add(30 * time.Second)
	f.s.Read(ctx, tok.AccessToken)
	if rec, _ := f.store.TokenStore.FindToken(ctx, h); !rec.LastUsedAt.Equal(created) {
		t.Fatalf("a use within a minute was written: %v", rec.LastUsedAt)
	}
	f.clock.Add(31 * time.Second)
	f.s.Read(ctx, tok.AccessToken)
	if rec, _ := f.store.TokenStore.FindToken(ctx, h); !rec.LastUsedAt.Equal(f.clock.Now()) {
		t.Fatalf("last use = %v, want %v", rec.LastUsedAt, f.clock.Now())
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, _ := f.s.Write(context.Background(), f.user, gatehouse.ID{})
	f.store.down.Store(true)
	if _, err := f.s.Read(context.Background(), tok.AccessToken); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Fatalf("Read with the store down = %v, want Unavailable", err)
	}
	f.store.down.Store(false)
	if _, err := f.s.Read(context.Background(), tok.AccessToken); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestTokensAreUnique(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seen := make(map[string]bool)
	for range 2000 {
		tok, err := f.s.Write(context.Background(), f.user, gatehouse.ID{})
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok.AccessToken] {
			t.Fatal("a token repeated")
		}
		seen[tok.AccessToken] = true
	}
}

func TestNewNeedsAStore(t *testing.T) {
	t.Parallel()
	if _, err := opaque.New(opaque.Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
}

func FuzzRead(f *testing.F) {
	fx := newFixture(f)
	tok, err := fx.s.Write(context.Background(), fx.user, gatehouse.ID{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.AccessToken)
	f.Add(tok.AccessToken[:42] + "B")
	f.Add("")
	f.Add(strings.Repeat("_", 43))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := fx.s.Read(context.Background(), s)
		if err == nil && (s != tok.AccessToken || p.UserID != fx.user.ID) {
			t.Fatalf("accepted %q", s)
		}
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
			t.Fatalf("Read(%q) = %v", s, err)
		}
	})
}

func BenchmarkRead(b *testing.B) {
	f := newFixture(b)
	tok, _ := f.s.Write(context.Background(), f.user, gatehouse.ID{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.s.Read(context.Background(), tok.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
