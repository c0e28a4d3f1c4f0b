package clientip

import (
	"net/netip"
	"strings"
)

// This file reads RFC 7239 Forwarded headers:
//
//	Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"
//
// Quoted strings may hold commas and semicolons, so elements cannot be
// split blindly. They are split from the right, one at a time, so that a
// client's unbalanced quote left of the proxies' elements cannot swallow
// them.

// lastForwarded splits the last element off a Forwarded list. ok is false
// when s holds no more elements. A quote that never opens makes the rest
// of s one element, which forwardedFor then refuses.
func lastForwarded(s string) (entry, before string, ok bool) {
	if strings.TrimSpace(s) == "" {
		return "", "", false
	}
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ',':
			return strings.TrimSpace(s[i+1:]), s[:i], true
		case '"':
			j := i - 1
			for j >= 0 && (s[j] != '"' || escaped(s, j)) {
				j--
			}
			if j < 0 {
				return strings.TrimSpace(s), "", true
			}
			i = j
		}
	}
	return strings.TrimSpace(s), "", true
}

// escaped reports whether s[i] follows an odd run of backslashes: a
// quoted-pair inside a quoted string.
func escaped(s string, i int) bool {
	n := 0
	for i--; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// forwardedFor reads the node of an element's one for= parameter
// (case-insensitive name, token or quoted-string value). An element
// without it, with it twice, or with a parameter that is not name=value,
// is malformed; so are the nodes "unknown" and "_obfuscated", which name
// no address.
func forwardedFor(elem string) (netip.Addr, bool) {
	var node string
	found := false
	for elem != "" {
		pair, rest, ok := cutParam(elem)
		if !ok {
			return netip.Addr{}, false
		}
		elem = rest
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			return netip.Addr{}, false
		}
		if !strings.EqualFold(strings.TrimSpace(name), "for") {
			continue
		}
		v, ok := unquote(strings.TrimSpace(value))
		if !ok || found {
			return netip.Addr{}, false
		}
		node, found = v, true
	}
	if !found {
		return netip.Addr{}, false
	}
	return parseNode(node)
}

// cutParam cuts s at its first semicolon outside a quoted string. ok is
// false for an unterminated quoted string.
func cutParam(s string) (param, rest string, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // the escaped character
		case c == '"':
			quoted = !quoted
		case !quoted && c == ';':
			return s[:i], s[i+1:], true
		}
	}
	return s, "", !quoted
}

// unquote returns a token as is, and a quoted-string without its quotes
// and escapes.
func unquote(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, !strings.ContainsAny(v, `"\`)
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) || escaped(v, len(v)-1) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if c == '"' {
			return "", false
		}
		if c == '\\' {
			i++
			c = v[i]
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
