// Package fold maps passwords and the words they are compared with to one
// spelling, so that comparisons ignore case and Unicode variants.
//
// It is shared by the blocklist's generator, the blocklist's lookup and the
// policy's e-mail and service-name rules: the lookup only works if the list
// was built with exactly the same mapping.
package fold

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// String returns s in NFKC, Unicode full case folding applied, then NFKC
// again: "PassWord", "ＰＡＳＳＷＯＲＤ" (fullwidth) and "password" all
// become "password". The first NFKC turns compatibility characters into
// the letters they stand for so that folding sees them; the second puts
// back into NFKC what folding decomposed (folding "ß" gives "ss", and
// "İ" gives "i" + U+0307).
//
// ASCII input only needs lower-casing; callers on a hot path check for it
// and skip this function, which allocates.
func String(s string) string {
	// A Caser keeps state between calls, so each call takes its own.
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
}

// IsASCII reports whether s is all ASCII, for which String is the same as
// lower-casing A–Z.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
