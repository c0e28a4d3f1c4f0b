package clientip_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/gatehouse/gatehouse/clientip"
)

// Seeds of both fuzz targets: well-formed lists, and what a client might
// send to confuse a parser.
var fuzzSeeds = []string{
	"",
	"198.51.100.1",
	"198.51.100.1, 10.0.0.3",
	"[2001:db8::1]:443, 198.51.100.1:80",
	"for=198.51.100.1;proto=https, for=10.0.0.3",
	`for="[2001:db8:cafe::17]:4711"`,
	`for="1.1.1.1`,                 // unterminated quote
	`for=1.1.1.1", for="`,          // quotes the other way
	`for="a\"b,c;d\\", for=x`,      // quoted-pairs, separators in quotes
	`\`, `"`, `\"`, `,,,,`, `;;;;`, // lone specials
	"unknown, _hidden, for=unknown",
	"fe80::1%eth0, ::ffff:10.0.0.1",
	"10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4",
	"1.1.1.1\x00, 2.2.2.2\r\n",
}

const realClient = "203.0.113.7"

// FuzzForwardedFor checks that nothing a client writes into
// X-Forwarded-For moves the address it is limited by: left of the
// proxy's entry it is never read, and from an untrusted peer the header
// is ignored.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	r, err := clientip.New(proxies)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkResolver(t, r, "X-Forwarded-For", s, realClient)
	})
}

// FuzzForwarded is FuzzForwardedFor for RFC 7239 Forwarded.
func FuzzForwarded(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	r, err := clientip.NewForwarded(proxies)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkResolver(t, r, "Forwarded", s, `for=`+realClient)
		checkResolver(t, r, "Forwarded", s, `for="`+realClient+`:8080";proto=https`)
	})
}

// checkResolver checks r on the client's header value s, alone or with
// the element a trusted proxy appends (proxyElem, naming realClient).
func checkResolver(t *testing.T, r *clientip.Resolver, name, s, proxyElem string) {
	want := netip.MustParseAddr(realClient)
	req := func(remote string, values ...string) *http.Request {
		return &http.Request{RemoteAddr: remote, Header: http.Header{name: values}}
	}
	// Direct: the header is the client's, and ignored.
	if got := r.IP(req(realClient+":1234", s)); got != want {
		t.Fatalf("direct with %s %q: IP = %v, want the peer", name, s, got)
	}
	// Through a proxy that appends to the client's line, or adds a line.
	if got := r.IP(req("10.0.0.1:1", s+", "+proxyElem)); got != want {
		t.Fatalf("%s %q: IP = %v, want %v", name, s+", "+proxyElem, got, want)
	}
	if got := r.IP(req("10.0.0.1:1", s, proxyElem)); got != want {
		t.Fatalf("%s lines %q: IP = %v, want %v", name, []string{s, proxyElem}, got, want)
	}
	// The client's value alone, from a trusted peer: any answer, but a
	// valid address, unmapped and without a zone.
	got := r.IP(req("10.0.0.1:1", s))
	if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
		t.Fatalf("%s %q: IP = %v, want a plain valid address", name, s, got)
	}
}
