package totp_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/totp"
)

// codeFormat is what users are shown: Crockford base32, lower case.
var codeFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestGenerateRecoveryCodes(t *testing.T) {
	codes, err := totp.GenerateRecoveryCodes(1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1000 {
		t.Fatalf("got %d codes, want 1000", len(codes))
	}
	seen := make(map[string]bool)
	hashes := make(map[string]bool)
	for _, c := range codes {
		if !codeFormat.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx of the alphabet", c)
		}
		if seen[c] {
			t.Errorf("code %q twice", c)
		}
		seen[c] = true
		n, ok := totp.NormalizeRecoveryCode(c)
		if !ok || n != strings.Replace(c, "-", "", 1) {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v", c, n, ok)
		}
		h := totp.HashRecoveryCode(c)
		if h == "" || hashes[h] {
			t.Errorf("HashRecoveryCode(%q) = %q: empty or a duplicate", c, h)
		}
		hashes[h] = true
	}
}

func TestGenerateRecoveryCodes_Count(t *testing.T) {
	codes, err := totp.GenerateRecoveryCodes(0)
	if err != nil || len(codes) != 0 {
		t.Errorf("GenerateRecoveryCodes(0) = %q, %v", codes, err)
	}
	codes, err = totp.GenerateRecoveryCodes(-1)
	if err == nil || codes != nil {
		t.Errorf("GenerateRecoveryCodes(-1) = %q, %v; want an error", codes, err)
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" when invalid
	}{
		{"abcde-fghjk", "abcdefghjk"},
		{"ABCDE-FGHJK", "abcdefghjk"},
		{"abcdefghjk", "abcdefghjk"},
		{"abcde fghjk", "abcdefghjk"},
		{" ab cde-fg-hjk\r\n", "abcdefghjk"},
		{"\tabcde--fghjk ", "abcdefghjk"},
		// Letters read as digits.
		{"oOiIl-L0123", "0011110123"},
		{"x0o1i-1lyz9", "x001111yz9"},
		// Invalid: length.
		{"", ""},
		{"-----", ""},
		{"abcde-fghj", ""},
		{"abcde-fghjkm", ""},
		{strings.Repeat("a", 1000), ""},
		// Invalid: characters.
		{"abcde-fghju", ""}, // u is not in the alphabet
		{"abcde_fghjk", ""}, // only spaces and hyphens are dropped
		{"abcde.fghjk", ""},
		{"abcde-fghj\u212a", ""}, // Kelvin sign, which strings.ToLower makes k
		{"abcde-fghjé", ""},
		{"abcde–fghjk", ""}, // en dash
		{"abcde\x00fghjk", ""},
	} {
		got, ok := totp.NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestHashRecoveryCode(t *testing.T) {
	// The stored hashes depend on this value: it must never change.
	const want = "22f3f00d7f9cfe6eeefa9b71bdcb093a9080fcf4981d2dbf932648fa15a2d793"
	for _, in := range []string{"abcde-fghjk", "abcdefghjk", "ABCDE FGHJK", " abcde-fghjk\n"} {
		if got := totp.HashRecoveryCode(in); got != want {
			t.Errorf("HashRecoveryCode(%q) = %s, want %s", in, got, want)
		}
	}
	// Confusables hash as the code they stand for.
	if a, b := totp.HashRecoveryCode("01234-56789"), totp.HashRecoveryCode("oi234-56789"); a != b || a == "" {
		t.Errorf("hashes of 01234-56789 and oi234-56789 differ: %s, %s", a, b)
	}
	if a, b := totp.HashRecoveryCode("abcde-fghjk"), totp.HashRecoveryCode("abcde-fghjm"); a == b {
		t.Errorf("two codes have the same hash %s", a)
	}
	for _, in := range []string{"", "abcde-fghju", "abcde"} {
		if got := totp.HashRecoveryCode(in); got != "" {
			t.Errorf("HashRecoveryCode(%q) = %q, want \"\"", in, got)
		}
	}
}
