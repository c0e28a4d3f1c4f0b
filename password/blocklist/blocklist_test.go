package blocklist_test

import (
	"bufio"
	"compress/gzip"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/password/blocklist"
)

func TestContains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		password string
		want     bool
	}{
		{"password", true},
		{"123456", true},
		{"qwerty", true},
		{"PassWord", true},
		{"PASSWORD", true},
		{"password1234", true},
		{"qwertyuiop12", true},
		{"ｐａｓｓｗｏｒｄ", true},        // fullwidth: NFKC makes it ASCII
		{"ＰａｓｓＷｏｒｄ", true},        // fullwidth and mixed case
		{"aª»", true},             // the one non-ASCII source line, as given
		{"AA»", true},             // ... and as NFKC and folding see it
		{"trustno1", true},        // rank ~100
		{"ksk_an", true},          // the last source line used (105,000th)
		{"ksenya", false},         // the next line of the source, not used
		{"password\u200b", false}, // a zero-width space is a character
		{"", false},
		{"correct horse battery staple", false},
		{"Tr0ub4dor&3 and then some", false},
		{"sehr-geheimes Passwort für Gatehouse", false},
		{"password ", false}, // the whole password is compared
		{" password", false},
		{"password horse", false},
		{"pass-word", false},
		{strings.Repeat("a", 1<<20), false},
		{strings.Repeat("é", 1000), false},
	}
	for _, tt := range tests {
		if got := blocklist.Contains(tt.password); got != tt.want {
			t.Errorf("Contains(%.40q) = %v, want %v", tt.password, got, tt.want)
		}
	}
}

// TestEmbeddedList reads the embedded file independently and checks what
// the binary search relies on: entries sorted, distinct and already folded
// (each one finds itself), and their number.
func TestEmbeddedList(t *testing.T) {
	t.Parallel()
	f, err := os.Open("passwords.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	n, prev := 0, ""
	for sc.Scan() {
		e := sc.Text()
		if n > 0 && e <= prev {
			t.Fatalf("entry %d %q is not after %q", n, e, prev)
		}
		if !blocklist.Contains(e) {
			t.Fatalf("Contains(%q) = false for an entry", e)
		}
		if e != strings.ToLower(e) {
			t.Fatalf("entry %q is not folded", e)
		}
		n, prev = n+1, e
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// 105,000 source passwords; folding merges 3,807 case variants.
	if n != 101193 || blocklist.Len() != n {
		t.Errorf("%d entries in the file, Len() = %d; want 101193", n, blocklist.Len())
	}
}

func TestContainsAllocs(t *testing.T) {
	blocklist.Contains("warm up")
	for _, pw := range []string{"password", "PassWord", "not on the list", strings.Repeat("x", 100)} {
		if n := testing.AllocsPerRun(100, func() { blocklist.Contains(pw) }); n != 0 {
			t.Errorf("Contains(%q) allocates %v times", pw, n)
		}
	}
}

func BenchmarkContains(b *testing.B) {
	for _, bc := range []struct{ name, password string }{
		{"ascii-hit", "PassWord"},
		{"ascii-miss", "correct horse"},
		{"ascii-long", "correct horse battery staple"},
		{"unicode-hit", "ｐａｓｓｗｏｒｄ"},
		{"unicode-miss", "sehr-geheimes Passwort für Gatehouse"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			blocklist.Contains(bc.password)
			b.ReportAllocs()
			for b.Loop() {
				blocklist.Contains(bc.password)
			}
		})
	}
}

// BenchmarkLoad measures what the first call pays: decompressing and
// indexing the list.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := blocklist.Reload(); err != nil {
			b.Fatal(err)
		}
	}
}
