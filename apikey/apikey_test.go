package apikey_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
)

// golden is a key with a fixed secret whose checksum was computed outside
// Go (Python's zlib.crc32, base62 0-9A-Za-z, 6 digits, most significant
// first), so it pins the format rather than this package's code.
const golden = "ghk_Gatehouse0API0key0test0vector0AbCdEfGhIjKlM1JZcCl"

// goldenOtherPrefix has the same secret under another prefix and a
// checksum that is right for it.
const goldenOtherPrefix = "ghp_Gatehouse0API0key0test0vector0AbCdEfGhIjKlM1hqTAB"

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// with returns s with its i-th byte replaced by c.
func with(s string, i int, c byte) string {
	b := []byte(s)
	b[i] = c
	return string(b)
}

// swapCase turns an ASCII letter into the other case.
func swapCase(c byte) byte { return c ^ 0x20 }

func TestGenerate(t *testing.T) {
	t.Parallel()
	const n = 10000
	seen := make(map[string]bool, 2*n)
	var counts [256]int
	for range n {
		key, prefix, hash := apikey.Generate()
		if len(key) != 53 || !strings.HasPrefix(key, "ghk_") {
			t.Fatalf("key %q: want 53 characters starting with ghk_", key)
		}
		if prefix != key[:12] {
			t.Fatalf("prefix %q of key %q", prefix, key)
		}
		if hash != sha(key) {
			t.Fatalf("hash %q of key %q, want its hex SHA-256", hash, key)
		}
		if strings.Contains(hash, key[4:]) {
			t.Fatalf("hash %q holds the key", hash)
		}
		if h, ok := apikey.Parse(key); !ok || h != hash {
			t.Fatalf("Parse(%q) = %q, %v", key, h, ok)
		}
		for i := 4; i < 53; i++ {
			if !strings.ContainsRune(alphabet, rune(key[i])) {
				t.Fatalf("key %q has %q at %d", key, key[i], i)
			}
		}
		for i := 4; i < 47; i++ {
			counts[key[i]]++
		}
		if seen[key] || seen[hash] {
			t.Fatalf("key %q generated twice", key)
		}
		seen[key], seen[hash] = true, true
	}
	// Each secret character must be uniform over the 62. A modulo-biased
	// generator (byte % 62) makes 0-7 a quarter likelier, which gives a
	// chi-squared above 2000 here; a uniform one gives about 61 (61
	// degrees of freedom), and above 200 about once in 10^16 runs.
	want := float64(n*43) / 62
	var chi2 float64
	for i := range len(alphabet) {
		d := float64(counts[alphabet[i]]) - want
		chi2 += d * d / want
	}
	if chi2 > 200 {
		t.Errorf("secret characters are not uniform: chi-squared %.1f over 61 degrees of freedom", chi2)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	key, _, _ := apikey.Generate()
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"Golden", golden, true},
		{"Generated", key, true},
		{"AllZeros", "ghk_00000000000000000000000000000000000000000001UYnUp", true},

		{"Empty", "", false},
		{"PrefixOnly", "ghk_", false},
		{"NoPrefix", golden[4:], false},
		{"OtherPrefix", "ghp_" + golden[4:], false},
		{"OtherPrefixValidChecksum", goldenOtherPrefix, false},
		{"UpperCasePrefix", "GHK_" + golden[4:], false},
		{"PrefixDash", "ghk-" + golden[4:], false},
		{"BearerScheme", "Bearer " + golden, false},

		{"OneShort", golden[:52], false},
		{"OneLong", golden + "0", false},
		{"DroppedSecretChar", golden[:10] + golden[11:], false},
		{"InsertedSecretChar", golden[:10] + "x" + golden[10:], false},
		{"DoubledKey", golden + golden, false},
		{"Huge", "ghk_" + strings.Repeat("A", 1<<16), false},
		{"LeadingSpace", " " + golden[:52], false},
		{"TrailingSpace", golden[:52] + " ", false},
		{"TrailingNewline", golden + "\n", false},

		{"Dash", with(golden, 20, '-'), false},
		{"Underscore", with(golden, 20, '_'), false},
		{"Plus", with(golden, 20, '+'), false},
		{"Slash", with(golden, 20, '/'), false},
		{"Padding", with(golden, 52, '='), false},
		{"Space", with(golden, 20, ' '), false},
		{"NUL", with(golden, 20, 0), false},
		{"HighByte", with(golden, 20, 0xff), false},
		{"NonASCII", golden[:51] + "é", false},
		{"ChecksumDash", with(golden, 49, '-'), false},

		{"SecretCharChanged", with(golden, 10, 'p'), false},
		{"FirstSecretCharChanged", with(golden, 4, 'H'), false},
		{"LastSecretCharChanged", with(golden, 46, 'N'), false},
		{"SecretCharsSwapped", golden[:5] + golden[6:7] + golden[5:6] + golden[7:], false},
		{"ChecksumCharChanged", with(golden, 52, 'm'), false},
		{"ChecksumFirstChanged", with(golden, 47, '2'), false},
		{"ChecksumZeroed", golden[:47] + "000000", false},

		{"SecretLowerCased", with(golden, 4, swapCase(golden[4])), false},     // G -> g
		{"SecretUpperCased", with(golden, 5, swapCase(golden[5])), false},     // a -> A
		{"ChecksumLowerCased", with(golden, 48, swapCase(golden[48])), false}, // J -> j
		{"ChecksumUpperCased", with(golden, 50, swapCase(golden[50])), false}, // c -> C
		{"WholeKeyUpperCased", "ghk_" + strings.ToUpper(golden[4:]), false},
		{"WholeKeyLowerCased", strings.ToLower(golden), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, ok := apikey.Parse(tt.key)
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.key, ok, tt.ok)
			}
			if ok && h != sha(tt.key) {
				t.Errorf("Parse(%q) = %q, want the key's hex SHA-256", tt.key, h)
			}
			if !ok && h != "" {
				t.Errorf("Parse(%q) = %q with ok false", tt.key, h)
			}
		})
	}
}

// TestParseSingleCharacterChanges checks that no change of one character of
// a key into another base62 character gets past the checksum: CRC-32
// detects every error confined to 32 consecutive bits.
func TestParseSingleCharacterChanges(t *testing.T) {
	t.Parallel()
	key, _, _ := apikey.Generate()
	for _, k := range []string{golden, key} {
		for i := 4; i < len(k); i++ {
			for j := range len(alphabet) {
				if c := alphabet[j]; c != k[i] {
					if _, ok := apikey.Parse(with(k, i, c)); ok {
						t.Fatalf("Parse accepted %q, %q with %q at %d", with(k, i, c), k, c, i)
					}
				}
			}
		}
	}
}

// request builds a request by hand, so that any query string (even one
// httptest.NewRequest would refuse) can be tried.
func request(query string, headers ...string) *http.Request {
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/users/me", RawQuery: query}, Header: http.Header{}}
	for _, h := range headers {
		r.Header.Add("X-API-Key", h)
	}
	return r
}

func TestCredential(t *testing.T) {
	t.Parallel()
	other, _, _ := apikey.Generate()
	bad := with(golden, 10, 'p')
	tests := []struct {
		name    string
		tr      apikey.Transport
		query   string
		headers []string
		custom  map[string]string // more headers, by name
		key     string            // "" means ok is false
	}{
		{"Header", apikey.Transport{}, "", []string{golden}, nil, golden},
		{"HeaderWithQueryAllowed", apikey.Transport{AllowQuery: true}, "", []string{golden}, nil, golden},
		{"HeaderAndOtherQuery", apikey.Transport{}, "page=2", []string{golden}, nil, golden},
		{"None", apikey.Transport{}, "", nil, nil, ""},
		{"NoneQueryAllowed", apikey.Transport{AllowQuery: true}, "", nil, nil, ""},
		{"HeaderEmpty", apikey.Transport{}, "", []string{""}, nil, ""},
		{"HeaderMalformed", apikey.Transport{}, "", []string{"not-a-key"}, nil, ""},
		{"HeaderBadChecksum", apikey.Transport{}, "", []string{bad}, nil, ""},
		{"HeaderOtherPrefix", apikey.Transport{}, "", []string{goldenOtherPrefix}, nil, ""},
		{"HeaderPadded", apikey.Transport{}, "", []string{" " + golden + " "}, nil, ""},
		{"HeaderDuplicate", apikey.Transport{}, "", []string{golden, golden}, nil, ""},
		{"HeaderTwoKeys", apikey.Transport{}, "", []string{golden, other}, nil, ""},
		{"HeaderGoodAndBad", apikey.Transport{}, "", []string{bad, golden}, nil, ""},
		{"HeaderCommaJoined", apikey.Transport{}, "", []string{golden + ", " + other}, nil, ""},

		{"QueryNotAllowed", apikey.Transport{}, "api_key=" + golden, nil, nil, ""},
		{"QueryAllowed", apikey.Transport{AllowQuery: true}, "api_key=" + golden, nil, nil, golden},
		{"QueryAllowedAmongOthers", apikey.Transport{AllowQuery: true}, "a=1&api_key=" + golden + "&b=2", nil, nil, golden},
		{"QueryAllowedMalformed", apikey.Transport{AllowQuery: true}, "api_key=" + bad, nil, nil, ""},
		{"QueryAllowedEmpty", apikey.Transport{AllowQuery: true}, "api_key=", nil, nil, ""},
		{"QueryAllowedDuplicate", apikey.Transport{AllowQuery: true}, "api_key=" + golden + "&api_key=" + golden, nil, nil, ""},
		{"QueryAllowedTwoKeys", apikey.Transport{AllowQuery: true}, "api_key=" + golden + "&api_key=" + other, nil, nil, ""},
		{"QueryOtherName", apikey.Transport{AllowQuery: true}, "apikey=" + golden, nil, nil, ""},

		{"HeaderAndQuery", apikey.Transport{}, "api_key=" + golden, []string{golden}, nil, ""},
		{"HeaderAndQueryAllowed", apikey.Transport{AllowQuery: true}, "api_key=" + golden, []string{golden}, nil, ""},
		{"HeaderAndDifferentQueryAllowed", apikey.Transport{AllowQuery: true}, "api_key=" + other, []string{golden}, nil, ""},
		{"HeaderAndEmptyQuery", apikey.Transport{AllowQuery: true}, "api_key=", []string{golden}, nil, ""},

		{"CustomHeader", apikey.Transport{Header: "X-Service-Key"}, "", nil, map[string]string{"X-Service-Key": golden}, golden},
		{"CustomHeaderIgnoresDefault", apikey.Transport{Header: "X-Service-Key"}, "", []string{golden}, nil, ""},
		{"CustomHeaderAnyCase", apikey.Transport{Header: "x-service-key"}, "", nil, map[string]string{"X-Service-Key": golden}, golden},
		{"AuthorizationIgnored", apikey.Transport{}, "", nil, map[string]string{"Authorization": "Bearer " + golden}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := request(tt.query, tt.headers...)
			for k, v := range tt.custom {
				r.Header.Add(k, v)
			}
			key, ok := tt.tr.Credential(r)
			if ok != (tt.key != "") || key != tt.key {
				t.Errorf("Credential = %q, %v; want %q, %v", key, ok, tt.key, tt.key != "")
			}
		})
	}
}

func TestCredentialWithoutURL(t *testing.T) {
	t.Parallel()
	r := &http.Request{Header: http.Header{"X-Api-Key": {golden}}}
	if key, ok := (apikey.Transport{AllowQuery: true}).Credential(r); !ok || key != golden {
		t.Errorf("Credential = %q, %v", key, ok)
	}
}

func TestNoLoginResponses(t *testing.T) {
	t.Parallel()
	tr := apikey.Transport{}
	for name, write := range map[string]func(http.ResponseWriter, *http.Request) error{
		"WriteLogin": func(w http.ResponseWriter, r *http.Request) error {
			return tr.WriteLogin(w, r, gatehouse.Token{AccessToken: golden})
		},
		"WriteLogout": tr.WriteLogout,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			err := write(rec, httptest.NewRequest(http.MethodPost, "/auth/apikey/login", nil))
			if err == nil || !strings.Contains(err.Error(), "not issued by logging in") {
				t.Fatalf("err = %v, want one saying keys are not issued by logging in", err)
			}
			if rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Flushed {
				t.Errorf("wrote %d %v %q", rec.Code, rec.Header(), rec.Body)
			}
		})
	}
}

// mapStore is an in-memory gatehouse.APIKeyStore that counts lookups and
// touches. The SQL stores are tested against real databases elsewhere.
type mapStore struct {
	mu       sync.Mutex
	keys     map[string]gatehouse.APIKey // by hash
	finds    int
	touches  []time.Time
	down     bool // every call fails with CodeUnavailable
	lagging  bool // FindAPIKey ignores expiry, as a store with a slow clock would
	touchErr error
}

func newMapStore() *mapStore { return &mapStore{keys: make(map[string]gatehouse.APIKey)} }

var errDown = &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: errors.New("connection refused")}

func (m *mapStore) CreateAPIKey(_ context.Context, k gatehouse.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[k.Hash] = k
	return nil
}

func (m *mapStore) FindAPIKey(_ context.Context, hash string, now time.Time) (*gatehouse.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finds++
	if m.down {
		return nil, errDown
	}
	k, ok := m.keys[hash]
	if !ok || !m.lagging && !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	k.Scopes = slices.Clone(k.Scopes)
	return &k, nil
}

func (m *mapStore) ListAPIKeys(_ context.Context, userID gatehouse.ID) ([]gatehouse.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ks []gatehouse.APIKey
	for _, k := range m.keys {
		if k.UserID == userID {
			ks = append(ks, k)
		}
	}
	return ks, nil
}

func (m *mapStore) DeleteAPIKey(_ context.Context, userID, id gatehouse.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, k := range m.keys {
		if k.ID == id && k.UserID == userID {
			delete(m.keys, h)
			return nil
		}
	}
	return &gatehouse.Error{Code: gatehouse.CodeNotFound}
}

func (m *mapStore) TouchAPIKey(_ context.Context, id gatehouse.ID, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touches = append(m.touches, at)
	if m.touchErr != nil {
		return m.touchErr
	}
	for h, k := range m.keys {
		if k.ID == id {
			k.LastUsedAt = at
			m.keys[h] = k
		}
	}
	return nil
}

func (m *mapStore) counts() (finds, touches int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.finds, len(m.touches)
}

var _ gatehouse.APIKeyStore = (*mapStore)(nil)

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
	s     apikey.Strategy
	store *mapStore
	clock *clock
}

func newFixture() *fixture {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	store := newMapStore()
	return &fixture{s: apikey.Strategy{Store: store, Now: clk.Now}, store: store, clock: clk}
}

// add stores a new key with the given scopes and expiry and returns the key
// and its record.
func (f *fixture) add(t *testing.T, scopes []string, expires time.Time) (string, gatehouse.APIKey) {
	t.Helper()
	key, prefix, hash := apikey.Generate()
	k := gatehouse.APIKey{
		ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Name: "ci", Prefix: prefix, Hash: hash,
		Scopes: scopes, CreatedAt: f.clock.Now(), ExpiresAt: expires,
	}
	if err := f.store.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return key, k
}

func TestStrategyImplementsNoLogin(t *testing.T) {
	t.Parallel()
	for _, s := range []gatehouse.Strategy{apikey.Strategy{}, &apikey.Strategy{}} {
		if _, ok := s.(gatehouse.NoLogin); !ok {
			t.Errorf("%T does not implement gatehouse.NoLogin", s)
		}
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture()
	expires := f.clock.Now().Add(24 * time.Hour)
	key, k := f.add(t, []string{"articles:read", "articles:write"}, expires)
	p, err := f.s.Read(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	want := gatehouse.Principal{UserID: k.UserID, TokenID: k.ID.String(), Scopes: []string{"articles:read", "articles:write"}, Expiry: expires}
	if p.UserID != want.UserID || p.TokenID != want.TokenID || !slices.Equal(p.Scopes, want.Scopes) ||
		!p.Expiry.Equal(want.Expiry) || !p.SessionID.IsZero() {
		t.Fatalf("Read = %+v, want %+v", p, want)
	}
	if strings.Contains(p.TokenID, key[4:12]) {
		t.Errorf("TokenID %q holds the key", p.TokenID)
	}
	// The principal's scopes are its own.
	p.Scopes[0] = "admin"
	if p2, _ := f.s.Read(ctx, key); p2.Scopes[0] != "articles:read" {
		t.Errorf("scopes after changing a principal's: %v", p2.Scopes)
	}
}

func TestReadScopesNeverNil(t *testing.T) {
	t.Parallel()
	for name, scopes := range map[string][]string{"Nil": nil, "Empty": {}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			key, _ := f.add(t, scopes, time.Time{})
			p, err := f.s.Read(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			if p.Scopes == nil || len(p.Scopes) != 0 {
				t.Fatalf("Scopes = %#v, want empty and non-nil: a key without scopes grants nothing", p.Scopes)
			}
			if !p.Expiry.IsZero() {
				t.Errorf("Expiry = %v for a key that never expires", p.Expiry)
			}
		})
	}
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(f *fixture, key string) string // returns the key to read
		code    gatehouse.Code
		finds   int
	}{
		{"Unknown", func(f *fixture, key string) string { k, _, _ := apikey.Generate(); return k }, gatehouse.CodeUnauthorized, 1},
		{"Expired", func(f *fixture, key string) string { f.clock.Add(time.Hour); return key }, gatehouse.CodeUnauthorized, 1},
		{"ExpiredLaggingStore", func(f *fixture, key string) string {
			f.store.lagging = true
			f.clock.Add(time.Hour)
			return key
		}, gatehouse.CodeUnauthorized, 1},
		{"ExpiresNowLaggingStore", func(f *fixture, key string) string {
			f.store.lagging = true
			f.clock.Add(time.Hour - time.Nanosecond)
			f.clock.Add(time.Nanosecond)
			return key
		}, gatehouse.CodeUnauthorized, 1},
		{"Deleted", func(f *fixture, key string) string {
			h, _ := apikey.Parse(key)
			f.store.mu.Lock()
			k := f.store.keys[h]
			f.store.mu.Unlock()
			f.store.DeleteAPIKey(context.Background(), k.UserID, k.ID)
			return key
		}, gatehouse.CodeUnauthorized, 1},
		{"Unavailable", func(f *fixture, key string) string { f.store.down = true; return key }, gatehouse.CodeUnavailable, 1},
		{"UnavailableBadChecksum", func(f *fixture, key string) string { f.store.down = true; return with(key, 30, flip(key[30])) }, gatehouse.CodeUnauthorized, 0},
		{"BadChecksum", func(f *fixture, key string) string { return with(key, 30, flip(key[30])) }, gatehouse.CodeUnauthorized, 0},
		{"BadChecksumChar", func(f *fixture, key string) string { return with(key, 52, flip(key[52])) }, gatehouse.CodeUnauthorized, 0},
		{"Truncated", func(f *fixture, key string) string { return key[:52] }, gatehouse.CodeUnauthorized, 0},
		{"Empty", func(f *fixture, key string) string { return "" }, gatehouse.CodeUnauthorized, 0},
		{"OtherPrefix", func(f *fixture, key string) string { return goldenOtherPrefix }, gatehouse.CodeUnauthorized, 0},
		{"JWT", func(f *fixture, key string) string { return "eyJhbGciOiJIUzI1NiJ9.e30.c2ln" }, gatehouse.CodeUnauthorized, 0},
		{"Opaque", func(f *fixture, key string) string { return strings.Repeat("A", 43) }, gatehouse.CodeUnauthorized, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			key, _ := f.add(t, []string{"a"}, f.clock.Now().Add(time.Hour))
			key = tt.prepare(f, key)
			p, err := f.s.Read(context.Background(), key)
			if code := gatehouse.ErrorCode(err); code != tt.code {
				t.Errorf("Read = %+v, %v; want %s", p, err, tt.code)
			}
			if finds, touches := f.store.counts(); finds != tt.finds || touches != 0 {
				t.Errorf("%d lookups and %d touches, want %d and none", finds, touches, tt.finds)
			}
		})
	}
}

// flip returns another base62 character.
func flip(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

func TestReadWithoutStore(t *testing.T) {
	t.Parallel()
	s := apikey.Strategy{}
	if _, err := s.Read(context.Background(), golden); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Read without a store = %v, want Unavailable (fail closed)", err)
	}
	if _, err := s.Read(context.Background(), "x"); gatehouse.ErrorCode(err) != gatehouse.CodeUnauthorized {
		t.Errorf("Read of a malformed key without a store = %v, want Unauthorized", err)
	}
}

func TestReadDefaultClock(t *testing.T) {
	t.Parallel()
	store := newMapStore()
	s := apikey.Strategy{Store: store}
	key, prefix, hash := apikey.Generate()
	store.CreateAPIKey(context.Background(), gatehouse.APIKey{
		ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Prefix: prefix, Hash: hash, ExpiresAt: time.Now().Add(time.Hour),
	})
	if _, err := s.Read(context.Background(), key); err != nil {
		t.Fatalf("Read with the real clock: %v", err)
	}
}

func TestTouch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture()
	key, _ := f.add(t, nil, time.Time{})
	start := f.clock.Now()
	steps := []struct {
		advance time.Duration
		touches int
	}{
		{0, 1},                                // first use is recorded
		{0, 1},                                // same instant
		{30 * time.Second, 1},                 // within the minute
		{30*time.Second - time.Nanosecond, 1}, // just short of a minute
		{time.Nanosecond, 2},                  // a minute after the last recorded use
		{59 * time.Second, 2},
		{10 * time.Minute, 3},
	}
	for i, st := range steps {
		f.clock.Add(st.advance)
		if _, err := f.s.Read(ctx, key); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if _, n := f.store.counts(); n != st.touches {
			t.Fatalf("step %d (%v after start): %d touches, want %d", i, f.clock.Now().Sub(start), n, st.touches)
		}
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	want := []time.Time{start, start.Add(time.Minute), start.Add(time.Minute + 59*time.Second + 10*time.Minute)}
	if !slices.EqualFunc(f.store.touches, want, time.Time.Equal) {
		t.Errorf("touched at %v, want %v", f.store.touches, want)
	}
}

func TestTouchFailureIsIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture()
	key, _ := f.add(t, nil, time.Time{})
	f.store.touchErr = errDown
	for range 2 {
		if _, err := f.s.Read(context.Background(), key); err != nil {
			t.Fatalf("a failed touch refused the request: %v", err)
		}
	}
	// Unrecorded uses are retried on the next request.
	if _, n := f.store.counts(); n != 2 {
		t.Errorf("%d touches, want 2", n)
	}
}

func TestWriteAndDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture()
	key, _ := f.add(t, nil, time.Time{})
	tok, err := f.s.Write(ctx, &gatehouse.User{ID: gatehouse.NewID()}, gatehouse.ID{})
	if err == nil || tok != (gatehouse.Token{}) {
		t.Errorf("Write = %+v, %v; want an error", tok, err)
	}
	if err := f.s.Destroy(ctx, key); err != nil {
		t.Errorf("Destroy = %v", err)
	}
	// Destroy does not revoke: deleting the key does.
	if _, err := f.s.Read(ctx, key); err != nil {
		t.Errorf("Read after Destroy = %v", err)
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is a
// 53-character ghk_ key of base62 whose hash is its SHA-256, and that an
// accepted key round-trips through the Transport.
func FuzzParse(f *testing.F) {
	key, _, _ := apikey.Generate()
	for _, s := range []string{golden, key, goldenOtherPrefix, "", "ghk_", golden[:52], golden + "0",
		with(golden, 10, 'p'), strings.ToLower(golden), "ghk_" + strings.Repeat("0", 49), golden[:51] + "é",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := apikey.Parse(s)
		if !ok {
			if h != "" {
				t.Fatalf("Parse(%q) = %q with ok false", s, h)
			}
			return
		}
		if len(s) != 53 || !strings.HasPrefix(s, "ghk_") || strings.Trim(s[4:], alphabet) != "" {
			t.Fatalf("Parse accepted %q", s)
		}
		if h != sha(s) {
			t.Fatalf("Parse(%q) = %q, want its SHA-256", s, h)
		}
		for _, tr := range []apikey.Transport{{}, {AllowQuery: true}} {
			if got, ok := tr.Credential(request("", s)); !ok || got != s {
				t.Fatalf("header round trip of %q gave %q, %v", s, got, ok)
			}
		}
		if got, ok := (apikey.Transport{AllowQuery: true}).Credential(request("api_key=" + url.QueryEscape(s))); !ok || got != s {
			t.Fatalf("query round trip of %q gave %q, %v", s, got, ok)
		}
	})
}

// FuzzCredential checks Credential on arbitrary headers and query strings:
// it never panics, returns only keys that Parse accepts, takes them from
// exactly one place, and an accepted key round-trips.
func FuzzCredential(f *testing.F) {
	key, _, _ := apikey.Generate()
	for _, s := range []struct {
		header, query string
		allow         bool
	}{
		{golden, "", false}, {"", "api_key=" + golden, true}, {"", "api_key=" + golden, false},
		{golden, "api_key=" + golden, true}, {key, "api_key=" + key + "&api_key=" + key, true},
		{"", "api_key=" + golden + ";x=1", true}, {"", "%zz&api_key=" + golden, true}, {"", "api_key=%", true},
		{golden + "\r\nX-Injected: 1", "", false}, {" " + golden, "", false}, {"", "", true},
	} {
		f.Add(s.header, s.query, s.allow)
	}
	f.Fuzz(func(t *testing.T, header, query string, allow bool) {
		tr := apikey.Transport{AllowQuery: allow}
		var headers []string
		if header != "" {
			headers = strings.Split(header, "\x00") // NUL separates several values
		}
		r := request(query, headers...)
		got, ok := tr.Credential(r)
		if !ok {
			if got != "" {
				t.Fatalf("Credential = %q with ok false", got)
			}
			return
		}
		if _, valid := apikey.Parse(got); !valid {
			t.Fatalf("Credential returned %q, which Parse refuses", got)
		}
		queries := r.URL.Query()["api_key"]
		switch {
		case len(headers) == 1 && len(queries) == 0:
			if got != headers[0] {
				t.Fatalf("Credential = %q from header %q", got, headers[0])
			}
		case len(headers) == 0 && len(queries) == 1 && allow:
			if got != queries[0] {
				t.Fatalf("Credential = %q from query %q", got, query)
			}
		default:
			t.Fatalf("Credential = %q from headers %q and query %q (allowed %v)", got, headers, query, allow)
		}
		if again, ok := (apikey.Transport{}).Credential(request("", got)); !ok || again != got {
			t.Fatalf("round trip of %q gave %q, %v", got, again, ok)
		}
	})
}
