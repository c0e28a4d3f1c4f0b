package gatehousetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

// TestTokenStore checks that a gatehouse.TokenStore gives back what it was
// given (times in UTC, truncated to microseconds; user agents and addresses
// byte for byte), hides a token once its ExpiresAt is not after the store's
// clock, only moves LastUsedAt forward, deletes idempotently, deletes and
// counts the live tokens of one user without touching the others', refuses
// a duplicate hash with CodeConflict, and stays consistent under concurrent
// creation. If the store also has Sweep(ctx) (int64, error), Sweep must
// delete expired tokens only and count them.
//
// open must return a new, empty store whose clock is now. The suite makes
// up user ids; a store that requires users to exist (a foreign key) must be
// wrapped by open so that CreateToken first creates the user it names.
func TestTokenStore(t *testing.T, open func(t *testing.T, now func() time.Time) gatehouse.TokenStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s gatehouse.TokenStore, clk *clock)
	}{
		{"CreateFind", testTokenCreateFind},
		{"CreatedAtDefault", testTokenCreatedAtDefault},
		{"NotFound", testTokenNotFound},
		{"Expiry", testTokenExpiry},
		{"CreateExpired", testTokenCreateExpired},
		{"Touch", testTokenTouch},
		{"TouchGoneOrExpired", testTokenTouchGoneOrExpired},
		{"Delete", testTokenDelete},
		{"DeleteUserTokens", testTokenDeleteUserTokens},
		{"DuplicateHash", testTokenDuplicateHash},
		{"RecordsRoundTrip", testTokenRecordsRoundTrip},
		{"ConcurrentCreate", testTokenConcurrentCreate},
		{"ConcurrentCreateSameHash", testTokenConcurrentCreateSameHash},
		{"Sweep", testTokenSweep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s := open(t, clk.Now)
			tt.run(t, s, clk)
		})
	}
}

// tokenHash returns what a strategy would store for the token named name:
// the hex SHA-256 of it.
func tokenHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// newToken is a complete record for user, created now and valid for life.
func newToken(name string, user gatehouse.ID, clk *clock, life time.Duration) gatehouse.TokenRecord {
	now := clk.Now()
	return gatehouse.TokenRecord{
		Hash:      tokenHash(name),
		UserID:    user,
		CreatedAt: now,
		ExpiresAt: now.Add(life),
		UserAgent: "Mozilla/5.0 (gatehousetest)",
		IP:        "192.0.2.1",
		SessionID: gatehouse.NewID(),
	}
}

func createToken(t *testing.T, s gatehouse.TokenStore, r gatehouse.TokenRecord) {
	t.Helper()
	if err := s.CreateToken(t.Context(), r); err != nil {
		t.Fatalf("CreateToken(%.8s…): %v", r.Hash, err)
	}
}

func findToken(t *testing.T, s gatehouse.TokenStore, hash string) *gatehouse.TokenRecord {
	t.Helper()
	r, err := s.FindToken(t.Context(), hash)
	if err != nil {
		t.Fatalf("FindToken(%.8s…): %v", hash, err)
	}
	return r
}

func wantNoToken(t *testing.T, s gatehouse.TokenStore, clk *clock, hash string) {
	t.Helper()
	r, err := s.FindToken(t.Context(), hash)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("at %v: FindToken(%.8s…) = %+v, %v; want a %q error", clk.Now(), hash, r, err, gatehouse.CodeNotFound)
	}
}

func deleteUserTokens(t *testing.T, s gatehouse.TokenStore, id gatehouse.ID) int {
	t.Helper()
	n, err := s.DeleteUserTokens(t.Context(), id)
	if err != nil {
		t.Fatalf("DeleteUserTokens(%v): %v", id, err)
	}
	return n
}

// diffToken lists how got differs from want, times compared as stored;
// a zero LastUsedAt must come back zero.
func diffToken(got, want gatehouse.TokenRecord) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %q, want %q", field, g, w)) }
	if got.Hash != want.Hash {
		add("Hash", got.Hash, want.Hash)
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID, want.UserID)
	}
	if !sameTime(got.CreatedAt, want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, stored(want.CreatedAt))
	}
	if !sameTime(got.ExpiresAt, want.ExpiresAt) {
		add("ExpiresAt", got.ExpiresAt, stored(want.ExpiresAt))
	}
	if want.LastUsedAt.IsZero() {
		if !got.LastUsedAt.IsZero() {
			add("LastUsedAt", got.LastUsedAt, "zero")
		}
	} else if !sameTime(got.LastUsedAt, want.LastUsedAt) {
		add("LastUsedAt", got.LastUsedAt, stored(want.LastUsedAt))
	}
	if got.UserAgent != want.UserAgent {
		add("UserAgent", got.UserAgent, want.UserAgent)
	}
	if got.IP != want.IP {
		add("IP", got.IP, want.IP)
	}
	if got.SessionID != want.SessionID {
		add("SessionID", got.SessionID, want.SessionID)
	}
	return strings.Join(d, "; ")
}

func wantToken(t *testing.T, s gatehouse.TokenStore, want gatehouse.TokenRecord) {
	t.Helper()
	if d := diffToken(*findToken(t, s, want.Hash), want); d != "" {
		t.Errorf("FindToken(%.8s…): %s", want.Hash, d)
	}
}

func testTokenCreateFind(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	r := newToken("a", gatehouse.NewID(), clk, time.Hour)
	r.LastUsedAt = clk.Now().Add(time.Second)
	createToken(t, s, r)
	wantToken(t, s, r)
	r2 := newToken("b", r.UserID, clk, 2*time.Hour)
	createToken(t, s, r2)
	wantToken(t, s, r2)
	wantToken(t, s, r)
}

func testTokenCreatedAtDefault(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	r := newToken("a", gatehouse.NewID(), clk, time.Hour)
	r.CreatedAt = time.Time{}
	createToken(t, s, r)
	got := findToken(t, s, r.Hash)
	if !sameTime(got.CreatedAt, clk.Now()) {
		t.Errorf("zero CreatedAt stored as %v, want the store's clock %v", got.CreatedAt, stored(clk.Now()))
	}
	if !got.LastUsedAt.IsZero() {
		t.Errorf("zero LastUsedAt stored as %v, want zero", got.LastUsedAt)
	}
}

func testTokenNotFound(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	wantNoToken(t, s, clk, tokenHash("never created"))
	wantNoToken(t, s, clk, "")
	r := newToken("a", gatehouse.NewID(), clk, time.Hour)
	createToken(t, s, r)
	// Hashes compare exactly: no case folding, no prefix or pattern match.
	for _, h := range []string{strings.ToUpper(r.Hash), r.Hash[:63], r.Hash + " ", r.Hash[:63] + "_", r.Hash[:60] + "%", "*"} {
		wantNoToken(t, s, clk, h)
	}
}

func testTokenExpiry(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	r := newToken("a", gatehouse.NewID(), clk, time.Minute)
	createToken(t, s, r)
	clk.Add(time.Minute - time.Microsecond)
	wantToken(t, s, r)
	// At ExpiresAt the token is dead.
	clk.Add(time.Microsecond)
	wantNoToken(t, s, clk, r.Hash)
	clk.Add(time.Hour)
	wantNoToken(t, s, clk, r.Hash)
}

func testTokenCreateExpired(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	past := newToken("past", gatehouse.NewID(), clk, -time.Second)
	if err := s.CreateToken(t.Context(), past); err != nil {
		t.Fatalf("CreateToken of an expired token: %v", err)
	}
	wantNoToken(t, s, clk, past.Hash)
	now := newToken("now", past.UserID, clk, 0)
	if err := s.CreateToken(t.Context(), now); err != nil {
		t.Fatalf("CreateToken expiring now: %v", err)
	}
	wantNoToken(t, s, clk, now.Hash)
	if n := deleteUserTokens(t, s, past.UserID); n != 0 {
		t.Errorf("DeleteUserTokens of a user with expired tokens only = %d, want 0", n)
	}
}

func testTokenTouch(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	r := newToken("a", gatehouse.NewID(), clk, time.Hour)
	other := newToken("b", r.UserID, clk, time.Hour)
	createToken(t, s, r)
	createToken(t, s, other)
	touch := func(at time.Time) {
		t.Helper()
		if err := s.TouchToken(t.Context(), r.Hash, at); err != nil {
			t.Fatalf("TouchToken(%v): %v", at, err)
		}
	}
	first := clk.Now().Add(time.Minute)
	touch(first)
	r.LastUsedAt = first
	wantToken(t, s, r)
	// A use reported late, by a slower request, does not move it back.
	touch(first.Add(-time.Second))
	wantToken(t, s, r)
	later := first.Add(10*time.Minute + 987654321*time.Nanosecond)
	touch(later.In(time.FixedZone("UTC-7", -7*60*60)))
	r.LastUsedAt = later
	wantToken(t, s, r)
	// Only the token touched changes.
	wantToken(t, s, other)
}

func testTokenTouchGoneOrExpired(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	err := s.TouchToken(t.Context(), tokenHash("never created"), clk.Now())
	wantCode(t, "TouchToken of an unknown hash", err, gatehouse.CodeNotFound)

	r := newToken("a", gatehouse.NewID(), clk, time.Minute)
	createToken(t, s, r)
	clk.Add(time.Minute)
	err = s.TouchToken(t.Context(), r.Hash, clk.Now())
	wantCode(t, "TouchToken of an expired token", err, gatehouse.CodeNotFound)

	d := newToken("d", r.UserID, clk, time.Minute)
	createToken(t, s, d)
	if err := s.DeleteToken(t.Context(), d.Hash); err != nil {
		t.Fatal(err)
	}
	err = s.TouchToken(t.Context(), d.Hash, clk.Now())
	wantCode(t, "TouchToken of a deleted token", err, gatehouse.CodeNotFound)
	// Touching must not bring a deleted token back.
	wantNoToken(t, s, clk, d.Hash)
}

func testTokenDelete(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	r := newToken("a", gatehouse.NewID(), clk, time.Hour)
	keep := newToken("b", r.UserID, clk, time.Hour)
	createToken(t, s, r)
	createToken(t, s, keep)
	for i := range 2 {
		if err := s.DeleteToken(t.Context(), r.Hash); err != nil {
			t.Fatalf("DeleteToken #%d: %v", i+1, err)
		}
		wantNoToken(t, s, clk, r.Hash)
	}
	if err := s.DeleteToken(t.Context(), tokenHash("never created")); err != nil {
		t.Errorf("DeleteToken of an unknown hash: %v, want nil", err)
	}
	wantToken(t, s, keep)
	if n := deleteUserTokens(t, s, r.UserID); n != 1 {
		t.Errorf("DeleteUserTokens after deleting one of two tokens = %d, want 1", n)
	}
}

func testTokenDeleteUserTokens(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	alice, bob := gatehouse.NewID(), gatehouse.NewID()
	var aliceTokens []gatehouse.TokenRecord
	for i := range 3 {
		r := newToken(fmt.Sprint("alice-", i), alice, clk, time.Hour)
		createToken(t, s, r)
		aliceTokens = append(aliceTokens, r)
	}
	short := newToken("alice-short", alice, clk, time.Minute)
	createToken(t, s, short)
	bobs := []gatehouse.TokenRecord{newToken("bob-0", bob, clk, time.Hour), newToken("bob-1", bob, clk, 2*time.Hour)}
	for _, r := range bobs {
		createToken(t, s, r)
	}

	// The short token has expired: it is not counted, and goes anyway.
	clk.Add(time.Minute)
	if n := deleteUserTokens(t, s, alice); n != len(aliceTokens) {
		t.Errorf("DeleteUserTokens(alice) = %d, want %d", n, len(aliceTokens))
	}
	for _, r := range append(aliceTokens, short) {
		wantNoToken(t, s, clk, r.Hash)
	}
	for _, r := range bobs {
		wantToken(t, s, r)
	}
	if n := deleteUserTokens(t, s, alice); n != 0 {
		t.Errorf("second DeleteUserTokens(alice) = %d, want 0", n)
	}
	if n := deleteUserTokens(t, s, gatehouse.NewID()); n != 0 {
		t.Errorf("DeleteUserTokens of a user without tokens = %d, want 0", n)
	}

	// A user logged out everywhere can log in again.
	again := newToken("alice-again", alice, clk, time.Hour)
	createToken(t, s, again)
	wantToken(t, s, again)
	if n := deleteUserTokens(t, s, bob); n != len(bobs) {
		t.Errorf("DeleteUserTokens(bob) = %d, want %d", n, len(bobs))
	}
	wantToken(t, s, again)
}

func testTokenDuplicateHash(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	r := newToken("a", gatehouse.NewID(), clk, time.Hour)
	createToken(t, s, r)
	for _, dup := range []gatehouse.TokenRecord{
		{Hash: r.Hash, UserID: r.UserID, ExpiresAt: r.ExpiresAt.Add(time.Hour), UserAgent: "same user"},
		{Hash: r.Hash, UserID: gatehouse.NewID(), ExpiresAt: r.ExpiresAt.Add(time.Hour), UserAgent: "other user"},
	} {
		err := s.CreateToken(t.Context(), dup)
		wantCode(t, "CreateToken with a hash in use ("+dup.UserAgent+")", err, gatehouse.CodeConflict)
		wantToken(t, s, r)
		// The failed attempt gave the other user no hold on the token.
		if dup.UserID != r.UserID {
			if n := deleteUserTokens(t, s, dup.UserID); n != 0 {
				t.Errorf("DeleteUserTokens of the other user = %d, want 0", n)
			}
			wantToken(t, s, r)
		}
	}
}

// longUserAgent is 512 bytes of mixed-width UTF-8, the most a strategy
// keeps of a User-Agent header.
func longUserAgent() string {
	var b strings.Builder
	for _, r := range strings.Repeat("Mozilla/5.0 ü 日本 🚀 ", 40) {
		if b.Len()+utf8.RuneLen(r) > 512 {
			break
		}
		b.WriteRune(r)
	}
	for b.Len() < 512 {
		b.WriteByte('.')
	}
	return b.String()
}

func testTokenRecordsRoundTrip(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	user := gatehouse.NewID()
	base := clk.Now()
	tests := []struct {
		name string
		edit func(r *gatehouse.TokenRecord)
	}{
		{"Plain", func(r *gatehouse.TokenRecord) {}},
		{"Empty", func(r *gatehouse.TokenRecord) { r.UserAgent, r.IP, r.SessionID = "", "", gatehouse.ID{} }},
		{"Unicode", func(r *gatehouse.TokenRecord) {
			r.UserAgent = "Navigateur « spécial » — 日本語 🚀 \"quoted\" 'single' \\ ;"
		}},
		{"LongUserAgent", func(r *gatehouse.TokenRecord) { r.UserAgent = longUserAgent() }},
		{"IPv6", func(r *gatehouse.TokenRecord) { r.IP = "2001:db8::8a2e:370:7334" }},
		{"IPv4Mapped", func(r *gatehouse.TokenRecord) { r.IP = "::ffff:203.0.113.9" }},
		{"IPv6Zone", func(r *gatehouse.TokenRecord) { r.IP = "fe80::1%eth0" }},
		{"Separators", func(r *gatehouse.TokenRecord) { r.UserAgent, r.IP = "a:b|c\td\ne,f{g}", "x:y" }},
		{"LastUsed", func(r *gatehouse.TokenRecord) { r.LastUsedAt = base.Add(time.Millisecond) }},
		{"Nanoseconds", func(r *gatehouse.TokenRecord) {
			r.CreatedAt = base.Add(-999 * time.Nanosecond)
			r.ExpiresAt = base.Add(30*24*time.Hour + 1)
			r.LastUsedAt = base.Add(1500 * time.Nanosecond)
		}},
		{"FarFuture", func(r *gatehouse.TokenRecord) { r.ExpiresAt = base.AddDate(5, 0, 0) }},
	}
	for _, tt := range tests {
		r := newToken(tt.name, user, clk, time.Hour)
		tt.edit(&r)
		createToken(t, s, r)
		if d := diffToken(*findToken(t, s, r.Hash), r); d != "" {
			t.Errorf("%s: %s", tt.name, d)
		}
	}
	if n, want := deleteUserTokens(t, s, user), len(tests); n != want {
		t.Errorf("DeleteUserTokens = %d, want %d", n, want)
	}
}

func testTokenConcurrentCreate(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	const n = 20
	user := gatehouse.NewID()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := newToken(fmt.Sprint("concurrent-", i), user, clk, time.Duration(i+1)*time.Minute)
			if err := s.CreateToken(t.Context(), r); err != nil {
				t.Errorf("CreateToken #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		findToken(t, s, tokenHash(fmt.Sprint("concurrent-", i)))
	}
	if got := deleteUserTokens(t, s, user); got != n {
		t.Errorf("DeleteUserTokens after %d concurrent creations = %d", n, got)
	}
}

func testTokenConcurrentCreateSameHash(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	const n = 8
	users := make([]gatehouse.ID, n)
	for i := range users {
		users[i] = gatehouse.NewID()
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		winner = -1
		wins   int
	)
	for i := range n {
		wg.Go(func() {
			err := s.CreateToken(t.Context(), newToken("contested", users[i], clk, time.Hour))
			switch code(err) {
			case "":
				mu.Lock()
				winner, wins = i, wins+1
				mu.Unlock()
			case gatehouse.CodeConflict:
			default:
				t.Errorf("CreateToken #%d: %v, want nil or a %q error", i, err, gatehouse.CodeConflict)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent CreateToken calls with one hash succeeded, want 1", wins, n)
	}
	if got := findToken(t, s, tokenHash("contested")); got.UserID != users[winner] {
		t.Errorf("token belongs to %v, want the winner %v", got.UserID, users[winner])
	}
	for i, u := range users {
		want := 0
		if i == winner {
			want = 1
		}
		if got := deleteUserTokens(t, s, u); got != want {
			t.Errorf("DeleteUserTokens(user #%d) = %d, want %d", i, got, want)
		}
	}
}

func testTokenSweep(t *testing.T, s gatehouse.TokenStore, clk *clock) {
	sw, ok := s.(sweeper)
	if !ok {
		t.Skipf("%T has no Sweep method", s)
	}
	user := gatehouse.NewID()
	createToken(t, s, newToken("soon-1", user, clk, time.Minute))
	createToken(t, s, newToken("soon-2", user, clk, 2*time.Minute))
	later := newToken("later", user, clk, time.Hour)
	createToken(t, s, later)
	n, err := sw.Sweep(t.Context())
	if err != nil || n != 0 {
		t.Errorf("Sweep before anything expired = %d, %v; want 0, nil", n, err)
	}
	clk.Add(2 * time.Minute)
	n, err = sw.Sweep(t.Context())
	if err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want 2, nil", n, err)
	}
	wantToken(t, s, later)
	n, err = sw.Sweep(t.Context())
	if err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}
