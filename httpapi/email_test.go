package httpapi

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string // want "" = invalid
	}{
		{"alice@example.com", "alice@example.com"},
		{"  Alice@EXAMPLE.Com  ", "Alice@example.com"},
		{"Alice <alice@example.com>", "alice@example.com"},
		{"a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"},
		{"o'brien@example.com", "o'brien@example.com"},
		{"ünïcode@exämple.com", "ünïcode@exämple.com"},
		{"user@example.test", ""},
		{"user@x.localhost", ""},
		{"user@x.onion", ""},
		{"user@localhost", ""},
		{"user@example.123", ""},
		{"user@[127.0.0.1]", ""},
		{"a@@example.com", ""},
		{"@example.com", ""},
		{"a@", ""},
		{".a@example.com", ""},
		{"a.@example.com", ""},
		{"a..b@example.com", ""},
		{"a@-example.com", ""},
		{"a@example..com", ""},
		{"a@example.com.", ""},
		{`"quoted"@example.com`, ""},
		{"a b@example.com", ""},
		{"a\x00b@example.com", ""},
		{"a@exa\nmple.com", ""},
		{"a@exa_mple.com", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"a@" + strings.Repeat("b", 64) + ".com", ""},
		{strings.Repeat("a", 64) + "@" + strings.Repeat(strings.Repeat("b", 60)+".", 4) + "com", ""},
		{"\xff@example.com", ""},
	} {
		got, problem := normalizeEmail(tc.in)
		if got != tc.want || (tc.want == "") != (problem != "") {
			t.Errorf("normalizeEmail(%q) = %q, %q; want %q", tc.in, got, problem, tc.want)
		}
	}
}

// FuzzNormalizeEmail checks the e-mail parser never panics, that what it
// accepts is printable, bounded and stable under a second pass.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "A <b@c.de>", "a@b", "\x00@x.com", "ü@ä.com", "a@b.test", "<>", "a<b@c.com>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, problem := normalizeEmail(in)
		if problem != "" {
			if got != "" {
				t.Fatalf("rejected %q but returned %q", in, got)
			}
			return
		}
		if !utf8.ValidString(got) || len(got) > 254 || strings.Count(got, "@") != 1 || strings.ContainsAny(got, " \t\r\n\x00<>") {
			t.Fatalf("accepted %q as %q", in, got)
		}
		again, problem := normalizeEmail(got)
		if problem != "" || again != got {
			t.Fatalf("not stable: %q -> %q -> %q (%s)", in, got, again, problem)
		}
	})
}
