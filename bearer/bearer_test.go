package bearer_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/bearer"
)

func request(headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
	for _, h := range headers {
		r.Header.Add("Authorization", h)
	}
	return r
}

func TestCredential(t *testing.T) {
	long := strings.Repeat("a", 4096)
	tests := []struct {
		name    string
		headers []string
		token   string // "" means ok is false
	}{
		{"OK", []string{"Bearer abc.def.ghi"}, "abc.def.ghi"},
		{"SchemeLowerCase", []string{"bearer tok"}, "tok"},
		{"SchemeUpperCase", []string{"BEARER tok"}, "tok"},
		{"SchemeMixedCase", []string{"bEaReR tok"}, "tok"},
		{"ExtraSpacesTrimmed", []string{"Bearer    tok  "}, "tok"},
		{"TabsTrimmed", []string{"Bearer \ttok\t"}, "tok"},
		{"AllVisibleASCII", []string{"Bearer !~+/=-_.\"'"}, "!~+/=-_.\"'"},
		{"MaxLength", []string{"Bearer " + long}, long},
		{"NoHeader", nil, ""},
		{"TwoHeaders", []string{"Bearer a", "Bearer a"}, ""},
		{"TwoHeadersOneBearer", []string{"Basic dXNlcjpwYXNz", "Bearer a"}, ""},
		{"Empty", []string{""}, ""},
		{"SchemeOnly", []string{"Bearer"}, ""},
		{"SchemeAndSpace", []string{"Bearer "}, ""},
		{"SchemeAndBlanks", []string{"Bearer  \t "}, ""},
		{"TabSeparator", []string{"Bearer\ttok"}, ""},
		{"OtherScheme", []string{"Basic dXNlcjpwYXNz"}, ""},
		{"SchemePrefix", []string{"Bearerx tok"}, ""},
		{"LeadingSpace", []string{" Bearer tok"}, ""},
		{"TokenWithSpace", []string{"Bearer a b"}, ""},
		{"TokenWithTab", []string{"Bearer a\tb"}, ""},
		{"TooLong", []string{"Bearer " + long + "a"}, ""},
		{"CR", []string{"Bearer a\rb"}, ""},
		{"LF", []string{"Bearer a\nb"}, ""},
		{"NUL", []string{"Bearer a\x00b"}, ""},
		{"DEL", []string{"Bearer a\x7fb"}, ""},
		{"Unicode", []string{"Bearer tokén"}, ""},
		{"InvalidUTF8", []string{"Bearer tok\xff"}, ""},
		{"TrailingVerticalTab", []string{"Bearer tok\v"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, ok := bearer.Transport{}.Credential(request(tt.headers...))
			if ok != (tt.token != "") || token != tt.token {
				t.Errorf("Credential = %q, %v; want %q, %v", token, ok, tt.token, tt.token != "")
			}
		})
	}
}

func TestWriteLogin(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		token gatehouse.Token
		body  string
	}{
		{"FastAPIUsers", gatehouse.Token{AccessToken: "a.b.c"},
			`{"access_token":"a.b.c","token_type":"bearer"}`},
		{"Expiry", gatehouse.Token{AccessToken: "a.b.c", Expiry: now.Add(15 * time.Minute)},
			`{"access_token":"a.b.c","token_type":"bearer","expires_in":900}`},
		{"ExpiryRoundedUp", gatehouse.Token{AccessToken: "t", Expiry: now.Add(899*time.Second + time.Millisecond)},
			`{"access_token":"t","token_type":"bearer","expires_in":900}`},
		{"ExpiryWhole", gatehouse.Token{AccessToken: "t", Expiry: now.Add(time.Second)},
			`{"access_token":"t","token_type":"bearer","expires_in":1}`},
		{"Expired", gatehouse.Token{AccessToken: "t", Expiry: now.Add(-time.Second)},
			`{"access_token":"t","token_type":"bearer","expires_in":0}`},
		{"Refresh", gatehouse.Token{AccessToken: "t", RefreshToken: "r"},
			`{"access_token":"t","token_type":"bearer","refresh_token":"r"}`},
		{"RefreshAndExpiry", gatehouse.Token{AccessToken: "t", RefreshToken: "r", Expiry: now.Add(time.Hour)},
			`{"access_token":"t","token_type":"bearer","refresh_token":"r","expires_in":3600}`},
		{"Escaping", gatehouse.Token{AccessToken: "<a&b>\"\\"},
			`{"access_token":"<a&b>\"\\","token_type":"bearer"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := bearer.Transport{Now: func() time.Time { return now }}
			rec := httptest.NewRecorder()
			if err := tr.WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/auth/jwt/login", nil), tt.token); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusOK {
				t.Errorf("status %d", rec.Code)
			}
			if got := rec.Body.String(); got != tt.body {
				t.Errorf("body\n got %s\nwant %s", got, tt.body)
			}
			for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestWriteLoginDefaultClock checks that the zero Transport uses the real
// clock.
func TestWriteLoginDefaultClock(t *testing.T) {
	rec := httptest.NewRecorder()
	tok := gatehouse.Token{AccessToken: "t", Expiry: time.Now().Add(10 * time.Minute)}
	if err := (bearer.Transport{}).WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/", nil), tok); err != nil {
		t.Fatal(err)
	}
	if want := `{"access_token":"t","token_type":"bearer","expires_in":600}`; rec.Body.String() != want {
		t.Errorf("body %s, want %s", rec.Body, want)
	}
}

type failingWriter struct{ httptest.ResponseRecorder }

func (*failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestWriteLoginError(t *testing.T) {
	w := &failingWriter{*httptest.NewRecorder()}
	err := bearer.Transport{}.WriteLogin(w, httptest.NewRequest(http.MethodPost, "/", nil), gatehouse.Token{AccessToken: "t"})
	if err == nil {
		t.Fatal("write error lost")
	}
}

func TestWriteLogout(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := (bearer.Transport{}).WriteLogout(rec, httptest.NewRequest(http.MethodPost, "/auth/jwt/logout", nil)); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("status %d, body %q", rec.Code, rec.Body)
	}
	if sc := rec.Header().Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("Set-Cookie %q", sc)
	}
}

func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// FuzzCredential checks Credential on arbitrary header values: it never
// panics, a token it returns is 1–4096 bytes of visible ASCII, and it
// round-trips: "Bearer "+tok yields tok for every valid tok.
func FuzzCredential(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer ", "Bearer a b", "Bearer\ttok", "Basic x",
		"Bearer a\r\nX-Injected: 1", "Bearer tokén", " Bearer  x ", "BEARER \t x \t", "Bearer " + strings.Repeat("x", 4097), ""} {
		f.Add(s)
	}
	tr := bearer.Transport{}
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := tr.Credential(request(v))
		if ok {
			if tok == "" || len(tok) > 4096 || !visible(tok) {
				t.Fatalf("Credential(%q) = %q", v, tok)
			}
			if again, ok := tr.Credential(request("Bearer " + tok)); !ok || again != tok {
				t.Fatalf("round trip of %q gave %q, %v", tok, again, ok)
			}
		} else if tok != "" {
			t.Fatalf("Credential(%q) = %q with ok false", v, tok)
		}
		// v itself as a token: surrounding blanks are trimmed, the rest
		// must be valid as a whole.
		want := strings.Trim(v, " \t")
		valid := want != "" && len(want) <= 4096 && visible(want)
		got, ok := tr.Credential(request("Bearer " + v))
		if ok != valid || (ok && got != want) {
			t.Fatalf("Credential(\"Bearer \"+%q) = %q, %v; want valid=%v", v, got, ok, valid)
		}
	})
}
