package authz_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// Storage has its own conformance suites (gatehousetest); these fakes only
// give the middleware something to ask.

// headerTransport reads the token from X-Test-Token.
type headerTransport struct{}

func (headerTransport) Credential(r *http.Request) (string, bool) {
	v := r.Header.Get("X-Test-Token")
	return v, v != ""
}
func (headerTransport) WriteLogin(http.ResponseWriter, *http.Request, gatehouse.Token) error {
	return nil
}
func (headerTransport) WriteLogout(http.ResponseWriter, *http.Request) error { return nil }

// tokenStrategy maps tokens to principals.
type tokenStrategy map[string]gatehouse.Principal

func (tokenStrategy) Write(context.Context, *gatehouse.User, gatehouse.ID) (gatehouse.Token, error) {
	return gatehouse.Token{}, errors.New("unused")
}
func (m tokenStrategy) Read(_ context.Context, token string) (gatehouse.Principal, error) {
	if p, ok := m[token]; ok {
		return p, nil
	}
	return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
}
func (tokenStrategy) Destroy(context.Context, string) error { return nil }

// userMap is a UserStore that only finds users by id.
type userMap map[gatehouse.ID]*gatehouse.User

func (m userMap) FindUserByID(_ context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	if u, ok := m[id]; ok {
		return u, nil
	}
	return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
}
func (userMap) CreateUser(context.Context, *gatehouse.User) error { return errors.New("unused") }
func (userMap) FindUserByEmail(context.Context, string) (*gatehouse.User, error) {
	return nil, errors.New("unused")
}
func (userMap) FindUsers(context.Context, gatehouse.UserFilter) ([]*gatehouse.User, int, error) {
	return nil, 0, errors.New("unused")
}
func (userMap) UpdateUser(context.Context, gatehouse.ID, gatehouse.UserUpdate) (*gatehouse.User, error) {
	return nil, errors.New("unused")
}
func (userMap) DeleteUser(context.Context, gatehouse.ID) error { return errors.New("unused") }

// memRoles is an in-memory RoleStore. err, when set, is what UserRoles
// answers; calls counts UserRoles calls.
type memRoles struct {
	mu    sync.Mutex
	roles map[string]gatehouse.Role
	users map[gatehouse.ID][]string
	err   error
	calls int
}

func newMemRoles(roles ...gatehouse.Role) *memRoles {
	m := &memRoles{roles: map[string]gatehouse.Role{}, users: map[gatehouse.ID][]string{}}
	for _, r := range roles {
		m.roles[r.Name] = r
	}
	return m
}

func (m *memRoles) CreateRole(_ context.Context, r gatehouse.Role) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[r.Name]; ok {
		return &gatehouse.Error{Code: gatehouse.CodeConflict}
	}
	m.roles[r.Name] = r
	return nil
}

func (m *memRoles) FindRole(_ context.Context, name string) (*gatehouse.Role, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.roles[name]
	if !ok {
		return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	return &r, nil
}

func (m *memRoles) ListRoles(context.Context) ([]gatehouse.Role, error) {
	return nil, errors.New("unused")
}

func (m *memRoles) UpdateRole(context.Context, string, gatehouse.RoleUpdate) (*gatehouse.Role, error) {
	return nil, errors.New("unused")
}

func (m *memRoles) DeleteRole(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.roles, name)
	return nil
}

func (m *memRoles) SetUserRoles(_ context.Context, id gatehouse.ID, names []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range names {
		if _, ok := m.roles[n]; !ok {
			return &gatehouse.Error{Code: gatehouse.CodeNotFound}
		}
	}
	m.users[id] = names
	return nil
}

func (m *memRoles) UserRoles(_ context.Context, id gatehouse.ID) ([]gatehouse.Role, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.err != nil {
		return nil, m.err
	}
	var out []gatehouse.Role
	for _, n := range m.users[id] {
		if r, ok := m.roles[n]; ok { // a deleted role is no longer held
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memRoles) setErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

func (m *memRoles) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// world is a small user base: the tokens name who is asking.
type world struct {
	auth  *gatehouse.Authenticator
	roles *memRoles
	users map[string]*gatehouse.User // by token
}

var (
	viewerRole = gatehouse.Role{Name: "viewer", Permissions: []string{"articles:read"}}
	editorRole = gatehouse.Role{Name: "editor", Permissions: []string{"articles:read", "articles:write"}}
	adminRole  = gatehouse.Role{Name: "admin", Permissions: []string{"articles:delete", "users:delete"}}
	labelRole  = gatehouse.Role{Name: "staff"} // a role without permissions
)

// newWorld returns users known by their tokens:
//
//	viewer, editor, admin, staff  active users with that one role
//	nobody                        an active user without roles
//	root                          an active superuser without roles
//	root-key                      root through an API key scoped to articles:read
//	editor-key                    editor through a key scoped to articles:read
//	admin-key                     admin through a key scoped to all of admin's permissions
//	empty-key                     editor through a key with no scopes
//	inactive                      an inactive editor
//	inactive-root                 an inactive superuser
func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{roles: newMemRoles(viewerRole, editorRole, adminRole, labelRole), users: map[string]*gatehouse.User{}}
	users := userMap{}
	tokens := tokenStrategy{}
	add := func(token string, u *gatehouse.User, scopes []string, roles ...string) {
		if existing, ok := users[u.ID]; ok {
			u = existing
		} else {
			users[u.ID] = u
			if err := w.roles.SetUserRoles(context.Background(), u.ID, roles); err != nil {
				t.Fatal(err)
			}
		}
		w.users[token] = u
		tokens[token] = gatehouse.Principal{UserID: u.ID, TokenID: token, Scopes: scopes}
	}
	user := func(email string, active, super bool) *gatehouse.User {
		return &gatehouse.User{ID: gatehouse.NewID(), Email: email, IsActive: active, IsSuperuser: super, IsVerified: true}
	}
	viewer, editor, admin := user("viewer@example.com", true, false), user("editor@example.com", true, false), user("admin@example.com", true, false)
	root := user("root@example.com", true, true)
	add("viewer", viewer, nil, "viewer")
	add("editor", editor, nil, "editor")
	add("admin", admin, nil, "admin")
	add("staff", user("staff@example.com", true, false), nil, "staff")
	add("nobody", user("nobody@example.com", true, false), nil)
	add("root", root, nil)
	add("root-key", root, []string{"articles:read"})
	add("editor-key", editor, []string{"articles:read"})
	add("admin-key", admin, []string{"articles:delete", "users:delete"})
	add("empty-key", editor, []string{})
	add("inactive", user("inactive@example.com", false, false), nil, "editor")
	add("inactive-root", user("inactive-root@example.com", false, true), nil)

	auth, err := gatehouse.NewAuthenticator(users, gatehouse.Backend{Name: "test", Transport: headerTransport{}, Strategy: tokens})
	if err != nil {
		t.Fatal(err)
	}
	w.auth = auth
	return w
}

// serve runs one request with the given token ("" for none) through h.
func serve(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("X-Test-Token", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// ok is the handler behind the middleware under test.
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, found := authz.SubjectFrom(r.Context()); !found {
		http.Error(w, "no subject in context", http.StatusInternalServerError)
		return
	}
	w.Write([]byte("ok"))
})

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger returns a logger writing text lines to the returned buffer.
func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// defaultLog receives what the package logs through slog.Default
// (Evaluate's panics, CEL evaluation errors), so tests can check it was
// logged and the test output stays readable. It is set once, before any
// test runs.
var defaultLog = &syncBuffer{}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(defaultLog, nil)))
	os.Exit(m.Run())
}
