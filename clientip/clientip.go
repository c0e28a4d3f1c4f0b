// Package clientip finds the address of the client behind an HTTP request,
// for rate limits and logs.
//
// The address is the connection's peer (Request.RemoteAddr) unless that
// peer is a trusted proxy. Only then is a forwarding header read: from the
// right, the end trusted proxies wrote, skipping the addresses of trusted
// proxies, up to the first address that is not one. Everything left of it
// was written by the client or by proxies nobody vouches for, and is never
// read: a client that sends X-Forwarded-For itself, or rotates it on each
// request, does not change the address it is limited by. Trusting every
// peer is refused, since the walk would then reach the client's own
// entries.
//
// Only the header the proxies write is read: X-Forwarded-For for [New],
// RFC 7239 Forwarded for [NewForwarded]. A resolver that read both would
// take the client's word from whichever header the proxy leaves alone.
//
// Headers are parsed defensively: an entry that is needed and malformed
// (not an address, "unknown", an obfuscated node, a broken quoted string)
// makes IP fall back to the peer. Entries left of the answer are never
// parsed, so garbage there costs nothing and changes nothing.
//
// Limiters should key on [Group]: an IPv6 client usually holds a whole /64,
// and would otherwise get a fresh allowance with each of its 2^64
// addresses.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds a request's client address. It is safe for concurrent
// use.
type Resolver struct {
	trusted   []netip.Prefix
	forwarded bool // read Forwarded rather than X-Forwarded-For
}

// New returns a Resolver that believes X-Forwarded-For when the peer is in
// one of the trusted prefixes. With no prefixes it returns the peer
// always, which is right for a server that clients reach directly.
func New(trusted []netip.Prefix) (*Resolver, error) {
	ps, err := checkPrefixes(trusted)
	if err != nil {
		return nil, err
	}
	return &Resolver{trusted: ps}, nil
}

// NewForwarded is New for proxies that write the RFC 7239 Forwarded header
// (its for= parameter) rather than X-Forwarded-For.
func NewForwarded(trusted []netip.Prefix) (*Resolver, error) {
	r, err := New(trusted)
	if err != nil {
		return nil, err
	}
	r.forwarded = true
	return r, nil
}

func checkPrefixes(trusted []netip.Prefix) ([]netip.Prefix, error) {
	ps := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		if !p.IsValid() {
			return nil, errors.New("clientip: invalid trusted prefix")
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("clientip: trusted prefix %s trusts every address: forwarding headers would be the client's to write", p)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes and single
// addresses, such as "10.0.0.0/8, 192.0.2.7, fd00::/8", the form of the
// server's trusted-proxies setting. Blank entries are skipped; an empty
// string is no prefix at all.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("clientip: %q is neither an address nor a CIDR prefix", f)
			}
			ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("clientip: %q is not a CIDR prefix", f)
		}
		ps = append(ps, p)
	}
	if _, err := checkPrefixes(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// IP returns the address of the client that sent r, IPv4-mapped IPv6
// addresses unmapped and zones dropped. It returns the zero Addr only when
// r.RemoteAddr is not an address (a test request, a Unix socket): callers
// should then treat every such request as one client.
func (r *Resolver) IP(req *http.Request) netip.Addr {
	peer := parsePeer(req.RemoteAddr)
	if !peer.IsValid() || !r.isTrusted(peer) {
		return peer
	}
	name, next, node := "X-Forwarded-For", lastXFF, parseNode
	if r.forwarded {
		name, next, node = "Forwarded", lastForwarded, forwardedFor
	}
	// Several header lines form one list, in order (RFC 9110 §5.3).
	lines := req.Header.Values(name)
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			entry, before, ok := next(rest)
			if !ok {
				break
			}
			rest = before
			if entry == "" { // empty list element (RFC 9110 §5.6.1)
				continue
			}
			a, ok := node(entry)
			if !ok {
				return peer
			}
			client = a
			if !r.isTrusted(a) {
				return a
			}
		}
	}
	// Every hop was a trusted proxy: the earliest is the client, as far as
	// anyone knows.
	return client
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Group is the prefix a limiter should key a client on: the address
// itself for IPv4, its /64 for IPv6 (the size of one subscriber's network,
// RFC 6177). It is the zero Prefix for the zero Addr.
func Group(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits) // cannot fail: a is valid and unzoned, bits fits
	return p
}

// parsePeer reads RemoteAddr, which net/http sets to "host:port".
func parsePeer(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// parseNode reads one hop: an address, optionally with a port, IPv6 in
// brackets when it has a port ("192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:443"). Zones make no sense across hosts
// and are refused.
func parseNode(s string) (netip.Addr, bool) {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
	} else if a, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// lastXFF splits the last element off an X-Forwarded-For list. ok is false
// when s holds no more elements.
func lastXFF(s string) (entry, before string, ok bool) {
	if strings.TrimSpace(s) == "" {
		return "", "", false
	}
	i := strings.LastIndexByte(s, ',')
	return strings.TrimSpace(s[i+1:]), s[:max(i, 0)], true
}
