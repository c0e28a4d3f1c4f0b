package gatehouse_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// twoBackends returns an Authenticator whose backends "first" and "second"
// read tokens from the headers A and B; "alice" is a valid token.
func twoBackends(t *testing.T) *gatehouse.Authenticator {
	t.Helper()
	alice := &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true}
	known := map[string]gatehouse.ID{"alice": alice.ID, "gone": gatehouse.NewID()}
	auth, err := gatehouse.NewAuthenticator(mapStore{alice.ID: alice},
		gatehouse.Backend{Name: "first", Transport: fakeTransport{"A"}, Strategy: tokens(known)},
		gatehouse.Backend{Name: "second", Transport: fakeTransport{"B"}, Strategy: tokens(known)},
	)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

func TestSetObserver(t *testing.T) {
	t.Parallel()
	auth := twoBackends(t)
	var got []string
	auth.SetObserver(func(backend, outcome string) { got = append(got, backend+" "+outcome) })
	for _, tc := range []struct {
		name string
		a, b string
		want []string
	}{
		{"no token", "", "", nil},
		{"valid first stops", "alice", "alice", []string{"first valid"}},
		{"only second", "", "alice", []string{"second valid"}},
		{"invalid then valid", "junk", "alice", []string{"first invalid", "second valid"}},
		{"user gone", "gone", "", []string{"first invalid"}},
		{"store down", "down", "junk", []string{"first unavailable", "second invalid"}},
		{"unexpected error", "boom", "", []string{"first unavailable"}},
	} {
		got = nil
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.a != "" {
			r.Header.Set("A", tc.a)
		}
		if tc.b != "" {
			r.Header.Set("B", tc.b)
		}
		auth.Authenticate(r)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: reported %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The hook costs no allocation, with or without an observer. (AllocsPerRun
// refuses parallel tests.)
func TestSetObserverAllocs(t *testing.T) {
	auth := twoBackends(t)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("A", "alice")
	without := testing.AllocsPerRun(100, func() { auth.Authenticate(r) })
	auth.SetObserver(func(string, string) {})
	with := testing.AllocsPerRun(100, func() { auth.Authenticate(r) })
	if with != without {
		t.Errorf("Authenticate allocates %v times with an observer, %v without", with, without)
	}
}
