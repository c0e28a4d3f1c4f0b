package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/cache"
)

// TestSize checks that a wrapper holds no more than Size answers.
func TestSize(t *testing.T) {
	feed, clk := newTestFeed(), newClock()
	c := start(t, feed, cache.Options{Size: 3, TTL: time.Hour, Now: clk.Now})
	feed.setUp(true)
	store := newFakeRevocations(clk.Now)
	w := c.Revocations(store)
	for i := range 10 {
		if _, err := w.Revoked(t.Context(), fmt.Sprint("jti-", i)); err != nil {
			t.Fatal(err)
		}
		if n := c.Stats().Entries; n > 3 {
			t.Fatalf("after %d reads: %d entries, want at most 3", i+1, n)
		}
	}
	if n := c.Stats().Entries; n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
	// The last answer read is held.
	before := store.reads()
	if _, err := w.Revoked(t.Context(), "jti-9"); err != nil {
		t.Fatal(err)
	}
	if store.reads() != before {
		t.Error("the last answer read was not held")
	}
}

// TestPublishFails checks that a write the store made but the feed could
// not announce is reported as CodeUnavailable, is still seen here, and
// that a write the store refused is reported as the store refused it,
// without publishing.
func TestPublishFails(t *testing.T) {
	type wrappers struct {
		revocations gatehouse.Revocations
		users       gatehouse.UserStore
		sessions    gatehouse.SessionStore
		tokens      gatehouse.TokenStore
		roles       gatehouse.RoleStore
		apiKeys     gatehouse.APIKeyStore
		user        gatehouse.ID // a user, with a session, a token, the role "editor" and an API key
		session     gatehouse.ID
		apiKey      gatehouse.ID
	}
	tests := []struct {
		name  string
		write func(ctx context.Context, w wrappers) error
		want  gatehouse.Code
	}{
		{"Revoke", func(ctx context.Context, w wrappers) error { return w.revocations.Revoke(ctx, "jti", farFuture) }, gatehouse.CodeUnavailable},
		{"UpdateUser", func(ctx context.Context, w wrappers) error {
			active := false
			u, err := w.users.UpdateUser(ctx, w.user, gatehouse.UserUpdate{IsActive: &active})
			if err != nil && u != nil {
				return errors.New("UpdateUser returned a user with its error")
			}
			return err
		}, gatehouse.CodeUnavailable},
		{"UpdateUserMissing", func(ctx context.Context, w wrappers) error {
			_, err := w.users.UpdateUser(ctx, gatehouse.NewID(), gatehouse.UserUpdate{})
			return err
		}, gatehouse.CodeNotFound},
		{"DeleteUser", func(ctx context.Context, w wrappers) error { return w.users.DeleteUser(ctx, w.user) }, gatehouse.CodeUnavailable},
		{"DeleteUserMissing", func(ctx context.Context, w wrappers) error { return w.users.DeleteUser(ctx, gatehouse.NewID()) }, gatehouse.CodeNotFound},
		{"CreateUser", func(ctx context.Context, w wrappers) error {
			return w.users.CreateUser(ctx, &gatehouse.User{Email: "new@example.com"})
		}, ""},
		{"EndSession", func(ctx context.Context, w wrappers) error { return w.sessions.EndSession(ctx, w.session) }, gatehouse.CodeUnavailable},
		{"EndUserSessions", func(ctx context.Context, w wrappers) error {
			_, err := w.sessions.EndUserSessions(ctx, w.user, gatehouse.ID{})
			return err
		}, gatehouse.CodeUnavailable},
		{"Rotate", func(ctx context.Context, w wrappers) error {
			_, err := w.sessions.Rotate(ctx, gatehouse.Rotation{Hash: "rt", NextHash: "rt2", Now: time.Now(), IdleTTL: time.Hour})
			return err
		}, ""},
		{"DeleteToken", func(ctx context.Context, w wrappers) error { return w.tokens.DeleteToken(ctx, "h1") }, gatehouse.CodeUnavailable},
		{"DeleteUserTokens", func(ctx context.Context, w wrappers) error {
			_, err := w.tokens.DeleteUserTokens(ctx, w.user)
			return err
		}, gatehouse.CodeUnavailable},
		{"TouchToken", func(ctx context.Context, w wrappers) error { return w.tokens.TouchToken(ctx, "h1", time.Now()) }, ""},
		{"SetUserRoles", func(ctx context.Context, w wrappers) error { return w.roles.SetUserRoles(ctx, w.user, nil) }, gatehouse.CodeUnavailable},
		{"SetUserRolesUnknownRole", func(ctx context.Context, w wrappers) error {
			return w.roles.SetUserRoles(ctx, w.user, []string{"nope"})
		}, gatehouse.CodeNotFound},
		{"UpdateRole", func(ctx context.Context, w wrappers) error {
			perms := []string{"x"}
			r, err := w.roles.UpdateRole(ctx, "editor", gatehouse.RoleUpdate{Permissions: &perms})
			if err != nil && r != nil {
				return errors.New("UpdateRole returned a role with its error")
			}
			return err
		}, gatehouse.CodeUnavailable},
		{"DeleteRole", func(ctx context.Context, w wrappers) error { return w.roles.DeleteRole(ctx, "editor") }, gatehouse.CodeUnavailable},
		{"DeleteRoleMissing", func(ctx context.Context, w wrappers) error { return w.roles.DeleteRole(ctx, "nope") }, gatehouse.CodeNotFound},
		{"CreateRole", func(ctx context.Context, w wrappers) error {
			return w.roles.CreateRole(ctx, gatehouse.Role{Name: "new"})
		}, ""},
		{"DeleteAPIKey", func(ctx context.Context, w wrappers) error { return w.apiKeys.DeleteAPIKey(ctx, w.user, w.apiKey) }, gatehouse.CodeUnavailable},
		{"DeleteAPIKeyOtherUsers", func(ctx context.Context, w wrappers) error {
			return w.apiKeys.DeleteAPIKey(ctx, gatehouse.NewID(), w.apiKey)
		}, gatehouse.CodeNotFound},
		{"TouchAPIKey", func(ctx context.Context, w wrappers) error { return w.apiKeys.TouchAPIKey(ctx, w.apiKey, time.Now()) }, ""},
		{"CreateAPIKey", func(ctx context.Context, w wrappers) error {
			return w.apiKeys.CreateAPIKey(ctx, gatehouse.APIKey{ID: gatehouse.NewID(), UserID: w.user, Hash: "k2"})
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, feed, clk := startUp(t)
			ctx := t.Context()
			users, sessions, tokens, roles := newFakeUsers(), newFakeSessions(), newFakeTokens(clk.Now), newFakeRoles()
			u := &gatehouse.User{Email: "a@example.com"}
			_ = users.CreateUser(ctx, u) // the fake never fails
			now := clk.Now()
			sess := gatehouse.Session{ID: gatehouse.NewID(), UserID: u.ID, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
			_ = sessions.CreateSession(ctx, sess, "rt")                                                                 // the fake never fails
			_ = tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "h1", UserID: u.ID, ExpiresAt: now.Add(time.Hour)}) // the fake never fails
			roles.set(u.ID, "editor")
			apiKeys := newFakeAPIKeys()
			key := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: u.ID, Hash: "k1"}
			_ = apiKeys.CreateAPIKey(ctx, key) // the fake never fails
			w := wrappers{c.Revocations(newFakeRevocations(clk.Now)), c.Users(users), c.Sessions(sessions),
				c.Tokens(tokens), c.Roles(roles), c.APIKeys(apiKeys), u.ID, sess.ID, key.ID}
			// Hold answers, to see that the write drops them here even so.
			if _, err := w.users.FindUserByID(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := w.apiKeys.FindAPIKey(ctx, key.Hash, now); err != nil {
				t.Fatal(err)
			}
			feed.fail(errors.New("feed down"))
			err := tt.write(ctx, w)
			if got := gatehouse.ErrorCode(err); got != tt.want {
				t.Errorf("err = %v, want code %q", err, tt.want)
			}
			if tt.name == "DeleteUser" {
				if _, err := w.users.FindUserByID(ctx, u.ID); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
					t.Errorf("FindUserByID after a DeleteUser whose publish failed: %v, want not found", err)
				}
			}
			if tt.name == "DeleteAPIKey" {
				if _, err := w.apiKeys.FindAPIKey(ctx, key.Hash, now); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
					t.Errorf("FindAPIKey after a DeleteAPIKey whose publish failed: %v, want not found", err)
				}
			}
		})
	}
}

// TestCopies checks that callers changing what they got change nothing
// held, whether they got it from the store or from memory.
func TestCopies(t *testing.T) {
	c, _, _ := startUp(t)
	ctx := t.Context()

	store := newFakeUsers()
	u := &gatehouse.User{Email: "a@example.com", Roles: []string{"editor"},
		Fields: map[string]any{"name": "Ann", "address": map[string]any{"city": "Oslo"}, "tags": []any{"x"}}}
	_ = store.CreateUser(ctx, u) // the fake never fails
	users := c.Users(store)
	for i := range 3 {
		got, err := users.FindUserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "a@example.com" || got.Fields["name"] != "Ann" || got.Roles[0] != "editor" ||
			got.Fields["address"].(map[string]any)["city"] != "Oslo" {
			t.Fatalf("read %d: got %+v, changed by a caller", i, got)
		}
		got.Email = "changed"
		got.Fields["name"] = "changed"
		got.Fields["address"].(map[string]any)["city"] = "changed"
		got.Roles[0] = "changed"
	}

	roleStore := newFakeRoles()
	roleStore.set(u.ID, "editor")
	roles := c.Roles(roleStore)
	for i := range 3 {
		got, err := roles.UserRoles(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Name != "editor" || got[0].Permissions[0] != "editor:read" {
			t.Fatalf("read %d: got %+v, changed by a caller", i, got)
		}
		got[0].Name, got[0].Permissions[0] = "changed", "changed"
	}

	tokenStore := newFakeTokens(time.Now)
	_ = tokenStore.CreateToken(ctx, gatehouse.TokenRecord{Hash: "h", UserID: u.ID, ExpiresAt: farFuture}) // the fake never fails
	tokens := c.Tokens(tokenStore)
	for i := range 3 {
		got, err := tokens.FindToken(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != u.ID {
			t.Fatalf("read %d: got %+v, changed by a caller", i, got)
		}
		got.UserID = gatehouse.NewID()
	}

	keyStore := newFakeAPIKeys()
	_ = keyStore.CreateAPIKey(ctx, gatehouse.APIKey{ID: gatehouse.NewID(), UserID: u.ID, Hash: "k", Scopes: []string{"articles:read"}}) // the fake never fails
	keys := c.APIKeys(keyStore)
	for i := range 3 {
		got, err := keys.FindAPIKey(ctx, "k", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != u.ID || len(got.Scopes) != 1 || got.Scopes[0] != "articles:read" {
			t.Fatalf("read %d: got %+v, changed by a caller", i, got)
		}
		got.UserID = gatehouse.NewID()
		got.Scopes[0] = "users:delete"
		got.Scopes = append(got.Scopes, "roles:write")
	}
	if keyStore.reads() != 1 {
		t.Errorf("%d store reads of the API key, want 1", keyStore.reads())
	}
}

// TestSessionExpiry checks that a session held is given only for an
// instant it is live at, and that a "not found" is given only for
// instants after the one it was asked for.
func TestSessionExpiry(t *testing.T) {
	c, _, clk := startUp(t) // TTL a minute
	ctx := t.Context()
	store := newFakeSessions()
	sessions := c.Sessions(store)
	t0 := clk.Now()
	idle := gatehouse.Session{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), IdleExpiresAt: t0.Add(30 * time.Second), ExpiresAt: t0.Add(time.Hour)}
	absolute := gatehouse.Session{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(20 * time.Second)}
	_ = store.CreateSession(ctx, idle, "a")     // the fake never fails
	_ = store.CreateSession(ctx, absolute, "b") // the fake never fails

	tests := []struct {
		name  string
		id    gatehouse.ID
		now   time.Time // the now asked for
		clock time.Duration
		want  string
		reads int // of the store, so far
	}{
		{"idle, first", idle.ID, t0, 0, "live", 1},
		{"idle, held", idle.ID, t0.Add(29 * time.Second), 0, "live", 1},
		{"idle, expired at now", idle.ID, t0.Add(30 * time.Second), 0, "error Not Found", 2},
		{"idle, not found held for later", idle.ID, t0.Add(time.Minute), 0, "error Not Found", 2},
		{"idle, not found not held for before", idle.ID, t0, 0, "live", 3},
		{"absolute, first", absolute.ID, t0, 0, "live", 4},
		{"absolute, held", absolute.ID, t0.Add(19 * time.Second), 0, "live", 4},
		{"absolute, expired at now", absolute.ID, t0.Add(20 * time.Second), 0, "error Not Found", 5},
		// By the Cache's clock the answer for idle, read at t0, expires
		// at 30s, before the TTL: a now the store is not asked about
		// then goes to it anyway.
		{"idle, clock past the session's expiry", idle.ID, t0, 30 * time.Second, "live", 6},
	}
	for _, tt := range tests {
		clk.Add(tt.clock)
		got, err := sessions.FindSession(ctx, tt.id, tt.now)
		ans := render("live", err)
		if err == nil && got.ID != tt.id {
			ans = "wrong session"
		}
		if ans != tt.want || store.reads() != tt.reads {
			t.Errorf("%s: %s with %d store reads, want %s with %d", tt.name, ans, store.reads(), tt.want, tt.reads)
		}
	}
}

// TestTokenExpiry checks that a token is not given from memory once it
// has expired by the Cache's clock.
func TestTokenExpiry(t *testing.T) {
	c, _, clk := startUp(t) // TTL a minute
	ctx := t.Context()
	store := newFakeTokens(clk.Now)
	_ = store.CreateToken(ctx, gatehouse.TokenRecord{Hash: "h", ExpiresAt: clk.Now().Add(5 * time.Second)}) // the fake never fails
	tokens := c.Tokens(store)
	for _, step := range []struct {
		after time.Duration
		want  string
		reads int
	}{
		{0, "found", 1},
		{5*time.Second - time.Nanosecond, "found", 1},
		{time.Nanosecond, "error Not Found", 2},
		{time.Second, "error Not Found", 2},
	} {
		clk.Add(step.after)
		_, err := tokens.FindToken(ctx, "h")
		if got := render("found", err); got != step.want || store.reads() != step.reads {
			t.Errorf("at +%v: %s with %d store reads, want %s with %d", step.after, got, store.reads(), step.want, step.reads)
		}
	}
}

// TestTouchToken checks that a touch is seen by the next FindToken, which
// reads the store once and is then held again.
func TestTouchToken(t *testing.T) {
	c, feed, clk := startUp(t)
	ctx := t.Context()
	store := newFakeTokens(clk.Now)
	t0 := clk.Now()
	_ = store.CreateToken(ctx, gatehouse.TokenRecord{Hash: "h", LastUsedAt: t0, ExpiresAt: t0.Add(time.Hour)}) // the fake never fails
	tokens := c.Tokens(store)
	lastUsed := func() time.Time {
		t.Helper()
		rec, err := tokens.FindToken(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		return rec.LastUsedAt
	}
	if got := lastUsed(); !got.Equal(t0) {
		t.Fatalf("LastUsedAt = %v, want %v", got, t0)
	}
	at := t0.Add(2 * time.Minute)
	if err := tokens.TouchToken(ctx, "h", at); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got := lastUsed(); !got.Equal(at) {
			t.Errorf("read %d after the touch: LastUsedAt = %v, want %v", i, got, at)
		}
	}
	if n := store.reads(); n != 2 {
		t.Errorf("%d store reads, want 2: one before the touch, one after", n)
	}
	if p := feed.takePublished(); len(p) != 0 {
		t.Errorf("a touch published %v", p)
	}
}

// TestDropsByUser checks the changes that drop everything of a user, or of
// every user.
func TestDropsByUser(t *testing.T) {
	tests := []struct {
		name string
		// change names the user it is given.
		change func(user gatehouse.ID) gatehouse.Change
		// dropped lists the kinds of answer the change drops for the
		// user: "user", "session", "token", "roles", "api-key". other says whether
		// it drops the other user's too.
		dropped []string
		other   bool
	}{
		{"User", func(id gatehouse.ID) gatehouse.Change {
			return gatehouse.Change{Kind: gatehouse.ChangeUser, Key: id.String()}
		},
			[]string{"user", "session", "token", "roles", "api-key"}, false},
		{"UserTokens", func(id gatehouse.ID) gatehouse.Change {
			return gatehouse.Change{Kind: gatehouse.ChangeUserTokens, Key: id.String()}
		}, []string{"token"}, false},
		{"UserRoles", func(id gatehouse.ID) gatehouse.Change {
			return gatehouse.Change{Kind: gatehouse.ChangeUserRoles, Key: id.String()}
		}, []string{"roles"}, false},
		{"Roles", func(gatehouse.ID) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeRoles} }, []string{"roles"}, true},
		{"AllSessions", func(gatehouse.ID) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeSession} }, []string{"session"}, true},
		// A key that cannot be understood drops everything of its kind.
		{"MalformedUser", func(gatehouse.ID) gatehouse.Change { return gatehouse.Change{Kind: gatehouse.ChangeUser, Key: "?"} },
			[]string{"user", "session", "token", "roles", "api-key"}, true},
		{"MalformedAPIKey", func(gatehouse.ID) gatehouse.Change {
			return gatehouse.Change{Kind: gatehouse.ChangeAPIKey, Key: "?"}
		}, []string{"api-key"}, true},
		{"MalformedUserTokens", func(gatehouse.ID) gatehouse.Change {
			return gatehouse.Change{Kind: gatehouse.ChangeUserTokens, Key: "?"}
		},
			[]string{"token"}, true},
		{"Unknown", func(id gatehouse.ID) gatehouse.Change { return gatehouse.Change{Kind: "new-kind", Key: id.String()} }, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, feed, clk := startUp(t)
			ctx := t.Context()
			now := clk.Now()
			userStore, sessionStore, tokenStore, roleStore := newFakeUsers(), newFakeSessions(), newFakeTokens(clk.Now), newFakeRoles()
			users, sessions, tokens, roles := c.Users(userStore), c.Sessions(sessionStore), c.Tokens(tokenStore), c.Roles(roleStore)
			keyStore := newFakeAPIKeys()
			keys := c.APIKeys(keyStore)
			type thing struct {
				user    gatehouse.ID
				session gatehouse.ID
				tokens  []string
				keys    []string
			}
			var things [2]thing // the user the change names, and another
			for i := range things {
				u := &gatehouse.User{Email: fmt.Sprint(i, "@example.com")}
				_ = userStore.CreateUser(ctx, u) // the fake never fails
				s := gatehouse.Session{ID: gatehouse.NewID(), UserID: u.ID, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
				_ = sessionStore.CreateSession(ctx, s, fmt.Sprint("rt", i)) // the fake never fails
				things[i] = thing{user: u.ID, session: s.ID}
				for j := range 2 {
					h := fmt.Sprint("h", i, j)
					_ = tokenStore.CreateToken(ctx, gatehouse.TokenRecord{Hash: h, UserID: u.ID, ExpiresAt: now.Add(time.Hour)}) // the fake never fails
					things[i].tokens = append(things[i].tokens, h)
					k := fmt.Sprint("k", i, j)
					_ = keyStore.CreateAPIKey(ctx, gatehouse.APIKey{ID: gatehouse.NewID(), UserID: u.ID, Hash: k}) // the fake never fails
					things[i].keys = append(things[i].keys, k)
				}
				roleStore.set(u.ID, "editor")
			}
			// readAll reads everything and returns which kinds of answer
			// of each user reached a store.
			readAll := func() [2][]string {
				var missed [2][]string
				for i, th := range things {
					check := func(kind string, n *counter, read func() error) {
						before := n.reads()
						if err := read(); err != nil {
							t.Fatalf("%s of user %d: %v", kind, i, err)
						}
						if n.reads() != before && !slices.Contains(missed[i], kind) {
							missed[i] = append(missed[i], kind)
						}
					}
					check("user", &userStore.counter, func() error { _, err := users.FindUserByID(ctx, th.user); return err })
					check("session", &sessionStore.counter, func() error { _, err := sessions.FindSession(ctx, th.session, now); return err })
					for _, h := range th.tokens {
						check("token", &tokenStore.counter, func() error { _, err := tokens.FindToken(ctx, h); return err })
					}
					check("roles", &roleStore.counter, func() error { _, err := roles.UserRoles(ctx, th.user); return err })
					for _, h := range th.keys {
						check("api-key", &keyStore.counter, func() error { _, err := keys.FindAPIKey(ctx, h, now); return err })
					}
				}
				return missed
			}
			readAll()
			feed.send(tt.change(things[0].user))
			missed := readAll()
			if !slices.Equal(missed[0], tt.dropped) {
				t.Errorf("dropped %v of the user, want %v", missed[0], tt.dropped)
			}
			var wantOther []string
			if tt.other {
				wantOther = tt.dropped
			}
			if !slices.Equal(missed[1], wantOther) {
				t.Errorf("dropped %v of the other user, want %v", missed[1], wantOther)
			}
		})
	}
}

// TestSessionWrites checks what the session writes publish.
func TestSessionWrites(t *testing.T) {
	c, feed, clk := startUp(t)
	ctx := t.Context()
	store := newFakeSessions()
	sessions := c.Sessions(store)
	now := clk.Now()
	user := gatehouse.NewID()
	var ids []gatehouse.ID
	for i := range 3 {
		s := gatehouse.Session{ID: gatehouse.NewID(), UserID: user, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
		_ = store.CreateSession(ctx, s, fmt.Sprint("rt", i)) // the fake never fails
		ids = append(ids, s.ID)
	}
	change := func(id gatehouse.ID) gatehouse.Change {
		return gatehouse.Change{Kind: gatehouse.ChangeSession, Key: id.String()}
	}
	all := gatehouse.Change{Kind: gatehouse.ChangeSession}
	rotation := func(hash, next string) gatehouse.Rotation {
		return gatehouse.Rotation{Hash: hash, NextHash: next, Backend: "jwt", Now: now, IdleTTL: time.Hour}
	}

	tests := []struct {
		name string
		do   func() error
		code gatehouse.Code
		want []gatehouse.Change
	}{
		{"Rotate", func() error { _, err := sessions.Rotate(ctx, rotation("rt0", "rt0b")); return err }, "", []gatehouse.Change{change(ids[0])}},
		{"RotateUnknown", func() error { _, err := sessions.Rotate(ctx, rotation("nope", "x")); return err }, gatehouse.CodeRefreshTokenInvalid, nil},
		{"RotateReuse", func() error { _, err := sessions.Rotate(ctx, rotation("rt0", "rt0c")); return err }, gatehouse.CodeRefreshTokenReused, []gatehouse.Change{all}},
		{"EndUserSessions", func() error {
			_, err := sessions.EndUserSessions(ctx, user, ids[2])
			return err
		}, "", []gatehouse.Change{change(ids[1])}}, // ids[0] ended by the reuse
		{"EndUserSessionsNone", func() error { _, err := sessions.EndUserSessions(ctx, user, ids[2]); return err }, "", nil},
		{"EndSession", func() error { return sessions.EndSession(ctx, ids[2]) }, "", []gatehouse.Change{change(ids[2])}},
	}
	for _, tt := range tests {
		err := tt.do()
		if gatehouse.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want code %q", tt.name, err, tt.code)
		}
		if got := feed.takePublished(); !slices.Equal(got, tt.want) {
			t.Errorf("%s published %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCreateDropsNotFound checks that a "not found" held for what is then
// created through the wrapper is dropped.
func TestCreateDropsNotFound(t *testing.T) {
	c, _, clk := startUp(t)
	ctx := t.Context()
	now := clk.Now()
	users, sessions, tokens := c.Users(newFakeUsers()), c.Sessions(newFakeSessions()), c.Tokens(newFakeTokens(clk.Now))

	id := gatehouse.NewID()
	if _, err := users.FindUserByID(ctx, id); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("FindUserByID before CreateUser: %v", err)
	}
	if err := users.CreateUser(ctx, &gatehouse.User{ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := users.FindUserByID(ctx, id); err != nil {
		t.Errorf("FindUserByID after CreateUser: %v", err)
	}

	s := gatehouse.Session{ID: gatehouse.NewID(), IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
	if _, err := sessions.FindSession(ctx, s.ID, now); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("FindSession before CreateSession: %v", err)
	}
	if err := sessions.CreateSession(ctx, s, "rt"); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.FindSession(ctx, s.ID, now); err != nil {
		t.Errorf("FindSession after CreateSession: %v", err)
	}

	if _, err := tokens.FindToken(ctx, "h"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("FindToken before CreateToken: %v", err)
	}
	if err := tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "h", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.FindToken(ctx, "h"); err != nil {
		t.Errorf("FindToken after CreateToken: %v", err)
	}

	keys := c.APIKeys(newFakeAPIKeys())
	if _, err := keys.FindAPIKey(ctx, "k", now); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("FindAPIKey before CreateAPIKey: %v", err)
	}
	if err := keys.CreateAPIKey(ctx, gatehouse.APIKey{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Hash: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.FindAPIKey(ctx, "k", now); err != nil {
		t.Errorf("FindAPIKey after CreateAPIKey: %v", err)
	}
}

// TestRunTwice checks that a second Run at once is refused.
func TestRunTwice(t *testing.T) {
	c, _, _ := startUp(t)
	if err := c.Run(t.Context()); err == nil {
		t.Error("a second Run returned nil")
	}
}

// TestRunEnds checks that nothing is kept after Run returned.
func TestRunEnds(t *testing.T) {
	feed, clk := newTestFeed(), newClock()
	c := cache.New(feed, cache.Options{Now: clk.Now, Logger: discard()})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	feed.setUp(true)
	p := subjects()[0].setup(clk)(c)
	wantRead(t, p, "first read", p.before, 1)
	wantRead(t, p, "second read", p.before, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if st := c.Stats(); st.Up || st.Entries != 0 {
		t.Errorf("Stats after Run = %+v, want down and empty", st)
	}
	wantRead(t, p, "read after Run", p.before, 2)
	wantRead(t, p, "second read after Run", p.before, 3)
}

// TestAPIKeyExpiry checks that a key held is given only for an instant it
// is live at (a zero ExpiresAt never expiring), that a "not found" is given
// only for instants after the one it was asked for, and that nothing is
// given from memory once the key has expired by the Cache's clock.
func TestAPIKeyExpiry(t *testing.T) {
	c, _, clk := startUp(t) // TTL a minute
	ctx := t.Context()
	store := newFakeAPIKeys()
	keys := c.APIKeys(store)
	t0 := clk.Now()
	short := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Hash: "short", ExpiresAt: t0.Add(30 * time.Second)}
	forever := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Hash: "forever"}
	_ = store.CreateAPIKey(ctx, short)   // the fake never fails
	_ = store.CreateAPIKey(ctx, forever) // the fake never fails

	tests := []struct {
		name  string
		hash  string
		now   time.Time // the now asked for
		clock time.Duration
		want  string
		reads int // of the store, so far
	}{
		{"short, first", "short", t0, 0, "live", 1},
		{"short, held", "short", t0.Add(30*time.Second - time.Nanosecond), 0, "live", 1},
		// ExpiresAt never changes: the store would not find it either.
		{"short, expired at now", "short", t0.Add(30 * time.Second), 0, "error Not Found", 1},
		{"short, expired after", "short", t0.Add(time.Hour), 0, "error Not Found", 1},
		{"short, held for before", "short", t0, 0, "live", 1},
		{"forever, first", "forever", t0, 0, "live", 2},
		{"forever, held for any now", "forever", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 0, "live", 2},
		{"unknown, first", "unknown", t0.Add(10 * time.Second), 0, "error Not Found", 3},
		{"unknown, not found held for later", "unknown", t0.Add(20 * time.Second), 0, "error Not Found", 3},
		{"unknown, not found not held for before", "unknown", t0, 0, "error Not Found", 4},
		// By the Cache's clock the answer for short, read at t0, expires
		// at 30s, before the TTL: it goes to the store then, whatever now
		// is asked for.
		{"short, clock past the key's expiry", "short", t0, 30 * time.Second, "live", 5},
		{"forever, held until the TTL", "forever", t0, 30*time.Second - time.Nanosecond, "live", 5},
		{"forever, TTL ended", "forever", t0, time.Nanosecond, "live", 6},
	}
	for _, tt := range tests {
		clk.Add(tt.clock)
		got, err := keys.FindAPIKey(ctx, tt.hash, tt.now)
		ans := render("live", err)
		if err == nil && got.Hash != tt.hash {
			ans = "wrong key"
		}
		if ans != tt.want || store.reads() != tt.reads {
			t.Errorf("%s: %s with %d store reads, want %s with %d", tt.name, ans, store.reads(), tt.want, tt.reads)
		}
	}
}

// TestAPIKeyWrites checks what the API key writes publish.
func TestAPIKeyWrites(t *testing.T) {
	c, feed, clk := startUp(t)
	ctx := t.Context()
	store := newFakeAPIKeys()
	keys := c.APIKeys(store)
	user := gatehouse.NewID()
	k := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: user, Hash: "k1"}
	change := gatehouse.Change{Kind: gatehouse.ChangeAPIKey, Key: k.ID.String()}
	tests := []struct {
		name string
		do   func() error
		code gatehouse.Code
		want []gatehouse.Change
	}{
		{"Create", func() error { return keys.CreateAPIKey(ctx, k) }, "", nil},
		{"CreateConflict", func() error { return keys.CreateAPIKey(ctx, k) }, gatehouse.CodeConflict, nil},
		{"Touch", func() error { return keys.TouchAPIKey(ctx, k.ID, clk.Now()) }, "", nil},
		{"TouchUnknown", func() error { return keys.TouchAPIKey(ctx, gatehouse.NewID(), clk.Now()) }, gatehouse.CodeNotFound, nil},
		{"List", func() error { _, err := keys.ListAPIKeys(ctx, user); return err }, "", nil},
		{"DeleteOtherUsers", func() error { return keys.DeleteAPIKey(ctx, gatehouse.NewID(), k.ID) }, gatehouse.CodeNotFound, nil},
		{"Delete", func() error { return keys.DeleteAPIKey(ctx, user, k.ID) }, "", []gatehouse.Change{change}},
		{"DeleteAgain", func() error { return keys.DeleteAPIKey(ctx, user, k.ID) }, gatehouse.CodeNotFound, nil},
	}
	for _, tt := range tests {
		err := tt.do()
		if gatehouse.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want code %q", tt.name, err, tt.code)
		}
		if got := feed.takePublished(); !slices.Equal(got, tt.want) {
			t.Errorf("%s published %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAPIKeyDeleteTwoInstances checks that a key deleted through one
// Cache is dropped by another on the same feed, and only that key.
func TestAPIKeyDeleteTwoInstances(t *testing.T) {
	feed, clk := cache.NewLocalFeed(), newClock()
	opts := cache.Options{TTL: time.Hour, Now: clk.Now}
	a, b := start(t, feed, opts), start(t, feed, opts)
	waitFor(t, "both caches up", func() bool { return a.Stats().Up && b.Stats().Up })
	ctx := t.Context()
	store := newFakeAPIKeys()
	user := gatehouse.NewID()
	k1 := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: user, Hash: "k1"}
	k2 := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: user, Hash: "k2"}
	_ = store.CreateAPIKey(ctx, k1) // the fake never fails
	_ = store.CreateAPIKey(ctx, k2) // the fake never fails
	ka, kb := a.APIKeys(store), b.APIKeys(store)
	now := clk.Now()
	for _, h := range []string{"k1", "k2", "k1", "k2"} {
		if _, err := kb.FindAPIKey(ctx, h, now); err != nil {
			t.Fatalf("b's FindAPIKey(%s): %v", h, err)
		}
	}
	if n := store.reads(); n != 2 {
		t.Fatalf("%d store reads, want 2: b holds both keys", n)
	}
	if err := ka.DeleteAPIKey(ctx, user, k1.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to drop the deleted key", func() bool {
		_, err := kb.FindAPIKey(ctx, "k1", now)
		return gatehouse.ErrorCode(err) == gatehouse.CodeNotFound
	})
	before := store.reads()
	if _, err := kb.FindAPIKey(ctx, "k2", now); err != nil {
		t.Fatalf("b's FindAPIKey(k2): %v", err)
	}
	if store.reads() != before {
		t.Error("b dropped the key that was not deleted")
	}
}

// TestAPIKeyUserDeleted checks that deleting a user through one Cache
// drops the user's keys held by another on the same feed, and only those.
func TestAPIKeyUserDeleted(t *testing.T) {
	feed, clk := cache.NewLocalFeed(), newClock()
	opts := cache.Options{TTL: time.Hour, Now: clk.Now}
	a, b := start(t, feed, opts), start(t, feed, opts)
	waitFor(t, "both caches up", func() bool { return a.Stats().Up && b.Stats().Up })
	ctx := t.Context()
	userStore, keyStore := newFakeUsers(), newFakeAPIKeys()
	alice, bob := &gatehouse.User{Email: "alice@example.com"}, &gatehouse.User{Email: "bob@example.com"}
	_ = userStore.CreateUser(ctx, alice) // the fake never fails
	_ = userStore.CreateUser(ctx, bob)   // the fake never fails
	for _, k := range []gatehouse.APIKey{
		{ID: gatehouse.NewID(), UserID: alice.ID, Hash: "a1"},
		{ID: gatehouse.NewID(), UserID: alice.ID, Hash: "a2"},
		{ID: gatehouse.NewID(), UserID: bob.ID, Hash: "b1"},
	} {
		_ = keyStore.CreateAPIKey(ctx, k) // the fake never fails
	}
	usersA, kb := a.Users(userStore), b.APIKeys(keyStore)
	now := clk.Now()
	for _, h := range []string{"a1", "a2", "b1"} {
		if _, err := kb.FindAPIKey(ctx, h, now); err != nil {
			t.Fatalf("b's FindAPIKey(%s): %v", h, err)
		}
	}
	// Deleting a user deletes its keys, in the same store write.
	keyStore.deleteUser(alice.ID)
	if err := usersA.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a1", "a2"} {
		waitFor(t, "b to drop "+h, func() bool {
			_, err := kb.FindAPIKey(ctx, h, now)
			return gatehouse.ErrorCode(err) == gatehouse.CodeNotFound
		})
	}
	before := keyStore.reads()
	if _, err := kb.FindAPIKey(ctx, "b1", now); err != nil {
		t.Fatalf("b's FindAPIKey(b1): %v", err)
	}
	if keyStore.reads() != before {
		t.Error("b dropped the key of a user not deleted")
	}
}

// TestTouchAPIKey checks that a touch is seen by the next FindAPIKey,
// which reads the store once and is then held again.
func TestTouchAPIKey(t *testing.T) {
	c, feed, clk := startUp(t)
	ctx := t.Context()
	store := newFakeAPIKeys()
	t0 := clk.Now()
	k := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: gatehouse.NewID(), Hash: "h", LastUsedAt: t0}
	_ = store.CreateAPIKey(ctx, k) // the fake never fails
	keys := c.APIKeys(store)
	lastUsed := func() time.Time {
		t.Helper()
		got, err := keys.FindAPIKey(ctx, "h", clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}
	if got := lastUsed(); !got.Equal(t0) {
		t.Fatalf("LastUsedAt = %v, want %v", got, t0)
	}
	at := t0.Add(2 * time.Minute)
	if err := keys.TouchAPIKey(ctx, k.ID, at); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got := lastUsed(); !got.Equal(at) {
			t.Errorf("read %d after the touch: LastUsedAt = %v, want %v", i, got, at)
		}
	}
	if n := store.reads(); n != 2 {
		t.Errorf("%d store reads, want 2: one before the touch, one after", n)
	}
	if p := feed.takePublished(); len(p) != 0 {
		t.Errorf("a touch published %v", p)
	}
}

// TestAPIKeyStrategyTouches checks that apikey.Strategy, reading keys
// through the cache, touches a key once a minute, as it does on the store
// itself, and reads the store about as often: a key held does not make
// every request touch it.
func TestAPIKeyStrategyTouches(t *testing.T) {
	c, _, clk := startUp(t) // TTL a minute
	ctx := t.Context()
	store := newFakeAPIKeys()
	key, prefix, hash := apikey.Generate()
	user := gatehouse.NewID()
	_ = store.CreateAPIKey(ctx, gatehouse.APIKey{ID: gatehouse.NewID(), UserID: user, Prefix: prefix, Hash: hash,
		Scopes: []string{"articles:read"}, CreatedAt: clk.Now()}) // the fake never fails
	s := apikey.Strategy{Store: c.APIKeys(store), Now: clk.Now}
	// A request a second for five minutes, the first with the key never
	// used: touched at 0s, 60s, 120s, 180s and 240s, and read from the
	// store at 0s and after each touch.
	for i := range 300 {
		p, err := s.Read(ctx, key)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if p.UserID != user || !slices.Equal(p.Scopes, []string{"articles:read"}) {
			t.Fatalf("request %d: principal %+v", i, p)
		}
		clk.Add(time.Second)
	}
	if n := store.touched(); n != 5 {
		t.Errorf("%d touches over 300 requests in 5 minutes, want 5", n)
	}
	if n := store.reads(); n != 6 {
		t.Errorf("%d store reads over 300 requests in 5 minutes, want 6", n)
	}
}
