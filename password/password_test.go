package password_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

// cheap keeps tests fast; only the tests about defaults use DefaultParams.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

// phcRE is an independent reading of the PHC format, so the tests do not
// trust the package's own parser.
var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

type parsed struct {
	m, t, p   uint64
	salt, key []byte
}

func parsePHC(t *testing.T, hash string) parsed {
	t.Helper()
	g := phcRE.FindStringSubmatch(hash)
	if g == nil {
		t.Fatalf("not a PHC argon2id string: %q", hash)
	}
	var r parsed
	var err error
	for i, dst := range []*uint64{&r.m, &r.t, &r.p} {
		if *dst, err = strconv.ParseUint(g[i+1], 10, 32); err != nil {
			t.Fatal(err)
		}
	}
	if r.salt, err = base64.RawStdEncoding.DecodeString(g[4]); err != nil {
		t.Fatal(err)
	}
	if r.key, err = base64.RawStdEncoding.DecodeString(g[5]); err != nil {
		t.Fatal(err)
	}
	return r
}

// mustHash hashes pw with h or fails the test.
func mustHash(t *testing.T, h *password.Hasher, pw string) string {
	t.Helper()
	hash, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return hash
}

// verify calls h.Verify and fails the test on an error.
func verify(t *testing.T, h *password.Hasher, pw, hash string) (bool, string) {
	t.Helper()
	ok, rehash, err := h.Verify(context.Background(), pw, hash)
	if err != nil {
		t.Fatalf("Verify(%q): %v", hash, err)
	}
	if !ok && rehash != "" {
		t.Fatalf("Verify: no match but rehash %q", rehash)
	}
	return ok, rehash
}

func TestHashFormat(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap}
	const pw = "correct horse battery staple"
	hash := mustHash(t, h, pw)
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash = %q, want prefix $argon2id$v=19$m=64,t=1,p=1$", hash)
	}
	if strings.Count(hash, "=") != 4 { // v=, m=, t=, p=
		t.Errorf("hash %q has base64 padding", hash)
	}
	r := parsePHC(t, hash)
	if len(r.salt) != 16 || len(r.key) != 32 {
		t.Errorf("salt %d bytes, key %d bytes; want 16 and 32", len(r.salt), len(r.key))
	}
	// Recompute with x/crypto directly: the encoder wrote what argon2 made.
	want := argon2.IDKey([]byte(pw), r.salt, uint32(r.t), uint32(r.m), uint8(r.p), 32)
	if string(want) != string(r.key) {
		t.Error("encoded key is not argon2id(password, salt)")
	}
	if ok, rehash := verify(t, h, pw, hash); !ok || rehash != "" {
		t.Errorf("Verify = %v, %q; want true, no rehash", ok, rehash)
	}
	if ok, _ := verify(t, h, "correct horse battery stapLe", hash); ok {
		t.Error("Verify accepted a different password")
	}
}

func TestHashDefaultParams(t *testing.T) {
	t.Parallel()
	var h password.Hasher // the zero value
	hash := mustHash(t, &h, "correct horse battery staple")
	r := parsePHC(t, hash)
	// Checklist item 15: at least OWASP's baseline.
	if r.m < 19456 || r.t < 2 || r.p < 1 {
		t.Errorf("stored m=%d,t=%d,p=%d; want >= m=19456,t=2,p=1", r.m, r.t, r.p)
	}
	d := password.DefaultParams()
	if r.m != uint64(d.Memory) || r.t != uint64(d.Time) || r.p != uint64(d.Threads) {
		t.Errorf("stored m=%d,t=%d,p=%d; want DefaultParams %+v", r.m, r.t, r.p, d)
	}
	if d != (password.Params{Memory: 19456, Time: 2, Threads: 1}) {
		t.Errorf("DefaultParams() = %+v", d)
	}
	if len(r.salt) < 16 {
		t.Errorf("salt is %d bytes, want >= 16", len(r.salt))
	}
	if ok, rehash := verify(t, &h, "correct horse battery staple", hash); !ok || rehash != "" {
		t.Errorf("Verify = %v, %q; want true, no rehash", ok, rehash)
	}
}

func TestHashSalts(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap}
	a, b := mustHash(t, h, "same password"), mustHash(t, h, "same password")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	if string(parsePHC(t, a).salt) == string(parsePHC(t, b).salt) {
		t.Error("two hashes share a salt")
	}
	for _, hash := range []string{a, b} {
		if ok, _ := verify(t, h, "same password", hash); !ok {
			t.Errorf("Verify(%q) = false", hash)
		}
	}
}

func TestHashParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		params  password.Params
		want    string // PHC prefix; "" means an error
		wantErr bool
	}{
		{"partial fills defaults", password.Params{Memory: 128}, "$argon2id$v=19$m=128,t=2,p=1$", false},
		{"threads", password.Params{Memory: 64, Time: 1, Threads: 4}, "$argon2id$v=19$m=64,t=1,p=4$", false},
		{"memory below 8 per lane", password.Params{Memory: 16, Time: 1, Threads: 4}, "", true},
		{"absurd time", password.Params{Memory: 64, Time: 5000, Threads: 1}, "", true},
		{"absurd memory", password.Params{Memory: 1 << 30, Time: 1, Threads: 1}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &password.Hasher{Params: tt.params}
			hash, err := h.Hash(context.Background(), "correct horse")
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "password: ") {
					t.Fatalf("Hash = %q, %v; want a password: error", hash, err)
				}
				return
			}
			if err != nil || !strings.HasPrefix(hash, tt.want) {
				t.Fatalf("Hash = %q, %v; want prefix %q", hash, err, tt.want)
			}
		})
	}
}

// TestVerifyVectors checks hashes made by other implementations.
func TestVerifyVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, password, hash string
	}{
		// phc-winner-argon2 (the reference implementation), src/test.c.
		{"reference m=256 p=1", "password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{"reference m=256 p=2", "password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
		{"reference m=65536", "password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"reference other password", "differentpassword", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$C4TWUs9rDEvq7w3+J4umqA32aWKB1+DSiRuBfYxFj94"},
		// argon2-cffi's README, with its defaults (those of pwdlib and so of
		// FastAPI Users).
		{"argon2-cffi defaults", "correct horse battery staple", "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg"},
	}
	h := &password.Hasher{Params: cheap}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, rehash := verify(t, h, tt.password, tt.hash)
			if !ok {
				t.Fatal("Verify = false, want true")
			}
			// Other params (and, for the reference, an 8-byte salt): rehash.
			if r := parsePHC(t, rehash); r.m != 64 || r.t != 1 || r.p != 1 {
				t.Errorf("rehash %q does not use the Hasher's params", rehash)
			}
			if ok, _ := verify(t, h, tt.password, rehash); !ok {
				t.Error("rehash does not verify")
			}
			if ok, _ := verify(t, h, tt.password+"x", tt.hash); ok {
				t.Error("Verify accepted a different password")
			}
		})
	}
}

// TestVerifyIndependentEncoder formats a hash by hand from x/crypto/argon2,
// so a bug shared by the package's encoder and parser cannot hide.
func TestVerifyIndependentEncoder(t *testing.T) {
	t.Parallel()
	salt := []byte("0123456789abcdef")
	const pw = "Tr0ub4dor&3 and then some"
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	hash := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if want := "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"; !strings.HasPrefix(hash, want) {
		t.Fatalf("hand-made hash %q lacks %q", hash, want)
	}
	h := &password.Hasher{Params: cheap}
	if ok, rehash := verify(t, h, pw, hash); !ok || rehash != "" {
		t.Errorf("Verify = %v, %q; want true and no rehash (same params and sizes)", ok, rehash)
	}
	if ok, _ := verify(t, h, "Tr0ub4dor&3 and then somE", hash); ok {
		t.Error("Verify accepted a different password")
	}
}

func TestVerifyRehash(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	tests := []struct {
		name            string
		stored, current password.Params
		wantRehash      bool
	}{
		{"same params", cheap, cheap, false},
		{"less memory", password.Params{Memory: 32, Time: 1, Threads: 1}, cheap, true},
		{"fewer passes", password.Params{Memory: 64, Time: 1, Threads: 1}, password.Params{Memory: 64, Time: 2, Threads: 1}, true},
		{"other lanes", password.Params{Memory: 64, Time: 1, Threads: 2}, cheap, true},
		{"stronger stored", password.Params{Memory: 128, Time: 2, Threads: 1}, cheap, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hash := mustHash(t, &password.Hasher{Params: tt.stored}, pw)
			h := &password.Hasher{Params: tt.current}
			ok, rehash := verify(t, h, pw, hash)
			if !ok {
				t.Fatal("Verify = false")
			}
			if (rehash != "") != tt.wantRehash {
				t.Fatalf("rehash = %q, want rehash %v", rehash, tt.wantRehash)
			}
			if rehash == "" {
				return
			}
			r := parsePHC(t, rehash)
			if r.m != uint64(tt.current.Memory) || r.t != uint64(tt.current.Time) || r.p != uint64(tt.current.Threads) {
				t.Errorf("rehash %q, want params %+v", rehash, tt.current)
			}
			if ok, again := verify(t, h, pw, rehash); !ok || again != "" {
				t.Errorf("rehash verifies = %v, %q; want true, no further rehash", ok, again)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		hash := mustHash(t, &password.Hasher{Params: password.Params{Memory: 32, Time: 1, Threads: 1}}, pw)
		if ok, rehash := verify(t, &password.Hasher{Params: cheap}, "wrong", hash); ok || rehash != "" {
			t.Errorf("Verify = %v, %q; want false, no rehash", ok, rehash)
		}
	})
}

func TestVerifyBcrypt(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, minor := range []string{"a", "b", "x", "y"} {
		hash := "$2" + minor + string(b[3:])
		t.Run("$2"+minor+"$", func(t *testing.T) {
			t.Parallel()
			h := &password.Hasher{Params: cheap}
			ok, rehash := verify(t, h, pw, hash)
			if !ok {
				t.Fatal("Verify = false")
			}
			if !strings.HasPrefix(rehash, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Fatalf("rehash = %q, want an argon2id hash with the Hasher's params", rehash)
			}
			if ok, again := verify(t, h, pw, rehash); !ok || again != "" {
				t.Errorf("rehash verifies = %v, %q", ok, again)
			}
			if ok, _ := verify(t, h, "correct horse battery stapLe", hash); ok {
				t.Error("Verify accepted a different password")
			}
		})
	}
}

// TestVerifyBcryptTruncation is checklist item 7: bcrypt reads 72 bytes, so
// x/crypto/bcrypt alone would accept any password that starts the same.
func TestVerifyBcryptTruncation(t *testing.T) {
	t.Parallel()
	base := strings.Repeat("a", 72)
	b, err := bcrypt.GenerateFromPassword([]byte(base), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(b)
	// What a truncating legacy system stored for base+"X": x/crypto/bcrypt
	// itself refuses to hash more than 72 bytes.
	if _, err := bcrypt.GenerateFromPassword([]byte(base+"X"), bcrypt.MinCost); !errors.Is(err, bcrypt.ErrPasswordTooLong) {
		t.Fatalf("bcrypt of 73 bytes: %v, want ErrPasswordTooLong", err)
	}
	if bcrypt.CompareHashAndPassword(b, []byte(base+"Y")) != nil {
		t.Fatal("x/crypto/bcrypt no longer truncates; this test needs a new reason")
	}
	h := &password.Hasher{Params: cheap}
	if ok, _ := verify(t, h, base, hash); !ok {
		t.Error("72-byte password does not verify")
	}
	for _, pw := range []string{base + "X", base + "Y", base + strings.Repeat("b", 100)} {
		if ok, rehash := verify(t, h, pw, hash); ok || rehash != "" {
			t.Errorf("Verify(%d bytes) = %v, %q; want false", len(pw), ok, rehash)
		}
	}
	// bcrypt's key repeats cyclically after a NUL, so "a" and "a\x00a" are
	// one key; neither may stand in for the other.
	short, err := bcrypt.GenerateFromPassword([]byte("abcdefgh"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := verify(t, h, "abcdefgh\x00abcdefgh", string(short)); ok {
		t.Error("Verify accepted a NUL-extended password against bcrypt")
	}
}

// TestVerifyNormalization is checklist item 6: passwords are compared in
// NFKC, so canonically equivalent spellings ("café" precomposed or with a
// combining accent) and compatibility variants (fullwidth letters, the "ﬁ"
// ligature) are one password, while case still matters.
func TestVerifyNormalization(t *testing.T) {
	t.Parallel()
	const (
		nfc = "caf\u00e9 au lait"  // é precomposed
		nfd = "cafe\u0301 au lait" // e + combining acute
	)
	h := &password.Hasher{Params: cheap}
	tests := []struct {
		stored, given string
		want          bool
	}{
		{nfc, nfd, true},
		{nfd, nfc, true},
		{nfc, nfc, true},
		{nfd, nfd, true},
		{"ｐａｓｓ１２３ word", "pass123 word", true},
		{"pass123 word", "ｐａｓｓ１２３ word", true},
		{"ﬁve little pigs", "five little pigs", true},
		{nfc, "cafe au lait", false},
		{nfc, "CAF\u00c9 AU LAIT", false},
		{"ｐａｓｓ１２３ word", "PASS123 word", false},
	}
	for _, tt := range tests {
		hash := mustHash(t, h, tt.stored)
		if ok, rehash := verify(t, h, tt.given, hash); ok != tt.want || rehash != "" {
			t.Errorf("stored %+q, given %+q: Verify = %v, %q; want %v, no rehash", tt.stored, tt.given, ok, rehash, tt.want)
		}
	}

	// Hashes of a password not in NFKC, as pwdlib makes them from the raw
	// bytes and earlier versions of this package made them from NFC, still
	// verify with the same input and are replaced by a hash of the NFKC form.
	salt := []byte("0123456789abcdef")
	for _, raw := range []string{nfd, "ｐａｓｓ１２３ word"} {
		legacy := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
			base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte(raw), salt, 1, 64, 1, 32))
		ok, rehash := verify(t, h, raw, legacy)
		if !ok || rehash == "" {
			t.Fatalf("legacy hash of %+q: Verify = %v, %q; want true with a rehash", raw, ok, rehash)
		}
		if ok, again := verify(t, h, norm.NFKC.String(raw), rehash); !ok || again != "" {
			t.Errorf("rehash of the legacy hash of %+q does not verify with NFKC input: %v, %q", raw, ok, again)
		}
	}
}

// TestTooLong is checklist item 3: a huge password is refused before any
// hashing. The context is cancelled, so any attempt to hash would show as a
// CodeUnavailable error instead.
func TestTooLong(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	huge := strings.Repeat("a", 1<<20)
	h := &password.Hasher{Params: cheap}
	hash := mustHash(t, h, "a password")

	start := time.Now()
	_, err := h.Hash(ctx, huge)
	if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidPassword {
		t.Fatalf("Hash(1 MiB) = %v, want CodeInvalidPassword", err)
	}
	if r := gatehouse.ErrorReason(err); r != "Password should be at most 1024 bytes" {
		t.Errorf("reason = %q", r)
	}
	ok, rehash, err := h.Verify(ctx, huge, hash)
	if ok || rehash != "" || err != nil {
		t.Errorf("Verify(1 MiB) = %v, %q, %v; want false, \"\", nil", ok, rehash, err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("rejecting took %v", d)
	}

	// The limit is inclusive, and configurable.
	if _, err := h.Hash(context.Background(), strings.Repeat("a", 1024)); err != nil {
		t.Errorf("Hash(1024 bytes) = %v", err)
	}
	small := &password.Hasher{Params: cheap, MaxBytes: 10}
	if _, err := small.Hash(ctx, "12345678901"); gatehouse.ErrorReason(err) != "Password should be at most 10 bytes" {
		t.Errorf("Hash(11 bytes) with MaxBytes 10 = %v", err)
	}
	if ok, _, err := small.Verify(ctx, "12345678901", mustHash(t, h, "12345678901")); ok || err != nil {
		t.Errorf("Verify(11 bytes) with MaxBytes 10 = %v, %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	const good = "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	bc := "$2b$04$" + strings.Repeat("a", 53)
	tests := []string{
		"",
		"plain text password",
		"$",
		"$argon2id",
		"$argon2id$",
		"$argon2id$$",
		"$argon2id$v=19",
		"$argon2id$v=19$",
		"$argon2id$v=19$m=64,t=1,p=1",
		"$argon2id$v=19$m=64,t=1,p=1$",
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$",
		good + key + "$",
		good + key + "$extra",
		"$argon2id$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,       // no version
		"$argon2id$v=16$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,  // old version
		"$argon2id$v=019$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key, // leading zero
		"$argon2i$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2d$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$ARGON2ID$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key, // order
		"$argon2id$v=19$m=64,t=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,keyid=abc$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64;t=1;p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=064,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=+64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=-64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=x,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=0,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=1,p=16$MDEyMzQ1Njc4OWFiY2RlZg$" + key,        // m < 8p
		"$argon2id$v=19$m=4294967295,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key, // 4 TiB
		"$argon2id$v=19$m=4194305,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,    // 4 GiB + 1 KiB
		"$argon2id$v=19$m=99999999999999999999,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=1001,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=4096,t=1,p=256$MDEyMzQ1Njc4OWFiY2RlZg$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,                                       // 3-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 100) + "$" + key,           // 75-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAA",                // 8-byte key
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + strings.Repeat("A", 90), // 67-byte key
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg==$" + key,                   // padding
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZh$" + key,                     // non-zero trailing bits
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4\nOWFiY2RlZg$" + key,                   // newline
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + strings.ReplaceAll(key, "A", "-"),
		"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key + strings.Repeat("$", 1<<20),
		"$2b$04$" + strings.Repeat("a", 52),    // short
		"$2b$04$" + strings.Repeat("a", 54),    // long
		"$2b$4$" + strings.Repeat("a", 54),     // one-digit cost
		"$2b$03$" + strings.Repeat("a", 53),    // cost below 4
		"$2b$31$" + strings.Repeat("a", 53),    // absurd cost
		"$2b$99$" + strings.Repeat("a", 53),    // impossible cost
		"$2b$-4$" + strings.Repeat("a", 53),    //
		"$2b$04$" + strings.Repeat("+", 53),    // not bcrypt's alphabet
		"$2c$04$" + strings.Repeat("a", 53),    // unknown minor
		"$2$04$" + strings.Repeat("a", 53),     // minor missing (not supported)
		"$3b$04$" + strings.Repeat("a", 53),    //
		strings.Replace(bc, "$04$", "$04x", 1), // separator
		"$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
		"$pbkdf2-sha256$29000$N2bMWSvlnLP2nm3tvRciJA$zVL1fMxx4TJ4dcxX2rEtdYS53Q7q6WIuhwu3lNlJhYY",
		"5f4dcc3b5aa765d61d8327deb882cf99", // bare MD5
	}
	h := &password.Hasher{Params: cheap}
	// Controls: the well-formed strings the cases are made from parse.
	for _, hash := range []string{good + key, bc} {
		if ok, _, err := h.Verify(context.Background(), "password", hash); ok || err != nil {
			t.Fatalf("control Verify(%q) = %v, %v; want false, nil", hash, ok, err)
		}
	}
	for _, hash := range tests {
		ok, rehash, err := h.Verify(context.Background(), "password", hash)
		if err == nil || ok || rehash != "" {
			t.Errorf("Verify(%.80q) = %v, %q, %v; want an error", hash, ok, rehash, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "password: ") {
			t.Errorf("Verify(%.80q) error %q lacks the password: prefix", hash, err)
		}
	}
}

// TestConcurrencyLimit fills the semaphore and checks that waiting respects
// the context.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap, MaxConcurrent: 1}
	hash := mustHash(t, h, "a password")
	release, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "a password"); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash with a full semaphore = %v, want CodeUnavailable wrapping DeadlineExceeded", err)
	}
	if ok, _, err := h.Verify(ctx, "a password", hash); ok || gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Verify with a full semaphore = %v, %v; want CodeUnavailable", ok, err)
	}

	// A waiter gets the slot once it is released.
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "a password")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Hash finished (%v) while the only slot was taken", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("Hash after release = %v", err)
	}

	// A context that has already ended does not hash even with a free slot.
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := h.Hash(cancelled, "a password"); !errors.Is(err, context.Canceled) || gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Hash with a cancelled context = %v", err)
	}
}

// TestConcurrentUse runs the default number of slots from many goroutines
// (meaningful under -race). The queue has room for all of them: refusing a
// burst is TestLimitQueue's business.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	const callers = 16
	h := &password.Hasher{Params: cheap, MaxQueue: callers}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			pw := "password " + strconv.Itoa(i)
			hash, err := h.Hash(context.Background(), pw)
			if err != nil {
				t.Error(err)
				return
			}
			if ok, _, err := h.Verify(context.Background(), pw, hash); !ok || err != nil {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
}

func BenchmarkHash(b *testing.B) {
	var h password.Hasher
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	var h password.Hasher
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", hash); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
