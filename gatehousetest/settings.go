package gatehousetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestSettingStore checks that a gatehouse.SettingStore behaves as
// documented:
//
//   - a key never set is CodeNotFound, also once other keys are set;
//   - SetSetting makes a value the value of its key, replacing any before,
//     and an empty value is a value, not an unset key;
//   - keys are compared exactly: case, spaces and LIKE wildcards count;
//   - values come back byte for byte, Unicode and long ones included;
//   - of 8 concurrent SetSetting calls for one key, all succeed and the
//     key ends with one of their values;
//   - a key or value that is not UTF-8 text without NUL bytes, which
//     PostgreSQL's text cannot hold, is refused by SetSetting, leaving the
//     stored value, and such a key is CodeNotFound to Setting.
//
// open must return a new, empty store.
func TestSettingStore(t *testing.T, open func(t *testing.T) gatehouse.SettingStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s gatehouse.SettingStore)
	}{
		{"Unset", testSettingUnset},
		{"SetGet", testSettingSetGet},
		{"Overwrite", testSettingOverwrite},
		{"ExactKeys", testSettingExactKeys},
		{"EmptyValue", testSettingEmptyValue},
		{"ConcurrentSet", testSettingConcurrentSet},
		{"NotText", testSettingNotText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

func setSetting(t *testing.T, s gatehouse.SettingStore, key, value string) {
	t.Helper()
	if err := s.SetSetting(t.Context(), key, value); err != nil {
		t.Fatalf("SetSetting(%q, %q): %v", key, value, err)
	}
}

func wantSetting(t *testing.T, s gatehouse.SettingStore, key, want string) {
	t.Helper()
	got, err := s.Setting(t.Context(), key)
	if err != nil || got != want {
		t.Errorf("Setting(%q) = %q, %v; want %q, nil", key, got, err, want)
	}
}

func wantNoSetting(t *testing.T, s gatehouse.SettingStore, what, key string) {
	t.Helper()
	got, err := s.Setting(t.Context(), key)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("Setting(%q) %s = %q, %v; want a %q error", key, what, got, err, gatehouse.CodeNotFound)
	}
}

func testSettingUnset(t *testing.T, s gatehouse.SettingStore) {
	wantNoSetting(t, s, "in an empty store", gatehouse.SettingMFARequired)
	wantNoSetting(t, s, "in an empty store", "")
	setSetting(t, s, "other", "x")
	wantNoSetting(t, s, "when only another key is set", gatehouse.SettingMFARequired)
}

func testSettingSetGet(t *testing.T, s gatehouse.SettingStore) {
	tests := []struct{ name, key, value string }{
		{"Plain", gatehouse.SettingMFARequired, gatehouse.MFARequiredEveryone},
		{"Spaces", "spaces", "  leading and trailing  "},
		{"Lines", "lines", "one\ntwo\r\nthree\t"},
		{"Quotes", "quotes", `'; DROP TABLE settings; --"`},
		{"Unicode", "unicode", "żółć ☃ 日本語 🔐 e\u0301"},
		{"UnicodeKey", "ключ.🔑", "value"},
		{"JSON", "json", `{"a":[1,"\u0000"],"b":null}`},
		{"Long", "long", strings.Repeat("0123456789abcdef", 4096)},
	}
	for _, tt := range tests {
		setSetting(t, s, tt.key, tt.value)
	}
	// Read after all the writes, so that no value came back from one
	// written just before by chance.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantSetting(t, s, tt.key, tt.value) })
	}
}

func testSettingOverwrite(t *testing.T, s gatehouse.SettingStore) {
	key := gatehouse.SettingMFARequired
	for _, v := range []string{
		gatehouse.MFARequiredSuperusers, gatehouse.MFARequiredEveryone,
		gatehouse.MFARequiredEveryone, gatehouse.MFARequiredNobody,
	} {
		setSetting(t, s, key, v)
		wantSetting(t, s, key, v)
	}
}

func testSettingExactKeys(t *testing.T, s gatehouse.SettingStore) {
	keys := []string{"a.b", "A.B", "a.b ", " a.b", "a_b", "a%b", "a.b.c", "a"}
	for i, k := range keys {
		setSetting(t, s, k, fmt.Sprintf("value %d", i))
	}
	// Changing one key leaves the others.
	setSetting(t, s, "a.b", "changed")
	for i, k := range keys[1:] {
		wantSetting(t, s, k, fmt.Sprintf("value %d", i+1))
	}
	wantSetting(t, s, "a.b", "changed")
	for _, k := range []string{"a.", "a.b.", "ab", "a?b", "%", "_"} {
		wantNoSetting(t, s, "of a key never set", k)
	}
}

func testSettingEmptyValue(t *testing.T, s gatehouse.SettingStore) {
	setSetting(t, s, "empty", "")
	wantSetting(t, s, "empty", "")
	setSetting(t, s, "empty", "full")
	wantSetting(t, s, "empty", "full")
	// Back to empty: still set, not deleted.
	setSetting(t, s, "empty", "")
	wantSetting(t, s, "empty", "")
	// The empty key is a key like any other.
	setSetting(t, s, "", "of the empty key")
	wantSetting(t, s, "", "of the empty key")
	wantSetting(t, s, "empty", "")
}

func testSettingConcurrentSet(t *testing.T, s gatehouse.SettingStore) {
	const key = "contended"
	var (
		n      atomic.Int32
		values []string
	)
	for i := range mfaRacers {
		values = append(values, fmt.Sprintf("value of caller %d", i+1))
	}
	warm := func() { _, _ = s.Setting(context.Background(), "warm") }
	errs := race(warm, func() error {
		return s.SetSetting(context.Background(), key, values[n.Add(1)-1])
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent SetSetting %d: %v", i, err)
		}
	}
	got, err := s.Setting(t.Context(), key)
	if err != nil || !slices.Contains(values, got) {
		t.Errorf("Setting after concurrent SetSetting calls = %q, %v; want one of %q", got, err, values)
	}
}

func testSettingNotText(t *testing.T, s gatehouse.SettingStore) {
	setSetting(t, s, "k", "kept")
	for _, v := range []string{"nul\x00byte", "bad \xff utf-8", "\xc3"} {
		if err := s.SetSetting(t.Context(), "k", v); err == nil {
			t.Errorf("SetSetting of the value %q succeeded, want an error", v)
		}
		if err := s.SetSetting(t.Context(), v, "x"); err == nil {
			t.Errorf("SetSetting of the key %q succeeded, want an error", v)
		}
		wantNoSetting(t, s, "of a key that is not text", v)
	}
	wantSetting(t, s, "k", "kept")
}

// NonceStores is the NonceStore that TestNonceStore checks and its
// clean-up.
type NonceStores struct {
	Nonces gatehouse.NonceStore
	// Sweep deletes the nonces expired by the store's clock and returns
	// how many it deleted; nil for a store that forgets by itself, whose
	// Sweep test is then skipped.
	Sweep func(context.Context) (int64, error)
}

// TestNonceStore checks that a gatehouse.NonceStore behaves as
// documented:
//
//   - UseNonce succeeds once per nonce: a second use, whatever its until,
//     is CodeConflict for as long as the first until has not passed, and
//     of 8 concurrent uses of one nonce exactly one succeeds, the others
//     getting CodeConflict;
//   - nonces are compared exactly, and using one leaves the others usable;
//   - an empty nonce, one that is not UTF-8 text without NUL bytes, and a
//     zero until are refused with an error, every time, so that state
//     lacking a nonce never passes;
//   - Sweep deletes the nonces whose until has come by the store's clock
//     (at until, to the microsecond) and no others, and counts them.
//
// A swept nonce can be used again, and the suite checks that it can: the
// record is what stops a replay, so a state must have expired by the
// until given for its nonce, or it could be replayed once the record is
// gone. What happens to a nonce used again after until but before a sweep
// is left to the store.
//
// open must return a new, empty store whose clock is now.
func TestNonceStore(t *testing.T, open func(t *testing.T, now func() time.Time) NonceStores) {
	tests := []struct {
		name string
		run  func(t *testing.T, s NonceStores, clk *clock)
	}{
		{"UseOnce", testNonceUseOnce},
		{"ConcurrentUse", testNonceConcurrentUse},
		{"ExactNonces", testNonceExact},
		{"Invalid", testNonceInvalid},
		{"Sweep", testNonceSweep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			tt.run(t, open(t, clk.Now), clk)
		})
	}
}

// nonceLife is how long the suite's nonces are kept, as long as the state
// carrying them lives.
const nonceLife = 10 * time.Minute

func useNonce(t *testing.T, s gatehouse.NonceStore, nonce string, until time.Time) {
	t.Helper()
	if err := s.UseNonce(t.Context(), nonce, until); err != nil {
		t.Fatalf("UseNonce(%q): %v", nonce, err)
	}
}

func wantNonceUsed(t *testing.T, s gatehouse.NonceStore, what, nonce string, until time.Time) {
	t.Helper()
	wantCode(t, fmt.Sprintf("UseNonce(%q) %s", nonce, what), s.UseNonce(t.Context(), nonce, until), gatehouse.CodeConflict)
}

func testNonceUseOnce(t *testing.T, s NonceStores, clk *clock) {
	until := clk.Now().Add(nonceLife)
	useNonce(t, s.Nonces, "n-1", until)
	wantNonceUsed(t, s.Nonces, "again", "n-1", until)
	wantNonceUsed(t, s.Nonces, "a third time", "n-1", until)
	// Another until changes nothing: the first stands.
	wantNonceUsed(t, s.Nonces, "with a later until", "n-1", until.Add(time.Hour))
	wantNonceUsed(t, s.Nonces, "with an earlier until", "n-1", clk.Now().Add(-time.Hour))
	// Until the last microsecond of its until, the nonce stays used.
	clk.Set(stored(until).Add(-time.Microsecond))
	wantNonceUsed(t, s.Nonces, "just before until", "n-1", until)
	if s.Sweep != nil {
		if _, err := s.Sweep(t.Context()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		wantNonceUsed(t, s.Nonces, "swept just before until", "n-1", until)
	}
}

func testNonceConcurrentUse(t *testing.T, s NonceStores, clk *clock) {
	until := clk.Now().Add(nonceLife)
	// Warming up writes nonces of its own: a NonceStore has nothing to
	// read.
	var n atomic.Int32
	warm := func() {
		_ = s.Nonces.UseNonce(context.Background(), fmt.Sprintf("warm-%d", n.Add(1)), until)
	}
	errs := race(warm, func() error { return s.Nonces.UseNonce(context.Background(), "contended", until) })
	wantOneWinner(t, "UseNonce of one nonce", errs, gatehouse.CodeConflict)
	wantNonceUsed(t, s.Nonces, "after concurrent uses", "contended", until)
}

func testNonceExact(t *testing.T, s NonceStores, clk *clock) {
	until := clk.Now().Add(nonceLife)
	nonces := []string{"AbC-1", "abc-1", "ABC-1", "AbC-", "AbC-1 ", " AbC-1", "AbC-%", "AbC-_", "ÀbC-1"}
	for _, n := range nonces {
		useNonce(t, s.Nonces, n, until)
	}
	for _, n := range nonces {
		wantNonceUsed(t, s.Nonces, "after all were used", n, until)
	}
}

func testNonceInvalid(t *testing.T, s NonceStores, clk *clock) {
	until := clk.Now().Add(nonceLife)
	tests := []struct {
		name  string
		nonce string
		until time.Time
	}{
		{"Empty", "", until},
		{"NUL", "nul\x00byte", until},
		{"NotUTF8", "bad \xff utf-8", until},
		{"ZeroUntil", "fine", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 2 {
				if err := s.Nonces.UseNonce(t.Context(), tt.nonce, tt.until); err == nil {
					t.Errorf("UseNonce(%q, %v), call %d, succeeded; want an error", tt.nonce, tt.until, i+1)
				}
			}
		})
	}
	// The refusal recorded nothing.
	useNonce(t, s.Nonces, "fine", until)
}

func testNonceSweep(t *testing.T, s NonceStores, clk *clock) {
	if s.Sweep == nil {
		t.Skip("the store has no Sweep")
	}
	ctx, now := t.Context(), clk.Now()
	sweep := func(what string, want int64) {
		t.Helper()
		if n, err := s.Sweep(ctx); err != nil || n != want {
			t.Errorf("Sweep %s = %d, %v; want %d, nil", what, n, err, want)
		}
	}
	useNonce(t, s.Nonces, "expired", now.Add(-time.Second))
	useNonce(t, s.Nonces, "soon", now.Add(time.Minute))
	useNonce(t, s.Nonces, "later", now.Add(nonceLife))

	sweep("with one nonce expired", 1)
	sweep("again", 0)
	clk.Set(stored(now.Add(time.Minute)).Add(-time.Microsecond))
	sweep("a microsecond before until", 0)
	wantNonceUsed(t, s.Nonces, "a microsecond before until, swept", "soon", now.Add(time.Minute))
	// At until, to the microsecond, the record may go.
	clk.Set(stored(now.Add(time.Minute)))
	sweep("at until", 1)
	wantNonceUsed(t, s.Nonces, "not yet expired, after a sweep", "later", now.Add(nonceLife))

	// Swept, a nonce is forgotten: it can be used again, which is why the
	// state carrying it must have expired by its until.
	for _, n := range []string{"expired", "soon"} {
		useNonce(t, s.Nonces, n, clk.Now().Add(nonceLife))
		wantNonceUsed(t, s.Nonces, "used again after a sweep", n, clk.Now().Add(nonceLife))
	}
	sweep("after reuse", 0)
}
