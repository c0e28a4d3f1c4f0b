package gatehouse_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// fakeTransport reads the token from the named header.
type fakeTransport struct{ header string }

func (f fakeTransport) Credential(r *http.Request) (string, bool) {
	v := r.Header.Get(f.header)
	return v, v != ""
}
func (fakeTransport) WriteLogin(http.ResponseWriter, *http.Request, gatehouse.Token) error {
	return nil
}
func (fakeTransport) WriteLogout(http.ResponseWriter, *http.Request) error { return nil }

// fakeStrategy answers Read with the func it holds.
type fakeStrategy struct {
	read func(token string) (gatehouse.Principal, error)
}

func (fakeStrategy) Write(context.Context, *gatehouse.User, gatehouse.ID) (gatehouse.Token, error) {
	return gatehouse.Token{}, nil
}
func (f fakeStrategy) Read(_ context.Context, token string) (gatehouse.Principal, error) {
	return f.read(token)
}
func (fakeStrategy) Destroy(context.Context, string) error { return nil }

// mapStore is a UserStore holding users by id; only lookups by id are used.
type mapStore map[gatehouse.ID]*gatehouse.User

func (m mapStore) FindUserByID(_ context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	if u, ok := m[id]; ok {
		return u, nil
	}
	return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
}
func (mapStore) CreateUser(context.Context, *gatehouse.User) error { return errors.New("unused") }
func (mapStore) FindUserByEmail(context.Context, string) (*gatehouse.User, error) {
	return nil, errors.New("unused")
}
func (mapStore) FindUsers(context.Context, gatehouse.UserFilter) ([]*gatehouse.User, int, error) {
	return nil, 0, errors.New("unused")
}
func (mapStore) UpdateUser(context.Context, gatehouse.ID, gatehouse.UserUpdate) (*gatehouse.User, error) {
	return nil, errors.New("unused")
}
func (mapStore) DeleteUser(context.Context, gatehouse.ID) error { return errors.New("unused") }

// tokens maps token strings to user ids; "down" means the store is down,
// "boom" an unexpected error.
func tokens(m map[string]gatehouse.ID) fakeStrategy {
	return fakeStrategy{read: func(tok string) (gatehouse.Principal, error) {
		switch tok {
		case "down":
			return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnavailable}
		case "boom":
			return gatehouse.Principal{}, errors.New("boom")
		}
		id, ok := m[tok]
		if !ok {
			return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
		}
		return gatehouse.Principal{UserID: id, TokenID: tok}, nil
	}}
}

func TestNewAuthenticatorRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	store := mapStore{}
	ok := gatehouse.Backend{Name: "a", Transport: fakeTransport{"A"}, Strategy: tokens(nil)}
	for _, tc := range []struct {
		name     string
		store    gatehouse.UserStore
		backends []gatehouse.Backend
		want     string
	}{
		{"nil store", nil, []gatehouse.Backend{ok}, "nil UserStore"},
		{"no backends", store, nil, "no backends"},
		{"no name", store, []gatehouse.Backend{{Transport: fakeTransport{}, Strategy: tokens(nil)}}, "without a name"},
		{"duplicate", store, []gatehouse.Backend{ok, ok}, `duplicate backend name "a"`},
		{"no strategy", store, []gatehouse.Backend{{Name: "b", Transport: fakeTransport{}}}, "needs a transport and a strategy"},
	} {
		_, err := gatehouse.NewAuthenticator(tc.store, tc.backends...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestAuthenticateTriesBackendsInOrder(t *testing.T) {
	t.Parallel()
	alice := &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true}
	bob := &gatehouse.User{ID: gatehouse.NewID(), Email: "bob@example.com", IsActive: true}
	gone := gatehouse.NewID()
	store := mapStore{alice.ID: alice, bob.ID: bob}
	known := map[string]gatehouse.ID{"alice": alice.ID, "bob": bob.ID, "gone": gone}
	auth, err := gatehouse.NewAuthenticator(store,
		gatehouse.Backend{Name: "first", Transport: fakeTransport{"A"}, Strategy: tokens(known)},
		gatehouse.Backend{Name: "second", Transport: fakeTransport{"B"}, Strategy: tokens(known)},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		a, b        string
		wantUser    *gatehouse.User
		wantBackend string
		wantCode    gatehouse.Code
	}{
		{"no token", "", "", nil, "", gatehouse.CodeUnauthorized},
		{"first wins", "alice", "bob", alice, "first", ""},
		{"only second has a token", "", "bob", bob, "second", ""},
		{"invalid first, valid second", "junk", "bob", bob, "second", ""},
		{"user gone", "gone", "", nil, "", gatehouse.CodeUnauthorized},
		{"both invalid", "junk", "junk", nil, "", gatehouse.CodeUnauthorized},
		{"store down and nothing else", "down", "", nil, "", gatehouse.CodeUnavailable},
		{"store down, second yields", "down", "bob", bob, "second", ""},
		{"store down, second invalid", "down", "junk", nil, "", gatehouse.CodeUnavailable},
		{"unexpected error fails closed", "boom", "", nil, "", gatehouse.CodeUnavailable},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.a != "" {
			r.Header.Set("A", tc.a)
		}
		if tc.b != "" {
			r.Header.Set("B", tc.b)
		}
		got, err := auth.Authenticate(r)
		if code := gatehouse.ErrorCode(err); code != tc.wantCode {
			t.Errorf("%s: code = %q, want %q", tc.name, code, tc.wantCode)
			continue
		}
		if tc.wantUser == nil {
			if got != nil {
				t.Errorf("%s: got a user", tc.name)
			}
			continue
		}
		if got.User != tc.wantUser || got.Backend.Name != tc.wantBackend {
			t.Errorf("%s: got %s via %s, want %s via %s", tc.name, got.User.Email, got.Backend.Name, tc.wantUser.Email, tc.wantBackend)
		}
	}
}

func TestRequirement(t *testing.T) {
	t.Parallel()
	active := &gatehouse.User{IsActive: true}
	inactive := &gatehouse.User{}
	verified := &gatehouse.User{IsActive: true, IsVerified: true}
	super := &gatehouse.User{IsActive: true, IsSuperuser: true}
	for _, tc := range []struct {
		req  gatehouse.Requirement
		u    *gatehouse.User
		want gatehouse.Code
	}{
		{gatehouse.Requirement{}, nil, gatehouse.CodeUnauthorized},
		{gatehouse.Requirement{}, inactive, ""},
		{gatehouse.Requirement{Active: true}, inactive, gatehouse.CodeUnauthorized},
		{gatehouse.Requirement{Active: true, Verified: true}, inactive, gatehouse.CodeUnauthorized},
		{gatehouse.Requirement{Active: true}, active, ""},
		{gatehouse.Requirement{Active: true, Verified: true}, active, gatehouse.CodeForbidden},
		{gatehouse.Requirement{Active: true, Verified: true}, verified, ""},
		{gatehouse.Requirement{Active: true, Superuser: true}, verified, gatehouse.CodeForbidden},
		{gatehouse.Requirement{Active: true, Superuser: true}, super, ""},
		{gatehouse.Requirement{Superuser: true, Verified: true}, super, gatehouse.CodeForbidden},
	} {
		if got := gatehouse.ErrorCode(tc.req.Check(tc.u)); got != tc.want {
			t.Errorf("%+v.Check(%+v) = %q, want %q", tc.req, tc.u, got, tc.want)
		}
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	alice := &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true}
	auth, err := gatehouse.NewAuthenticator(mapStore{alice.ID: alice},
		gatehouse.Backend{Name: "h", Transport: fakeTransport{"T"}, Strategy: tokens(map[string]gatehouse.ID{"alice": alice.ID})})
	if err != nil {
		t.Fatal(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := gatehouse.UserFrom(r.Context()); ok {
			w.Write([]byte("hello " + u.Email))
			return
		}
		w.Write([]byte("hello stranger"))
	})
	for _, tc := range []struct {
		name   string
		req    gatehouse.Requirement
		token  string
		status int
		body   string
	}{
		{"no token", gatehouse.Requirement{Active: true}, "", 401, `{"detail":"Unauthorized"}`},
		{"store down", gatehouse.Requirement{Active: true}, "down", 503, `{"detail":"SERVICE_UNAVAILABLE"}`},
		{"ok", gatehouse.Requirement{Active: true}, "alice", 200, "hello alice@example.com"},
		{"not verified", gatehouse.Requirement{Active: true, Verified: true}, "alice", 403, `{"detail":"Forbidden"}`},
		{"optional without token", gatehouse.Requirement{Optional: true}, "", 200, "hello stranger"},
		{"optional refused user", gatehouse.Requirement{Optional: true, Superuser: true}, "alice", 200, "hello stranger"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.token != "" {
			r.Header.Set("T", tc.token)
		}
		w := httptest.NewRecorder()
		auth.Require(tc.req)(hello).ServeHTTP(w, r)
		if w.Code != tc.status || w.Body.String() != tc.body {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, w.Code, w.Body, tc.status, tc.body)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%s: no WWW-Authenticate", tc.name)
		}
	}
}
