package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

const (
	// alphabet is Crockford's base32 in lower case: digits and letters
	// without i, l, o (read as 1, 1, 0) and u (to avoid accidental words),
	// so a code read off paper is hard to mistype.
	alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// codeLen is 10 characters of 5 bits: 50 random bits per code, more
	// than GitHub's (10 hex digits, 40 bits) or Google's (8 decimal
	// digits, 27 bits).
	codeLen = 10
)

// GenerateRecoveryCodes returns n distinct random recovery codes to show
// the user once, formatted "xxxxx-xxxxx". Store their [HashRecoveryCode]s.
func GenerateRecoveryCodes(n int) ([]string, error) {
	if n < 0 {
		return nil, errors.New("totp: negative number of recovery codes")
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	// Duplicates are all but impossible (50 bits), but cost nothing to
	// rule out, and two equal codes would be one code used up twice.
	for len(codes) < n {
		var b [codeLen]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("totp: read recovery code: %w", err)
		}
		for i := range b {
			b[i] = alphabet[b[i]&31] // unbiased: 32 divides 256
		}
		c := string(b[:5]) + "-" + string(b[5:])
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	return codes, nil
}

// NormalizeRecoveryCode returns the canonical form of a recovery code as a
// user typed it: lower case, without spaces and hyphens, with the letters
// Crockford's base32 reads as digits (o as 0, i and l as 1) replaced. It
// reports false, with "", if s then is not 10 characters of the alphabet.
func NormalizeRecoveryCode(s string) (string, bool) {
	var b [codeLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\r' || c == '\n':
			continue // separators, and what pasting may bring along
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A' // ASCII only: strings.ToLower would map the Kelvin sign to k
		}
		switch c {
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if !inAlphabet(c) || n == codeLen {
			return "", false
		}
		b[n] = c
		n++
	}
	if n != codeLen {
		return "", false
	}
	return string(b[:]), true
}

// inAlphabet reports whether c is one of alphabet's characters.
func inAlphabet(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' && c != 'i' && c != 'l' && c != 'o' && c != 'u'
}

// HashRecoveryCode returns what to store for a recovery code, and to look
// a typed one up by: the hex SHA-256 of its normalized form, so that
// "ABCDE FGHJK" finds the hash of "abcde-fghjk". It returns "" if code is
// not a recovery code ([NormalizeRecoveryCode] reports false).
//
// A fast hash is enough here, unlike for passwords: the codes are random,
// 50 bits each, not chosen by people, so there is no dictionary to try
// first, and online guesses are throttled like any login. What a slow hash
// would protect against is offline guessing from a stolen table, where
// one sweep of 2^50 SHA-256 (GPU-days) would find every code in it; but a
// recovery code stands in for the second factor only, and the password it
// must come with has a slow hash.
func HashRecoveryCode(code string) string {
	c, ok := NormalizeRecoveryCode(code)
	if !ok {
		return ""
	}
	sum := sha256.Sum256([]byte(c))
	return hex.EncodeToString(sum[:])
}
