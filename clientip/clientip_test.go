package clientip_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/clientip"
)

// proxies are the trusted proxies of the tests.
var proxies = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func request(remote string, header map[string][]string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

func TestIP(t *testing.T) {
	t.Parallel()
	xff, fwd := mustNew(t, clientip.New), mustNew(t, clientip.NewForwarded)
	tests := []struct {
		name     string
		resolver *clientip.Resolver
		remote   string
		header   map[string][]string
		want     string // "" for the zero Addr
	}{
		{"DirectIgnoresXFF", xff, "203.0.113.7:1234", h("X-Forwarded-For", "198.51.100.1"), "203.0.113.7"},
		{"DirectIgnoresForwarded", fwd, "203.0.113.7:1234", h("Forwarded", "for=198.51.100.1"), "203.0.113.7"},
		{"DirectIPv6", xff, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"DirectMapped", xff, "[::ffff:203.0.113.7]:443", nil, "203.0.113.7"},
		{"DirectZone", xff, "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"BadRemoteAddr", xff, "pipe", nil, ""},
		{"EmptyRemoteAddr", xff, "", h("X-Forwarded-For", "198.51.100.1"), ""},
		{"ProxyNoHeader", xff, "10.0.0.1:1", nil, "10.0.0.1"},
		{"ProxyXFF", xff, "10.0.0.1:1", h("X-Forwarded-For", "198.51.100.1"), "198.51.100.1"},
		{"ClientPrefixIgnored", xff, "10.0.0.1:1", h("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 198.51.100.1"), "198.51.100.1"},
		{"ProxyChain", xff, "10.0.0.1:1", h("X-Forwarded-For", "1.1.1.1, 198.51.100.1, 10.0.0.3, 10.9.9.9"), "198.51.100.1"},
		{"SeveralLines", xff, "10.0.0.1:1", h("X-Forwarded-For", "1.1.1.1, 198.51.100.1", "10.0.0.3"), "198.51.100.1"},
		{"AllTrusted", xff, "10.0.0.1:1", h("X-Forwarded-For", "10.0.0.5, 10.0.0.3"), "10.0.0.5"},
		{"Ports", xff, "10.0.0.1:1", h("X-Forwarded-For", "198.51.100.1:5555"), "198.51.100.1"},
		{"BracketedIPv6", xff, "10.0.0.1:1", h("X-Forwarded-For", "[2001:db8::7]:5555"), "2001:db8::7"},
		{"BracketedIPv6NoPort", xff, "10.0.0.1:1", h("X-Forwarded-For", "[2001:db8::7]"), "2001:db8::7"},
		{"BareIPv6", xff, "[2001:db8:ffff::1]:1", h("X-Forwarded-For", "2001:db8::7"), "2001:db8::7"},
		{"MappedInHeader", xff, "10.0.0.1:1", h("X-Forwarded-For", "::ffff:198.51.100.1"), "198.51.100.1"},
		{"EmptyElements", xff, "10.0.0.1:1", h("X-Forwarded-For", " , 198.51.100.1 ,, "), "198.51.100.1"},
		{"GarbageNeeded", xff, "10.0.0.1:1", h("X-Forwarded-For", "not-an-ip"), "10.0.0.1"},
		{"GarbageAfterTrusted", xff, "10.0.0.1:1", h("X-Forwarded-For", "garbage, 10.0.0.3"), "10.0.0.1"},
		{"GarbageNotNeeded", xff, "10.0.0.1:1", h("X-Forwarded-For", "garbage, 198.51.100.1"), "198.51.100.1"},
		{"ZoneInHeader", xff, "10.0.0.1:1", h("X-Forwarded-For", "fe80::1%eth0"), "10.0.0.1"},
		{"XFFIgnoredByForwarded", fwd, "10.0.0.1:1", h("X-Forwarded-For", "198.51.100.1"), "10.0.0.1"},
		{"ForwardedIgnoredByXFF", xff, "10.0.0.1:1", h("Forwarded", "for=198.51.100.1"), "10.0.0.1"},
		{"Forwarded", fwd, "10.0.0.1:1", h("Forwarded", "for=198.51.100.1;proto=https;by=10.0.0.1"), "198.51.100.1"},
		{"ForwardedCase", fwd, "10.0.0.1:1", h("Forwarded", "For=198.51.100.1"), "198.51.100.1"},
		{"ForwardedQuotedIPv6", fwd, "10.0.0.1:1", h("Forwarded", `for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"ForwardedChain", fwd, "10.0.0.1:1", h("Forwarded", `for=1.1.1.1, for="198.51.100.1:80";proto=http, for=10.0.0.3`), "198.51.100.1"},
		{"ForwardedQuotedComma", fwd, "10.0.0.1:1", h("Forwarded", `for=198.51.100.9;x="a,b;c\"", for=10.0.0.3`), "198.51.100.9"},
		{"ForwardedClientQuote", fwd, "10.0.0.1:1", h("Forwarded", `for="1.1.1.1, for=198.51.100.1`), "198.51.100.1"},
		{"ForwardedUnknown", fwd, "10.0.0.1:1", h("Forwarded", "for=unknown"), "10.0.0.1"},
		{"ForwardedObfuscated", fwd, "10.0.0.1:1", h("Forwarded", "for=_hidden"), "10.0.0.1"},
		{"ForwardedNoFor", fwd, "10.0.0.1:1", h("Forwarded", "proto=https"), "10.0.0.1"},
		{"ForwardedTwoFor", fwd, "10.0.0.1:1", h("Forwarded", "for=198.51.100.1;for=198.51.100.2"), "10.0.0.1"},
		{"ForwardedUnterminated", fwd, "10.0.0.1:1", h("Forwarded", `for="198.51.100.1`), "10.0.0.1"},
		{"ForwardedNotPair", fwd, "10.0.0.1:1", h("Forwarded", "198.51.100.1"), "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.resolver.IP(request(tt.remote, tt.header))
			if want := addr(tt.want); got != want {
				t.Errorf("IP = %v, want %v", got, want)
			}
		})
	}
}

// Checklist 26: a client that rotates X-Forwarded-For on each request,
// directly or through a trusted proxy, is still one client.
func TestRotatingXFF(t *testing.T) {
	t.Parallel()
	r := mustNew(t, clientip.New)
	for i := range 100 {
		spoof := netip.AddrFrom4([4]byte{198, 18, byte(i), 1}).String()
		if got := r.IP(request("203.0.113.7:40000", h("X-Forwarded-For", spoof))); got != addr("203.0.113.7") {
			t.Fatalf("direct, X-Forwarded-For %s: IP = %v", spoof, got)
		}
		if got := r.IP(request("10.0.0.1:1", h("X-Forwarded-For", spoof+", 203.0.113.7"))); got != addr("203.0.113.7") {
			t.Fatalf("proxied, X-Forwarded-For %s: IP = %v", spoof, got)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want: prefixes joined by spaces, or "error"
	}{
		{"", ""},
		{" , ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.0.0.0/8, 192.0.2.7 ,fd00::/8,2001:db8::1", "10.0.0.0/8 192.0.2.7/32 fd00::/8 2001:db8::1/128"},
		{"10.1.2.3/8", "10.1.2.3/8"},
		{"0.0.0.0/0", "error"},
		{"::/0", "error"},
		{"10.0.0.0/33", "error"},
		{"proxy.internal", "error"},
		{"fe80::1%eth0", "error"},
		{"10.0.0.0/8;10.1.0.0/16", "error"},
	}
	for _, tt := range tests {
		ps, err := clientip.ParsePrefixes(tt.in)
		got := "error"
		if err == nil {
			var s []string
			for _, p := range ps {
				s = append(s, p.String())
			}
			got = strings.Join(s, " ")
		}
		if got != tt.want {
			t.Errorf("ParsePrefixes(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for _, ps := range [][]netip.Prefix{
		{netip.Prefix{}},
		{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/0")},
		{netip.MustParsePrefix("::/0")},
	} {
		if _, err := clientip.New(ps); err == nil {
			t.Errorf("New(%v) = nil error, want one", ps)
		}
		if _, err := clientip.NewForwarded(ps); err == nil {
			t.Errorf("NewForwarded(%v) = nil error, want one", ps)
		}
	}
}

func TestGroup(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7/32"},
		{"::ffff:203.0.113.7", "203.0.113.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := clientip.Group(addr(tt.in)).String(); got != tt.want {
			t.Errorf("Group(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func mustNew(t *testing.T, newResolver func([]netip.Prefix) (*clientip.Resolver, error)) *clientip.Resolver {
	t.Helper()
	r, err := newResolver(proxies)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func h(name string, values ...string) map[string][]string { return map[string][]string{name: values} }

func addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}
