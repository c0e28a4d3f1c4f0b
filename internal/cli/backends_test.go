package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestParseBackends(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []backendSpec
	}{
		{"jwt=bearer+jwt", []backendSpec{{"jwt", "bearer", "jwt"}}},
		{"a=bearer+jwt,b-2_x=bearer+jwt", []backendSpec{{"a", "bearer", "jwt"}, {"b-2_x", "bearer", "jwt"}}},
		{"jwt=bearer+jwt,cookie=cookie+jwt", []backendSpec{{"jwt", "bearer", "jwt"}, {"cookie", "cookie", "jwt"}}},
		// Every transport with every strategy.
		{
			"a=bearer+jwt,b=bearer+database,c=bearer+redis,d=cookie+jwt,e=cookie+database,f=cookie+redis",
			[]backendSpec{
				{"a", "bearer", "jwt"}, {"b", "bearer", "database"}, {"c", "bearer", "redis"},
				{"d", "cookie", "jwt"}, {"e", "cookie", "database"}, {"f", "cookie", "redis"},
			},
		},
	} {
		got, err := parseBackends(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseBackends(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"", ",", "jwt", "jwt=", "jwt=bearer", "jwt=bearer+", "=bearer+jwt", "jwt=+jwt",
		"jwt=bearer+jwt,", ",jwt=bearer+jwt", "jwt=bearer+jwt,,b=bearer+jwt",
		" jwt=bearer+jwt", "jwt = bearer+jwt", "jwt=bearer+jwt ", "JWT=bearer+jwt", "j.w=bearer+jwt",
		"jwt=bearer+jwt,jwt=bearer+jwt", "jwt=Bearer+jwt", "jwt=bearer+JWT", "jwt=bearer+jwt+jwt",
		"a=b=bearer+jwt", "jwt=apikey+jwt", "jwt=bearer+oauth", "jwt=cookie+Database", "jwt=Cookie+jwt",
		"jwt=cookie+redis+jwt", "jwt=bearer+jwt,cookie=cookie+jwt,jwt=cookie+database",
		"apikey=bearer+jwt", "jwt=bearer+jwt,apikey=bearer+database", // reserved for the API key backend
		strings.Repeat("a", maxBackendName+1) + "=bearer+jwt",
	} {
		if got, err := parseBackends(in); err == nil {
			t.Errorf("parseBackends(%q) = %v, want an error", in, got)
		}
	}
	if _, err := parseBackends(defaultBackends); err != nil {
		t.Errorf("the default %q does not parse: %v", defaultBackends, err)
	}
	if defaultBackends != "jwt=bearer+jwt,cookie=cookie+jwt" {
		t.Errorf("defaultBackends = %q, want the documented jwt=bearer+jwt,cookie=cookie+jwt", defaultBackends)
	}
}

// FuzzParseBackends checks that parseBackends never panics, that what it
// accepts is well-formed, and that accepted specs round-trip.
func FuzzParseBackends(f *testing.F) {
	for _, seed := range []string{
		defaultBackends,
		"a=bearer+jwt,b=bearer+jwt",
		"a=bearer+database,b=cookie+redis",
		"a=cookie+database,a=cookie+redis",
		"jwt=bearer+jwt,jwt=bearer+jwt",
		"jwt=bearer+jwt,",
		"jwt=bearer+jwt+jwt",
		"=+,=+",
		"é=bearer+jwt",
		"jwt=bearer\x00+jwt",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		specs, err := parseBackends(s)
		if err != nil {
			return
		}
		if len(specs) == 0 {
			t.Fatalf("%q: accepted with no backends", s)
		}
		seen := make(map[string]bool)
		for _, b := range specs {
			if !validBackendName(b.Name) || seen[b.Name] || b.Name == apiKeyBackend {
				t.Fatalf("%q: accepted a bad or repeated name %q", s, b.Name)
			}
			seen[b.Name] = true
			if !slices.Contains(supportedTransports, b.Transport) || !slices.Contains(supportedStrategies, b.Strategy) {
				t.Fatalf("%q: accepted %v", s, b)
			}
		}
		if got := formatBackends(specs); got != s {
			t.Fatalf("formatBackends(parseBackends(%q)) = %q", s, got)
		}
		again, err := parseBackends(formatBackends(specs))
		if err != nil || !slices.Equal(again, specs) {
			t.Fatalf("%q: reparse gave %v, %v", s, again, err)
		}
	})
}

func TestParseOrigins(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"https://app.example.com", []string{"https://app.example.com"}},
		{"https://app.example.com,http://localhost:3000", []string{"https://app.example.com", "http://localhost:3000"}},
		{"https://a.example, https://b.example", []string{"https://a.example", "https://b.example"}},
		{"https://a.example,https://a.example", []string{"https://a.example"}},
		{"http://[::1]:8080", []string{"http://[::1]:8080"}},
	} {
		got, err := parseOrigins(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseOrigins(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		",", "https://a.example,", "app.example.com", "//app.example.com", "https://", "https://app.example.com/",
		"https://app.example.com/app", "https://app.example.com?x", "https://app.example.com#x", "ftp://app.example.com",
		"https://user@app.example.com", "HTTPS://app.example.com", "https://App.example.com", "https://a.example:443",
		"http://a.example:80", "https://a.example:", "mailto:a@example.com", "null", "*",
	} {
		if got, err := parseOrigins(in); err == nil {
			t.Errorf("parseOrigins(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseDatabaseURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want dbURL
	}{
		{"sqlite://gatehouse.db", dbURL{Driver: "sqlite", Path: "gatehouse.db"}},
		{"sqlite://data/g.db", dbURL{Driver: "sqlite", Path: "data/g.db"}},
		{"sqlite:///var/lib/g.db", dbURL{Driver: "sqlite", Path: "/var/lib/g.db"}},
		{"postgres://u:p@h:5432/db?sslmode=disable", dbURL{Driver: "postgres", URL: "postgres://u:p@h:5432/db?sslmode=disable"}},
		{"postgresql://h/db", dbURL{Driver: "postgres", URL: "postgresql://h/db"}},
	} {
		got, err := parseDatabaseURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseDatabaseURL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "gatehouse.db", "sqlite:", "sqlite://", "sqlite:///", "sqlite://dir/", "sqlite://g.db?mode=ro",
		"mysql://root@h/db", "postgres://%zz", "file:g.db", "POSTGRES://h/db"} {
		if got, err := parseDatabaseURL(in); err == nil {
			t.Errorf("parseDatabaseURL(%q) = %+v, want an error", in, got)
		}
	}
	u, _ := parseDatabaseURL("postgres://user:hunter2@h/db")
	if s := u.String(); strings.Contains(s, "hunter2") {
		t.Errorf("String() = %q shows the password", s)
	}
}
