package cache_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The fakes are small in-memory stores that count their reads and can hold
// one read until the test releases it. The real stores have suites of
// their own; these only need to answer.

// counter counts a fake's reads and holds the next one on request.
type counter struct {
	mu    sync.Mutex
	n     int
	held  chan struct{} // closed when the held read has asked
	until chan struct{} // the held read answers once this is closed
}

// read is called by every read of a fake, before it looks at its data.
func (c *counter) read() {
	c.mu.Lock()
	c.n++
	held, until := c.held, c.until
	c.held, c.until = nil, nil
	c.mu.Unlock()
	if held != nil {
		close(held)
		<-until
	}
}

func (c *counter) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// hold makes the next read wait, after asking, for release to be called;
// asked is closed once it has asked.
func (c *counter) hold() (asked <-chan struct{}, release func()) {
	held, until := make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.held, c.until = held, until
	c.mu.Unlock()
	return held, func() { close(until) }
}

func errNotFound() error { return &gatehouse.Error{Code: gatehouse.CodeNotFound} }

// fakeRevocations answers by the test's clock.
type fakeRevocations struct {
	counter
	now func() time.Time
	mu  sync.Mutex
	m   map[string]time.Time
}

func newFakeRevocations(now func() time.Time) *fakeRevocations {
	return &fakeRevocations{now: now, m: make(map[string]time.Time)}
}

func (f *fakeRevocations) Revoke(_ context.Context, id string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[id] = until
	return nil
}

func (f *fakeRevocations) Revoked(_ context.Context, id string) (bool, error) {
	f.read()
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.m[id]
	return ok && f.now().Before(until), nil
}

type fakeUsers struct {
	counter
	mu sync.Mutex
	m  map[gatehouse.ID]*gatehouse.User
}

func newFakeUsers() *fakeUsers { return &fakeUsers{m: make(map[gatehouse.ID]*gatehouse.User)} }

// clone gives every caller a user of its own, as a real store does.
func clone(u *gatehouse.User) *gatehouse.User {
	c := *u
	c.Fields = make(map[string]any)
	for k, v := range u.Fields {
		if m, ok := v.(map[string]any); ok {
			n := make(map[string]any)
			for k2, v2 := range m {
				n[k2] = v2
			}
			v = n
		}
		c.Fields[k] = v
	}
	c.Roles = slices.Clone(u.Roles)
	return &c
}

func (f *fakeUsers) CreateUser(_ context.Context, u *gatehouse.User) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.ID.IsZero() {
		u.ID = gatehouse.NewID()
	}
	if _, ok := f.m[u.ID]; ok {
		return &gatehouse.Error{Code: gatehouse.CodeConflict}
	}
	f.m[u.ID] = clone(u)
	return nil
}

func (f *fakeUsers) FindUserByID(_ context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	f.read()
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.m[id]
	if !ok {
		return nil, errNotFound()
	}
	return clone(u), nil
}

func (f *fakeUsers) FindUserByEmail(_ context.Context, email string) (*gatehouse.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.m {
		if u.Email == email {
			return clone(u), nil
		}
	}
	return nil, errNotFound()
}

func (f *fakeUsers) FindUsers(context.Context, gatehouse.UserFilter) ([]*gatehouse.User, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*gatehouse.User
	for _, u := range f.m {
		all = append(all, clone(u))
	}
	return all, len(all), nil
}

func (f *fakeUsers) UpdateUser(_ context.Context, id gatehouse.ID, upd gatehouse.UserUpdate) (*gatehouse.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.m[id]
	if !ok {
		return nil, errNotFound()
	}
	if upd.Email != nil {
		u.Email = *upd.Email
	}
	if upd.IsActive != nil {
		u.IsActive = *upd.IsActive
	}
	return clone(u), nil
}

func (f *fakeUsers) DeleteUser(_ context.Context, id gatehouse.ID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[id]; !ok {
		return errNotFound()
	}
	delete(f.m, id)
	return nil
}

// set changes a user behind the cache's back.
func (f *fakeUsers) set(id gatehouse.ID, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[id].Email = email
}

type fakeSessions struct {
	counter
	mu      sync.Mutex
	m       map[gatehouse.ID]*gatehouse.Session
	ended   map[gatehouse.ID]bool
	tokens  map[string]gatehouse.ID // refresh hash -> session
	rotated map[string]bool
}

func newFakeSessions() *fakeSessions {
	return &fakeSessions{m: make(map[gatehouse.ID]*gatehouse.Session), ended: make(map[gatehouse.ID]bool),
		tokens: make(map[string]gatehouse.ID), rotated: make(map[string]bool)}
}

func (f *fakeSessions) CreateSession(_ context.Context, s gatehouse.Session, hash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := s
	f.m[s.ID] = &c
	f.tokens[hash] = s.ID
	return nil
}

func (f *fakeSessions) Rotate(_ context.Context, r gatehouse.Rotation) (*gatehouse.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.tokens[r.Hash]
	switch {
	case !ok || f.ended[id]:
		return nil, &gatehouse.Error{Code: gatehouse.CodeRefreshTokenInvalid}
	case f.rotated[r.Hash]:
		f.ended[id] = true
		return nil, &gatehouse.Error{Code: gatehouse.CodeRefreshTokenReused}
	}
	f.rotated[r.Hash] = true
	f.tokens[r.NextHash] = id
	s := f.m[id]
	s.LastUsedAt, s.IdleExpiresAt = r.Now, r.Now.Add(r.IdleTTL)
	c := *s
	return &c, nil
}

func (f *fakeSessions) FindSession(_ context.Context, id gatehouse.ID, now time.Time) (*gatehouse.Session, error) {
	f.read()
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[id]
	if !ok || f.ended[id] || !now.Before(s.IdleExpiresAt) || !now.Before(s.ExpiresAt) {
		return nil, errNotFound()
	}
	c := *s
	return &c, nil
}

func (f *fakeSessions) ListSessions(_ context.Context, userID gatehouse.ID, now time.Time) ([]gatehouse.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []gatehouse.Session
	for id, s := range f.m {
		if s.UserID == userID && !f.ended[id] && now.Before(s.IdleExpiresAt) {
			list = append(list, *s)
		}
	}
	return list, nil
}

func (f *fakeSessions) EndSession(_ context.Context, id gatehouse.ID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[id] = true
	return nil
}

func (f *fakeSessions) EndUserSessions(_ context.Context, userID, except gatehouse.ID) ([]gatehouse.ID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ended []gatehouse.ID
	for id, s := range f.m {
		if s.UserID == userID && id != except && !f.ended[id] {
			f.ended[id] = true
			ended = append(ended, id)
		}
	}
	return ended, nil
}

// end ends a session behind the cache's back.
func (f *fakeSessions) end(id gatehouse.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[id] = true
}

// fakeTokens hides expired tokens by the test's clock.
type fakeTokens struct {
	counter
	now func() time.Time
	mu  sync.Mutex
	m   map[string]gatehouse.TokenRecord
}

func newFakeTokens(now func() time.Time) *fakeTokens {
	return &fakeTokens{now: now, m: make(map[string]gatehouse.TokenRecord)}
}

func (f *fakeTokens) CreateToken(_ context.Context, t gatehouse.TokenRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[t.Hash] = t
	return nil
}

func (f *fakeTokens) FindToken(_ context.Context, hash string) (*gatehouse.TokenRecord, error) {
	f.read()
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.m[hash]
	if !ok || !f.now().Before(t.ExpiresAt) {
		return nil, errNotFound()
	}
	return &t, nil
}

func (f *fakeTokens) TouchToken(_ context.Context, hash string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.m[hash]
	if !ok {
		return errNotFound()
	}
	if at.After(t.LastUsedAt) {
		t.LastUsedAt = at
	}
	f.m[hash] = t
	return nil
}

func (f *fakeTokens) DeleteToken(_ context.Context, hash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, hash)
	return nil
}

func (f *fakeTokens) DeleteUserTokens(_ context.Context, id gatehouse.ID) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for h, t := range f.m {
		if t.UserID == id {
			delete(f.m, h)
			n++
		}
	}
	return n, nil
}

// fakeRoles knows a user once it has been given roles.
type fakeRoles struct {
	counter
	mu    sync.Mutex
	roles map[string]gatehouse.Role
	users map[gatehouse.ID][]string
}

func newFakeRoles() *fakeRoles {
	return &fakeRoles{roles: make(map[string]gatehouse.Role), users: make(map[gatehouse.ID][]string)}
}

func (f *fakeRoles) CreateRole(_ context.Context, r gatehouse.Role) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.roles[r.Name]; ok {
		return &gatehouse.Error{Code: gatehouse.CodeConflict}
	}
	r.Permissions = slices.Clone(r.Permissions)
	f.roles[r.Name] = r
	return nil
}

func (f *fakeRoles) FindRole(_ context.Context, name string) (*gatehouse.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.roles[name]
	if !ok {
		return nil, errNotFound()
	}
	r.Permissions = slices.Clone(r.Permissions)
	return &r, nil
}

func (f *fakeRoles) ListRoles(context.Context) ([]gatehouse.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []gatehouse.Role
	for _, r := range f.roles {
		r.Permissions = slices.Clone(r.Permissions)
		list = append(list, r)
	}
	return list, nil
}

func (f *fakeRoles) UpdateRole(_ context.Context, name string, upd gatehouse.RoleUpdate) (*gatehouse.Role, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.roles[name]
	if !ok {
		return nil, errNotFound()
	}
	if upd.Permissions != nil {
		r.Permissions = slices.Clone(*upd.Permissions)
	}
	f.roles[name] = r
	r.Permissions = slices.Clone(r.Permissions)
	return &r, nil
}

func (f *fakeRoles) DeleteRole(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.roles[name]; !ok {
		return errNotFound()
	}
	delete(f.roles, name)
	for id, names := range f.users {
		f.users[id] = slices.DeleteFunc(names, func(n string) bool { return n == name })
	}
	return nil
}

func (f *fakeRoles) SetUserRoles(_ context.Context, userID gatehouse.ID, names []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		if _, ok := f.roles[n]; !ok {
			return errNotFound()
		}
	}
	f.users[userID] = slices.Clone(names)
	return nil
}

func (f *fakeRoles) UserRoles(_ context.Context, userID gatehouse.ID) ([]gatehouse.Role, error) {
	f.read()
	f.mu.Lock()
	defer f.mu.Unlock()
	names, ok := f.users[userID]
	if !ok {
		return nil, errNotFound()
	}
	list := []gatehouse.Role{}
	for _, n := range names {
		r := f.roles[n]
		r.Permissions = slices.Clone(r.Permissions)
		list = append(list, r)
	}
	return list, nil
}

// set gives a user roles behind the cache's back, creating them.
func (f *fakeRoles) set(userID gatehouse.ID, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		if _, ok := f.roles[n]; !ok {
			f.roles[n] = gatehouse.Role{Name: n, Permissions: []string{n + ":read"}}
		}
	}
	f.users[userID] = names
}

// fakeAPIKeys hides keys expired at the now asked for, and counts
// touches.
type fakeAPIKeys struct {
	counter
	mu      sync.Mutex
	m       map[string]gatehouse.APIKey // by hash
	touches int
}

func newFakeAPIKeys() *fakeAPIKeys { return &fakeAPIKeys{m: make(map[string]gatehouse.APIKey)} }

func cloneAPIKey(k gatehouse.APIKey) gatehouse.APIKey {
	k.Scopes = slices.Clone(k.Scopes)
	return k
}

func (f *fakeAPIKeys) CreateAPIKey(_ context.Context, k gatehouse.APIKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[k.Hash]; ok {
		return &gatehouse.Error{Code: gatehouse.CodeConflict}
	}
	f.m[k.Hash] = cloneAPIKey(k)
	return nil
}

func (f *fakeAPIKeys) FindAPIKey(_ context.Context, hash string, now time.Time) (*gatehouse.APIKey, error) {
	f.read()
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.m[hash]
	if !ok || !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, errNotFound()
	}
	k = cloneAPIKey(k)
	return &k, nil
}

func (f *fakeAPIKeys) ListAPIKeys(_ context.Context, userID gatehouse.ID) ([]gatehouse.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := []gatehouse.APIKey{}
	for _, k := range f.m {
		if k.UserID == userID {
			list = append(list, cloneAPIKey(k))
		}
	}
	return list, nil
}

// hashOf returns the hash of the key with this id; "" if there is none.
func (f *fakeAPIKeys) hashOf(id gatehouse.ID) string {
	for h, k := range f.m {
		if k.ID == id {
			return h
		}
	}
	return ""
}

func (f *fakeAPIKeys) DeleteAPIKey(_ context.Context, userID, id gatehouse.ID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hashOf(id)
	if h == "" || f.m[h].UserID != userID {
		return errNotFound()
	}
	delete(f.m, h)
	return nil
}

func (f *fakeAPIKeys) TouchAPIKey(_ context.Context, id gatehouse.ID, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.touches++
	h := f.hashOf(id)
	if h == "" {
		return errNotFound()
	}
	k := f.m[h]
	if at.After(k.LastUsedAt) {
		k.LastUsedAt = at
	}
	f.m[h] = k
	return nil
}

// delete deletes a key behind the cache's back.
func (f *fakeAPIKeys) delete(id gatehouse.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, f.hashOf(id))
}

// deleteUser deletes a user's keys behind the cache's back, as deleting
// the user does.
func (f *fakeAPIKeys) deleteUser(userID gatehouse.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, k := range f.m {
		if k.UserID == userID {
			delete(f.m, h)
		}
	}
}

func (f *fakeAPIKeys) touched() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.touches
}

var (
	_ gatehouse.APIKeyStore  = (*fakeAPIKeys)(nil)
	_ gatehouse.Revocations  = (*fakeRevocations)(nil)
	_ gatehouse.UserStore    = (*fakeUsers)(nil)
	_ gatehouse.SessionStore = (*fakeSessions)(nil)
	_ gatehouse.TokenStore   = (*fakeTokens)(nil)
	_ gatehouse.RoleStore    = (*fakeRoles)(nil)
)
