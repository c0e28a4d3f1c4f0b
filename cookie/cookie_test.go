package cookie_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cookie"
)

func mustNew(tb testing.TB, cfg cookie.Config) *cookie.Transport {
	tb.Helper()
	tr, err := cookie.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  cookie.Config
		err  string // "" means New succeeds
	}{
		{"Zero", cookie.Config{}, ""},
		{"HostPrefix", cookie.Config{Name: "__Host-gatehouse"}, ""},
		{"HostPrefixExplicitPath", cookie.Config{Name: "__Host-gatehouse", Path: "/"}, ""},
		{"SecurePrefixWithDomainAndPath", cookie.Config{Name: "__Secure-gatehouse", Domain: "example.com", Path: "/api"}, ""},
		{"Strict", cookie.Config{SameSite: http.SameSiteStrictMode}, ""},
		{"NoneSecure", cookie.Config{SameSite: http.SameSiteNoneMode}, ""},
		{"InsecureLax", cookie.Config{InsecureNoSecure: true, InsecureNoHTTPOnly: true}, ""},
		{"Domain", cookie.Config{Domain: "example.com"}, ""},
		{"DomainLeadingDot", cookie.Config{Domain: ".example.com"}, ""},
		{"DomainIPv4", cookie.Config{Domain: "127.0.0.1"}, ""},
		{"TokenPunctuation", cookie.Config{Name: "a!#$%&'*+-.^_`|~9"}, ""},
		{"MaxAge", cookie.Config{MaxAge: time.Hour}, ""},
		{"MaxAge400Days", cookie.Config{MaxAge: 400 * 24 * time.Hour}, ""},

		{"NoneInsecure", cookie.Config{SameSite: http.SameSiteNoneMode, InsecureNoSecure: true}, "SameSite=None requires Secure"},
		{"SameSiteDefaultMode", cookie.Config{SameSite: http.SameSiteDefaultMode}, "SameSite must be"},
		{"SameSiteUnknown", cookie.Config{SameSite: 99}, "SameSite must be"},
		{"HostInsecure", cookie.Config{Name: "__Host-x", InsecureNoSecure: true}, "must be Secure"},
		{"HostDomain", cookie.Config{Name: "__Host-x", Domain: "example.com"}, "no Domain"},
		{"HostPath", cookie.Config{Name: "__Host-x", Path: "/api"}, `Path "/"`},
		{"HostPrefixLowerCase", cookie.Config{Name: "__host-x", Domain: "example.com"}, "no Domain"},
		{"SecureInsecure", cookie.Config{Name: "__Secure-x", InsecureNoSecure: true}, "must be Secure"},
		{"SecurePrefixUpperCase", cookie.Config{Name: "__SECURE-x", InsecureNoSecure: true}, "must be Secure"},
		{"NameSpace", cookie.Config{Name: "a b"}, "invalid cookie name"},
		{"NameSemicolon", cookie.Config{Name: "a;b"}, "invalid cookie name"},
		{"NameEquals", cookie.Config{Name: "a=b"}, "invalid cookie name"},
		{"NameComma", cookie.Config{Name: "a,b"}, "invalid cookie name"},
		{"NameQuote", cookie.Config{Name: `a"b`}, "invalid cookie name"},
		{"NameSlash", cookie.Config{Name: "a/b"}, "invalid cookie name"},
		{"NameControl", cookie.Config{Name: "a\x00b"}, "invalid cookie name"},
		{"NameNewline", cookie.Config{Name: "a\r\nSet-Cookie: x"}, "invalid cookie name"},
		{"NameUnicode", cookie.Config{Name: "sesión"}, "invalid cookie name"},
		{"PathSemicolon", cookie.Config{Path: "/a;Domain=evil.example"}, "invalid Path"},
		{"PathControl", cookie.Config{Path: "/a\nb"}, "invalid Path"},
		{"PathDEL", cookie.Config{Path: "/\x7f"}, "invalid Path"},
		{"PathUnicode", cookie.Config{Path: "/ü"}, "invalid Path"},
		{"PathRelative", cookie.Config{Path: "api"}, "invalid Path"},
		{"DomainSemicolon", cookie.Config{Domain: "example.com;Path=/x"}, "invalid Domain"},
		{"DomainSpace", cookie.Config{Domain: "exa mple.com"}, "invalid Domain"},
		{"DomainControl", cookie.Config{Domain: "example.com\x00"}, "invalid Domain"},
		{"DomainIPv6", cookie.Config{Domain: "::1"}, "invalid Domain"},
		{"MaxAgeNegative", cookie.Config{MaxAge: -time.Second}, "negative MaxAge"},
		{"MaxAgeTooLong", cookie.Config{MaxAge: 400*24*time.Hour + time.Second}, "400 days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := cookie.New(tt.cfg)
			if tt.err == "" {
				if err != nil || tr == nil {
					t.Fatalf("New = %v, %v; want a transport", tr, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded; want an error mentioning %q", tt.err)
			}
			if !strings.HasPrefix(err.Error(), "cookie: ") || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %q; want prefix \"cookie: \" and %q", err, tt.err)
			}
		})
	}
}

func TestAmbient(t *testing.T) {
	t.Parallel()
	var tr gatehouse.Transport = mustNew(t, cookie.Config{})
	amb, ok := tr.(gatehouse.Ambient)
	if !ok || !amb.Ambient() {
		t.Fatal("cookie transport is not ambient")
	}
}

// want describes a parsed Set-Cookie.
type want struct {
	name, value, path, domain string
	maxAge                    int // as http.ParseSetCookie reports it: -1 for Max-Age=0
	httpOnly, secure          bool
	sameSite                  http.SameSite
	attrs                     []string // attribute names, in order
}

// checkSetCookie checks that rec holds exactly one Set-Cookie and that it
// parses to w, attribute by attribute.
func checkSetCookie(t *testing.T, rec *httptest.ResponseRecorder, w want) {
	t.Helper()
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("status %d, body %q; want 204 and no body", rec.Code, rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if v := rec.Header().Values("Clear-Site-Data"); len(v) != 0 {
		t.Errorf("Clear-Site-Data = %q", v)
	}
	lines := rec.Header().Values("Set-Cookie")
	if len(lines) != 1 {
		t.Fatalf("Set-Cookie %q; want exactly one", lines)
	}
	if !strings.HasPrefix(lines[0], w.name+"="+w.value+";") {
		t.Errorf("Set-Cookie %q does not start with %q", lines[0], w.name+"="+w.value+";")
	}
	c, err := http.ParseSetCookie(lines[0])
	if err != nil {
		t.Fatalf("ParseSetCookie(%q): %v", lines[0], err)
	}
	got := want{c.Name, c.Value, c.Path, c.Domain, c.MaxAge, c.HttpOnly, c.Secure, c.SameSite, nil}
	for _, a := range strings.Split(lines[0], ";")[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(a), "=")
		got.attrs = append(got.attrs, name)
	}
	if strings.Join(got.attrs, ",") != strings.Join(w.attrs, ",") ||
		got.name != w.name || got.value != w.value || got.path != w.path || got.domain != w.domain ||
		got.maxAge != w.maxAge || got.httpOnly != w.httpOnly || got.secure != w.secure || got.sameSite != w.sameSite {
		t.Errorf("Set-Cookie %q\n got %+v\nwant %+v", lines[0], got, w)
	}
	if len(c.Unparsed) != 0 || !c.Expires.IsZero() {
		t.Errorf("Set-Cookie %q has unexpected attributes", lines[0])
	}
}

func TestWriteLoginAndLogout(t *testing.T) {
	t.Parallel()
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_~"
	tests := []struct {
		name          string
		cfg           cookie.Config
		login, logout want
	}{
		{
			// The contract's CookieTransport(cookie_max_age=3600).
			name: "FastAPIUsersDocs",
			cfg:  cookie.Config{Name: "fastapiusersauth", MaxAge: time.Hour},
			login: want{name: "fastapiusersauth", value: jwt, path: "/", maxAge: 3600, httpOnly: true, secure: true,
				sameSite: http.SameSiteLaxMode, attrs: []string{"Path", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
			logout: want{name: "fastapiusersauth", path: "/", maxAge: -1, httpOnly: true, secure: true,
				sameSite: http.SameSiteLaxMode, attrs: []string{"Path", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
		},
		{
			name: "DefaultsSessionCookie",
			cfg:  cookie.Config{},
			login: want{name: "gatehouse_auth", value: jwt, path: "/", httpOnly: true, secure: true,
				sameSite: http.SameSiteLaxMode, attrs: []string{"Path", "HttpOnly", "Secure", "SameSite"}},
			logout: want{name: "gatehouse_auth", path: "/", maxAge: -1, httpOnly: true, secure: true,
				sameSite: http.SameSiteLaxMode, attrs: []string{"Path", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
		},
		{
			name: "HostPrefixStrict",
			cfg:  cookie.Config{Name: "__Host-gatehouse", MaxAge: 15 * time.Minute, SameSite: http.SameSiteStrictMode},
			login: want{name: "__Host-gatehouse", value: jwt, path: "/", maxAge: 900, httpOnly: true, secure: true,
				sameSite: http.SameSiteStrictMode, attrs: []string{"Path", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
			logout: want{name: "__Host-gatehouse", path: "/", maxAge: -1, httpOnly: true, secure: true,
				sameSite: http.SameSiteStrictMode, attrs: []string{"Path", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
		},
		{
			name: "SecurePrefixDomainPathNone",
			cfg: cookie.Config{Name: "__Secure-auth", Domain: "example.com", Path: "/api",
				MaxAge: 1500 * time.Millisecond, SameSite: http.SameSiteNoneMode},
			login: want{name: "__Secure-auth", value: jwt, path: "/api", domain: "example.com", maxAge: 2, httpOnly: true,
				secure: true, sameSite: http.SameSiteNoneMode,
				attrs: []string{"Path", "Domain", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
			logout: want{name: "__Secure-auth", path: "/api", domain: "example.com", maxAge: -1, httpOnly: true,
				secure: true, sameSite: http.SameSiteNoneMode,
				attrs: []string{"Path", "Domain", "Max-Age", "HttpOnly", "Secure", "SameSite"}},
		},
		{
			name: "LeadingDotDomainInsecure",
			cfg:  cookie.Config{Domain: ".example.com", InsecureNoSecure: true, InsecureNoHTTPOnly: true},
			login: want{name: "gatehouse_auth", value: jwt, path: "/", domain: "example.com",
				sameSite: http.SameSiteLaxMode, attrs: []string{"Path", "Domain", "SameSite"}},
			logout: want{name: "gatehouse_auth", path: "/", domain: "example.com", maxAge: -1,
				sameSite: http.SameSiteLaxMode, attrs: []string{"Path", "Domain", "Max-Age", "SameSite"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := mustNew(t, tt.cfg)
			r := httptest.NewRequest(http.MethodPost, "/auth/cookie/login", nil)
			// A cookie the client already has is never adopted.
			r.Header.Set("Cookie", tt.login.name+"=attacker")
			rec := httptest.NewRecorder()
			err := tr.WriteLogin(rec, r, gatehouse.Token{AccessToken: jwt, Expiry: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			checkSetCookie(t, rec, tt.login)
			if strings.Contains(rec.Body.String(), jwt) {
				t.Error("token in the body")
			}

			rec = httptest.NewRecorder()
			if err := tr.WriteLogout(rec, httptest.NewRequest(http.MethodPost, "/auth/cookie/logout", nil)); err != nil {
				t.Fatal(err)
			}
			checkSetCookie(t, rec, tt.logout)
			if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "; Max-Age=0;") {
				t.Errorf("logout Set-Cookie %q lacks Max-Age=0", sc)
			}
		})
	}
}

// TestRefreshCookie: a login with a refresh token sets a second cookie,
// scoped to its own path; logout clears it when the request carries it.
func TestRefreshCookie(t *testing.T) {
	t.Parallel()
	tr := mustNew(t, cookie.Config{Name: "__Host-auth", RefreshPath: "/auth/cookie/", RefreshMaxAge: 48 * time.Hour})
	rec := httptest.NewRecorder()
	if err := tr.WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/auth/cookie/login", nil),
		gatehouse.Token{AccessToken: "access", RefreshToken: "ghr_refresh"}); err != nil {
		t.Fatal(err)
	}
	set := rec.Header().Values("Set-Cookie")
	if len(set) != 2 {
		t.Fatalf("Set-Cookie %q", set)
	}
	c, err := http.ParseSetCookie(set[1])
	if err != nil || c.Name != "__Secure-auth_refresh" || c.Value != "ghr_refresh" || c.Path != "/auth/cookie/" ||
		c.MaxAge != 48*3600 || !c.HttpOnly || !c.Secure {
		t.Fatalf("refresh cookie %q (%v)", set[1], err)
	}
	r := httptest.NewRequest(http.MethodPost, "/auth/cookie/refresh", nil)
	r.Header.Set("Cookie", "__Host-auth=access; __Secure-auth_refresh=ghr_refresh")
	if got, ok := tr.RefreshCredential(r); !ok || got != "ghr_refresh" {
		t.Fatalf("RefreshCredential = %q, %v", got, ok)
	}
	if got, _ := tr.Credential(r); got != "access" {
		t.Fatalf("Credential = %q", got)
	}
	for _, tc := range []struct {
		cookie string
		clears int
	}{{"__Host-auth=access; __Secure-auth_refresh=ghr_refresh", 2}, {"__Host-auth=access", 1}} {
		r.Header.Set("Cookie", tc.cookie)
		rec = httptest.NewRecorder()
		tr.WriteLogout(rec, r)
		if got := rec.Header().Values("Set-Cookie"); len(got) != tc.clears || !strings.Contains(got[len(got)-1], "Max-Age=0") {
			t.Errorf("logout with %q: %q", tc.cookie, got)
		}
	}
	if _, err := cookie.New(cookie.Config{Name: "a", RefreshName: "a"}); err == nil {
		t.Error("one name for both cookies was accepted")
	}
	if _, err := cookie.New(cookie.Config{RefreshName: "__Host-r", RefreshPath: "/auth/"}); err == nil {
		t.Error("a __Host- refresh cookie with a narrower path was accepted")
	}
}

// TestWriteLoginKeepsOtherCookies checks that WriteLogin adds its cookie
// next to ones set earlier (by other middleware) instead of replacing them.
func TestWriteLoginKeepsOtherCookies(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rec.Header().Add("Set-Cookie", "theme=dark")
	if err := mustNew(t, cookie.Config{}).WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/", nil), gatehouse.Token{AccessToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	if sc := rec.Header().Values("Set-Cookie"); len(sc) != 2 || sc[0] != "theme=dark" || !strings.HasPrefix(sc[1], "gatehouse_auth=tok;") {
		t.Errorf("Set-Cookie %q", sc)
	}
}

func TestWriteLoginRefusesUnreadableTokens(t *testing.T) {
	t.Parallel()
	tr := mustNew(t, cookie.Config{})
	for name, tok := range map[string]string{
		"Empty":    "",
		"Space":    "a b",
		"Quote":    `a"b`,
		"Semi":     "a;Domain=evil.example",
		"Newline":  "a\r\nSet-Cookie: x=y",
		"Unicode":  "tokén",
		"TooLong":  strings.Repeat("a", 4096-len("gatehouse_auth")+1),
		"Plus":     "a+b/c=",
		"Percent":  "a%20b",
		"Comma":    "a,b",
		"Backslsh": `a\b`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			err := tr.WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/", nil), gatehouse.Token{AccessToken: tok})
			if gatehouse.ErrorCode(err) != gatehouse.CodeInternal {
				t.Fatalf("err = %v; want an internal error", err)
			}
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("error %q shows the token", err)
			}
			if rec.Code != http.StatusInternalServerError || len(rec.Header().Values("Set-Cookie")) != 0 {
				t.Errorf("status %d, Set-Cookie %q", rec.Code, rec.Header().Values("Set-Cookie"))
			}
			if tok != "" && strings.Contains(rec.Body.String(), tok) {
				t.Errorf("body %q shows the token", rec.Body)
			}
		})
	}
	// The longest token that fits: name and value are 4096 bytes.
	ok := strings.Repeat("a", 4096-len("gatehouse_auth"))
	if err := tr.WriteLogin(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), gatehouse.Token{AccessToken: ok}); err != nil {
		t.Errorf("WriteLogin of a %d-byte token: %v", len(ok), err)
	}
}

func request(cookies ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
	for _, c := range cookies {
		r.Header.Add("Cookie", c)
	}
	return r
}

func TestCredential(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 4096)
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.MEUCIQD-_sig"
	tests := []struct {
		name    string
		headers []string // one Cookie header each
		token   string   // "" means ok is false
	}{
		{"OK", []string{"gatehouse_auth=tok"}, "tok"},
		{"JWT", []string{"gatehouse_auth=" + jwt}, jwt},
		{"Opaque", []string{"gatehouse_auth=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"}, "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"},
		{"AllTokenChars", []string{"gatehouse_auth=azAZ09._~-"}, "azAZ09._~-"},
		{"MaxLength", []string{"gatehouse_auth=" + long}, long},
		{"AmongOthers", []string{"theme=dark; gatehouse_auth=tok; lang=en"}, "tok"},
		{"SpacesAroundPair", []string{"  gatehouse_auth=tok  ;theme=dark"}, "tok"},
		{"SpacesAroundName", []string{"gatehouse_auth =tok"}, "tok"},
		{"TrailingSemicolon", []string{"gatehouse_auth=tok;"}, "tok"},
		{"EmptyParts", []string{";;gatehouse_auth=tok;;"}, "tok"},
		{"OtherMalformedAround", []string{`bad name=1; x="unterminated; gatehouse_auth=tok; ü=ö; =nameless; novalue; y=a"b\c`}, "tok"},
		{"NamelessWithOurName", []string{"gatehouse_auth; gatehouse_auth=tok"}, "tok"},
		{"PrefixOfOtherName", []string{"gatehouse_auth_old=x; gatehouse_auth=tok; xgatehouse_auth=y"}, "tok"},
		{"MultipleHeaders", []string{"theme=dark", "gatehouse_auth=tok", "lang=en"}, "tok"},

		{"NoHeader", nil, ""},
		{"EmptyHeader", []string{""}, ""},
		{"OtherCookiesOnly", []string{"theme=dark; lang=en"}, ""},
		{"EmptyValue", []string{"gatehouse_auth="}, ""},
		{"QuotedEmptyValue", []string{`gatehouse_auth=""`}, ""},
		{"NameOnly", []string{"gatehouse_auth"}, ""},
		{"Duplicate", []string{"gatehouse_auth=a; gatehouse_auth=b"}, ""},
		{"DuplicateSameValue", []string{"gatehouse_auth=a; gatehouse_auth=a"}, ""},
		{"DuplicateTossedEmptyFirst", []string{"gatehouse_auth=; gatehouse_auth=tok"}, ""},
		{"DuplicateTossedInvalid", []string{"gatehouse_auth=tok; gatehouse_auth=a b"}, ""},
		{"DuplicateAcrossHeaders", []string{"gatehouse_auth=a", "gatehouse_auth=b"}, ""},
		{"TooLong", []string{"gatehouse_auth=" + long + "a"}, ""},
		{"Quoted", []string{`gatehouse_auth="tok"`}, ""},
		{"Space", []string{"gatehouse_auth=a b"}, ""},
		{"LeadingSpaceInValue", []string{"gatehouse_auth= tok"}, ""},
		{"Comma", []string{"gatehouse_auth=a,b"}, ""},
		{"Percent", []string{"gatehouse_auth=a%2Fb"}, ""},
		{"Plus", []string{"gatehouse_auth=a+b"}, ""},
		{"Slash", []string{"gatehouse_auth=a/b"}, ""},
		{"Equals", []string{"gatehouse_auth=YQ=="}, ""},
		{"Backslash", []string{`gatehouse_auth=a\b`}, ""},
		{"Tab", []string{"gatehouse_auth=a\tb"}, ""},
		{"NUL", []string{"gatehouse_auth=a\x00b"}, ""},
		{"DEL", []string{"gatehouse_auth=a\x7fb"}, ""},
		{"Unicode", []string{"gatehouse_auth=tokén"}, ""},
		{"InvalidUTF8", []string{"gatehouse_auth=tok\xff"}, ""},
		{"NameUpperCase", []string{"GATEHOUSE_AUTH=tok"}, ""},
		{"NameMixedCase", []string{"Gatehouse_Auth=tok"}, ""},
		{"AuthorizationIgnored", nil, ""},
	}
	tr := mustNew(t, cookie.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := request(tt.headers...)
			if tt.name == "AuthorizationIgnored" {
				r.Header.Set("Authorization", "Bearer tok")
			}
			token, ok := tr.Credential(r)
			if ok != (tt.token != "") || token != tt.token {
				t.Errorf("Credential = %q, %v; want %q, %v", token, ok, tt.token, tt.token != "")
			}
		})
	}
}

func TestCredentialConfiguredName(t *testing.T) {
	t.Parallel()
	tr := mustNew(t, cookie.Config{Name: "__Host-gatehouse"})
	for _, tt := range []struct {
		header, token string
	}{
		{"__Host-gatehouse=tok", "tok"},
		{"gatehouse_auth=tok", ""},
		{"__host-gatehouse=tok", ""},
		{"__Host-gatehouse=tok; __host-gatehouse=x", "tok"},
		{"__Host-gatehouse=tok; __Host-gatehouse=x", ""},
	} {
		if token, ok := tr.Credential(request(tt.header)); token != tt.token || ok != (tt.token != "") {
			t.Errorf("Credential(%q) = %q, %v; want %q", tt.header, token, ok, tt.token)
		}
	}
}

// TestLoginRoundTrip checks that what WriteLogin sets, a browser sends
// back and Credential reads.
func TestLoginRoundTrip(t *testing.T) {
	t.Parallel()
	tr := mustNew(t, cookie.Config{Name: "__Host-gatehouse", MaxAge: time.Hour})
	rec := httptest.NewRecorder()
	if err := tr.WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/", nil), gatehouse.Token{AccessToken: "a.b.c"}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	if tok, ok := tr.Credential(r); !ok || tok != "a.b.c" {
		t.Errorf("Credential = %q, %v", tok, ok)
	}
}

// noUsers satisfies gatehouse.UserStore; CheckCrossOrigin never uses it.
type noUsers struct{ gatehouse.UserStore }

// TestCrossOriginProtection checks that the Authenticator treats the
// cookie transport as ambient and refuses forged unsafe requests.
func TestCrossOriginProtection(t *testing.T) {
	t.Parallel()
	b := gatehouse.Backend{Name: "cookie", Transport: mustNew(t, cookie.Config{}), Strategy: nopStrategy{}}
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		allowed bool
	}{
		{"CrossSitePOST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"SameSitePOST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"ForeignOriginPOST", http.MethodPost, map[string]string{"Origin": "https://evil.example"}, false},
		{"SameOriginPOST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"OriginMatchesHost", http.MethodDelete, map[string]string{"Origin": "https://api.example"}, true},
		{"CrossSiteGET", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A fresh Authenticator per case: CrossOriginProtection is
			// configurable, so cases share nothing.
			a, err := gatehouse.NewAuthenticator(noUsers{}, b)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tt.method, "https://api.example/users/me", nil)
			r.Header.Set("Cookie", "gatehouse_auth=tok")
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			err = a.CheckCrossOrigin(r, &b)
			if tt.allowed && err != nil || !tt.allowed && gatehouse.ErrorCode(err) != gatehouse.CodeForbidden {
				t.Errorf("CheckCrossOrigin = %v; allowed %v", err, tt.allowed)
			}
		})
	}
}

type nopStrategy struct{ gatehouse.Strategy }

type failingWriter struct{ httptest.ResponseRecorder }

func (*failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestWriteNoBody checks that login and logout never write a body, so a
// broken connection cannot fail them after the cookie is set.
func TestWriteNoBody(t *testing.T) {
	t.Parallel()
	tr := mustNew(t, cookie.Config{})
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := tr.WriteLogin(&failingWriter{*httptest.NewRecorder()}, r, gatehouse.Token{AccessToken: "t"}); err != nil {
		t.Error(err)
	}
	if err := tr.WriteLogout(&failingWriter{*httptest.NewRecorder()}, r); err != nil {
		t.Error(err)
	}
}

func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._~-", c) >= 0) {
			return false
		}
	}
	return true
}

// FuzzCredential checks Credential on arbitrary Cookie headers (one per
// line of the input): it never panics, a value it returns is 1–4096 bytes
// of [A-Za-z0-9._~-], and it round-trips: a Cookie header built from an
// accepted value, alone or among other cookies, yields it again.
func FuzzCredential(f *testing.F) {
	for _, s := range []string{
		"gatehouse_auth=tok",
		"a=1; gatehouse_auth=eyJ.eyJ.sig; b=2",
		"gatehouse_auth=a; gatehouse_auth=b",
		"gatehouse_auth=a\ngatehouse_auth=b",
		"theme=dark\ngatehouse_auth=tok",
		`gatehouse_auth="tok"`,
		"gatehouse_auth=",
		"gatehouse_auth",
		" gatehouse_auth = tok ",
		"gatehouse_auth=a b",
		"gatehouse_auth=tok\r\nSet-Cookie: x=y",
		"gatehouse_auth=tokén",
		"bad name=1; gatehouse_auth=tok; =x; ;;",
		"GATEHOUSE_AUTH=tok",
		"gatehouse_auth=" + strings.Repeat("x", 4097),
		"",
	} {
		f.Add(s)
	}
	tr := mustNew(f, cookie.Config{})
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := tr.Credential(request(strings.Split(v, "\n")...))
		if ok {
			if tok == "" || len(tok) > 4096 || !tokenChars(tok) {
				t.Fatalf("Credential(%q) = %q", v, tok)
			}
			for _, h := range []string{"gatehouse_auth=" + tok, "a=1; gatehouse_auth=" + tok + "; b=2"} {
				if again, ok := tr.Credential(request(h)); !ok || again != tok {
					t.Fatalf("round trip of %q via %q gave %q, %v", tok, h, again, ok)
				}
			}
		} else if tok != "" {
			t.Fatalf("Credential(%q) = %q with ok false", v, tok)
		}
		// v itself as the value: accepted exactly when it is valid.
		valid := v != "" && len(v) <= 4096 && tokenChars(v)
		got, ok := tr.Credential(request("x=1; gatehouse_auth=" + v))
		if valid && (!ok || got != v) || !valid && ok && got == v {
			t.Fatalf("Credential(\"gatehouse_auth=\"+%q) = %q, %v; want valid=%v", v, got, ok, valid)
		}
	})
}
