package forwardauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on the forwarded headers. A proxy copies them from a request it
// accepted, so anything larger is a misconfiguration or an attack, and
// policies should not run over megabytes of path.
const (
	maxMethodBytes = 32
	maxHostBytes   = 262     // a 253-byte name, ":" and a port, or an IPv6 literal
	maxURIBytes    = 8 << 10 // nginx's default buffer for a request line
)

// original is the request the proxy asks about, as its headers describe it.
type original struct {
	method   string   // as forwarded; "" when the proxy did not say
	scheme   string   // http, https, ws or wss; "" when the proxy did not say
	host     string   // host[:port], lowercased; "" when the proxy did not say
	hostname string   // host without the port and IPv6 brackets
	uri      string   // the request target as forwarded; "" when the proxy did not say
	url      *url.URL // uri parsed; nil when the proxy did not say
	path     string   // url's path, percent-decoded and cleaned
}

// parseOriginal reads the X-Forwarded-* (and X-Original-*) headers. A
// missing header leaves its field empty; a malformed one is an error.
func parseOriginal(h http.Header) (*original, error) {
	o := &original{}
	var err error
	if o.method, err = single(h, "X-Forwarded-Method", "X-Original-Method"); err != nil {
		return nil, err
	}
	if o.method != "" && (len(o.method) > maxMethodBytes || !isToken(o.method)) {
		return nil, fmt.Errorf("forwarded method %q is not an HTTP method", o.method)
	}

	proto, err := single(h, "X-Forwarded-Proto")
	if err != nil {
		return nil, err
	}
	switch o.scheme = strings.ToLower(proto); o.scheme {
	case "", "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("X-Forwarded-Proto %q is not http, https, ws or wss", proto)
	}

	host, err := single(h, "X-Forwarded-Host")
	if err != nil {
		return nil, err
	}
	if host != "" {
		o.host = strings.ToLower(host)
		if o.hostname, err = hostname(o.host); err != nil {
			return nil, fmt.Errorf("X-Forwarded-Host %q: %w", host, err)
		}
	}

	if o.uri, err = single(h, "X-Forwarded-Uri", "X-Original-Uri"); err != nil {
		return nil, err
	}
	if o.uri != "" {
		if o.url, o.path, err = parseURI(o.uri); err != nil {
			return nil, fmt.Errorf("forwarded URI %q: %w", o.uri, err)
		}
	}
	return o, nil
}

// single returns the value of the first of the named headers that is
// present and not empty. A header sent twice is an error, and so are two
// names with different values: a proxy that sets one and passes the
// client's other on must not be fooled by what the client sent.
func single(h http.Header, names ...string) (string, error) {
	var value, from string
	for _, name := range names {
		vs := h.Values(name)
		switch {
		case len(vs) > 1:
			return "", fmt.Errorf("%s is sent %d times", name, len(vs))
		case len(vs) == 0 || vs[0] == "":
			continue
		case from != "" && vs[0] != value:
			return "", fmt.Errorf("%s and %s disagree", from, name)
		}
		value, from = vs[0], name
	}
	return value, nil
}

// hostname checks that host is a host name or an IP literal with an
// optional port, and returns it without the port and IPv6 brackets. Only
// such hosts can be put in a URL without changing its meaning.
func hostname(host string) (string, error) {
	if len(host) > maxHostBytes {
		return "", errors.New("too long")
	}
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", errors.New("unclosed [")
		}
		name = host[1:end]
		if addr, err := netip.ParseAddr(name); err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", errors.New("not an IPv6 address in brackets")
		}
		rest := host[end+1:]
		if rest != "" {
			var ok bool
			if port, ok = strings.CutPrefix(rest, ":"); !ok {
				return "", errors.New("junk after ]")
			}
		}
	} else {
		var hasPort bool
		name, port, hasPort = strings.Cut(host, ":")
		if hasPort && port == "" {
			return "", errors.New("empty port")
		}
		if name == "" {
			return "", errors.New("empty host name")
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q is not allowed in a host name", c)
			}
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || len(port) > 5 || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
			return "", errors.New("bad port")
		}
	}
	return name, nil
}

// parseURI parses an origin-form request target ("/path?query") of
// visible ASCII and returns it with its path percent-decoded and cleaned
// the way an application resolves it, so that policies judge the path that
// will be served: "/docs/%2e%2e/admin" and "/docs//../admin" are "/admin".
// A decoded path with control characters or invalid UTF-8 is refused: no
// legitimate request needs them, and some applications cut paths at NUL.
func parseURI(uri string) (*url.URL, string, error) {
	if len(uri) > maxURIBytes {
		return nil, "", errors.New("too long")
	}
	if !strings.HasPrefix(uri, "/") {
		return nil, "", errors.New("not a path")
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c < 0x21 || c > 0x7e || c == '#' {
			return nil, "", fmt.Errorf("byte %q is not allowed", c)
		}
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, "", errors.New("not a request target")
	}
	if !utf8.ValidString(u.Path) {
		return nil, "", errors.New("decoded path is not UTF-8")
	}
	for _, c := range u.Path {
		if c < 0x20 || c == 0x7f {
			return nil, "", errors.New("decoded path holds a control character")
		}
	}
	p := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && p != "/" {
		p += "/"
	}
	return u, p, nil
}

// complete reports an error unless the proxy said which method, host and
// URI the original request had. Policies need all three: a proxy that
// forgot one would make every request look the same to them.
func (o *original) complete() error {
	var missing []string
	if o.method == "" {
		missing = append(missing, "X-Forwarded-Method")
	}
	if o.host == "" {
		missing = append(missing, "X-Forwarded-Host")
	}
	if o.uri == "" {
		missing = append(missing, "X-Forwarded-Uri")
	}
	if len(missing) > 0 {
		return fmt.Errorf("policies need %s", strings.Join(missing, ", "))
	}
	return nil
}

// request returns a copy of the subrequest r that stands for the original
// request: its method, host and URL are the forwarded ones, so that the
// Authenticator checks the origin of an unsafe original request (not of
// the GET subrequest) and reads a key in the original query, if its API
// key transport allows that.
func (o *original) request(r *http.Request) *http.Request {
	fr := r.Clone(r.Context())
	if o.method != "" {
		fr.Method = o.method
	}
	if o.host != "" {
		fr.Host = o.host
	}
	if o.url != nil {
		u := *o.url
		fr.URL = &u
		fr.RequestURI = o.uri
	}
	return fr
}

// navigation reports whether the original request could be a browser
// navigating to a page (the Accept header tells the rest).
func (o *original) navigation() bool {
	return o.method == http.MethodGet || o.method == http.MethodHead
}

// absoluteURL returns the original request's URL, to come back to after
// logging in. The scheme is https when the proxy did not say, so that a
// redirect never downgrades. ok is false without a host or URI, and for
// WebSocket schemes, which no login page can go back to.
func (o *original) absoluteURL() (string, bool) {
	scheme := o.scheme
	switch scheme {
	case "":
		scheme = "https"
	case "http", "https":
	default:
		return "", false
	}
	if o.host == "" || o.url == nil {
		return "", false
	}
	s := scheme + "://" + o.host + o.uri
	// hostname and parseURI have made this impossible; check anyway that
	// the URL names exactly the forwarded host and nothing else.
	u, err := url.Parse(s)
	if err != nil || u.Scheme != scheme || u.Host != o.host || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return s, true
}

// resource is the resource variable of policies.
func (o *original) resource() map[string]any {
	query := ""
	if o.url != nil {
		query = o.url.RawQuery
	}
	return map[string]any{
		"method": o.method,
		"scheme": o.scheme,
		"host":   o.hostname,
		"path":   o.path,
		"query":  query,
	}
}

// isToken reports whether s is an RFC 9110 token, as methods are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
