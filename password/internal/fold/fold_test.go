package fold_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/password/internal/fold"
)

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"PassWord", "password"},
		{"ｐａｓｓＷＯＲＤ１２３", "password123"}, // fullwidth
		{"ﬁsh", "fish"},                // ligature
		{"Straße", "strasse"},          // full folding
		{"CAFE\u0301", "caf\u00e9"},    // composed again after folding
		{"\u212a", "k"},                // Kelvin sign
		{"İ", "i\u0307"},               // dotted capital I
		{"aª»", "aa»"},                 // the blocklist's one non-ASCII line
		{"", ""},
	}
	for _, tt := range tests {
		got := fold.String(tt.in)
		if got != tt.want {
			t.Errorf("String(%+q) = %+q, want %+q", tt.in, got, tt.want)
		}
		if again := fold.String(got); again != got {
			t.Errorf("String(%+q) = %+q, not stable", got, again)
		}
	}
	for s, want := range map[string]bool{"": true, "Pass word 123!": true, "\x7f": true, "é": false, "\x80": false} {
		if got := fold.IsASCII(s); got != want {
			t.Errorf("IsASCII(%+q) = %v", s, got)
		}
	}
}
