package gatehousetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestAPIKeyStore checks that a gatehouse.APIKeyStore behaves as
// documented:
//
//   - keys come back as created (times in UTC, truncated to microseconds;
//     a zero LastUsedAt or ExpiresAt stays zero), a zero CreatedAt being
//     set from the store's clock;
//   - FindAPIKey finds a key by hash until now reaches its ExpiresAt: a
//     key with ExpiresAt <= now is CodeNotFound, and a zero ExpiresAt
//     never expires;
//   - ListAPIKeys gives a user's keys, expired ones included, newest
//     first;
//   - DeleteAPIKey deletes one of the user's keys; another user's key is
//     CodeNotFound and stays;
//   - TouchAPIKey sets LastUsedAt, never backwards; an unknown key is
//     CodeNotFound;
//   - scopes come back in the order given and never nil: a key created
//     with empty or nil Scopes comes back with an empty, non-nil slice. A
//     nil Principal.Scopes leaves the owner's permissions whole, so a key
//     given no scopes must not come back as one that may do everything;
//   - an id or hash in use is CodeConflict, a user that does not exist
//     CodeNotFound, and deleting a user deletes its keys.
//
// open must return a new, empty store and the user store its keys refer
// to, both on the real clock.
func TestAPIKeyStore(t *testing.T, open func(t *testing.T) (gatehouse.UserStore, gatehouse.APIKeyStore)) {
	tests := []struct {
		name string
		run  func(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore)
	}{
		{"CreateFind", testAPIKeyCreateFind},
		{"CreatedAtDefault", testAPIKeyCreatedAtDefault},
		{"Scopes", testAPIKeyScopes},
		{"Expiry", testAPIKeyExpiry},
		{"NeverExpires", testAPIKeyNeverExpires},
		{"NotFound", testAPIKeyNotFound},
		{"List", testAPIKeyList},
		{"Delete", testAPIKeyDelete},
		{"DeleteOtherUsers", testAPIKeyDeleteOtherUsers},
		{"Touch", testAPIKeyTouch},
		{"Duplicate", testAPIKeyDuplicate},
		{"UnknownUser", testAPIKeyUnknownUser},
		{"UserDeleted", testAPIKeyUserDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			users, keys := open(t)
			tt.run(t, users, keys)
		})
	}
}

// keyStart is when the suite's keys are created: the real time, in a zone
// other than UTC and with nanoseconds a store cannot keep.
func keyStart() time.Time {
	now := time.Now().Truncate(time.Microsecond).Add(789 * time.Nanosecond)
	return now.In(time.FixedZone("UTC-5", -5*60*60))
}

// newAPIKey is a key of user named name, created at created, expiring
// after life (never if 0), with made-up hash and prefix.
func newAPIKey(user gatehouse.ID, name string, created time.Time, life time.Duration, scopes ...string) gatehouse.APIKey {
	k := gatehouse.APIKey{ID: gatehouse.NewID(), UserID: user, Name: name, Prefix: "ghk_" + name,
		Hash: tokenHash("api-key " + name), Scopes: scopes, CreatedAt: created}
	if scopes == nil {
		k.Scopes = []string{}
	}
	if life != 0 {
		k.ExpiresAt = created.Add(life)
	}
	return k
}

func createAPIKey(t *testing.T, s gatehouse.APIKeyStore, k gatehouse.APIKey) {
	t.Helper()
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", k.Name, err)
	}
}

func findAPIKey(t *testing.T, s gatehouse.APIKeyStore, hash string, now time.Time) *gatehouse.APIKey {
	t.Helper()
	k, err := s.FindAPIKey(t.Context(), hash, now)
	if err != nil {
		t.Fatalf("FindAPIKey(%.8s…, %v): %v", hash, now, err)
	}
	return k
}

func wantNoAPIKey(t *testing.T, s gatehouse.APIKeyStore, what, hash string, now time.Time) {
	t.Helper()
	k, err := s.FindAPIKey(t.Context(), hash, now)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindAPIKey %s = %+v, %v; want a %q error", what, k, err, gatehouse.CodeNotFound)
	}
}

// diffAPIKey lists how got differs from want, times compared as stored; a
// zero LastUsedAt or ExpiresAt must come back zero, and Scopes never nil.
func diffAPIKey(got, want gatehouse.APIKey) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %#v, want %#v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID.String(), want.ID.String())
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID.String(), want.UserID.String())
	}
	if got.Name != want.Name {
		add("Name", got.Name, want.Name)
	}
	if got.Prefix != want.Prefix {
		add("Prefix", got.Prefix, want.Prefix)
	}
	if got.Hash != want.Hash {
		add("Hash", got.Hash, want.Hash)
	}
	if got.Scopes == nil || !slices.Equal(got.Scopes, want.Scopes) {
		add("Scopes", got.Scopes, want.Scopes)
	}
	if !sameTime(got.CreatedAt, want.CreatedAt) {
		add("CreatedAt", got.CreatedAt.String(), stored(want.CreatedAt).String())
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{{"LastUsedAt", got.LastUsedAt, want.LastUsedAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt}} {
		if f.want.IsZero() && !f.got.IsZero() {
			add(f.name, f.got.String(), "zero")
		} else if !f.want.IsZero() && !sameTime(f.got, f.want) {
			add(f.name, f.got.String(), stored(f.want).String())
		}
	}
	return strings.Join(d, "; ")
}

func wantAPIKey(t *testing.T, s gatehouse.APIKeyStore, want gatehouse.APIKey, now time.Time) {
	t.Helper()
	if d := diffAPIKey(*findAPIKey(t, s, want.Hash, now), want); d != "" {
		t.Errorf("FindAPIKey(%q): %s", want.Name, d)
	}
}

func wantAPIKeys(t *testing.T, s gatehouse.APIKeyStore, user gatehouse.ID, want ...gatehouse.APIKey) {
	t.Helper()
	got, err := s.ListAPIKeys(t.Context(), user)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	var gotNames, wantNames []string
	for _, k := range got {
		gotNames = append(gotNames, k.Name)
	}
	for _, k := range want {
		wantNames = append(wantNames, k.Name)
	}
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("ListAPIKeys = %q, want %q", gotNames, wantNames)
	}
	for i := range got {
		// #nosec G602 -- got and want have the same length: their names compared equal above.
		if d := diffAPIKey(got[i], want[i]); d != "" {
			t.Errorf("ListAPIKeys, key %q: %s", want[i].Name, d) // #nosec G602 -- as above
		}
	}
}

func keyUser(t *testing.T, users gatehouse.UserStore, email string) gatehouse.ID {
	t.Helper()
	return create(t, users, &gatehouse.User{Email: email}).ID
}

func testAPIKeyCreateFind(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	k := newAPIKey(alice, "ci", now, 30*24*time.Hour, "articles:read", "articles:write")
	createAPIKey(t, s, k)
	wantAPIKey(t, s, k, now)

	// Every field set, odd text included.
	k2 := newAPIKey(alice, "déploiement — prod\n", now.Add(time.Second), time.Hour, "z", "a")
	k2.LastUsedAt = now.Add(2*time.Second + 999)
	createAPIKey(t, s, k2)
	wantAPIKey(t, s, k2, now.Add(time.Second))
	wantAPIKey(t, s, k, now)
}

func testAPIKeyCreatedAtDefault(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	alice := keyUser(t, users, "alice@example.com")
	before := time.Now()
	k := newAPIKey(alice, "ci", time.Time{}, 0)
	createAPIKey(t, s, k)
	after := time.Now()
	got := findAPIKey(t, s, k.Hash, after)
	if c := got.CreatedAt; c.Location() != time.UTC || c.Before(before.Truncate(time.Microsecond)) || c.After(after) {
		t.Errorf("CreatedAt of a key created with none = %v, want the store's clock, between %v and %v in UTC", c, before, after)
	}
}

func testAPIKeyScopes(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	tests := []struct {
		name       string
		scopes     []string
		wantScopes []string
	}{
		{"nil", nil, []string{}},
		{"empty", []string{}, []string{}},
		{"one", []string{"articles:read"}, []string{"articles:read"}},
		{"order given", []string{"users:read", "articles:write", "articles:read"}, []string{"users:read", "articles:write", "articles:read"}},
		{"odd text", []string{"a,b", `"q"`, "{x}", "ü:*", ""}, []string{"a,b", `"q"`, "{x}", "ü:*", ""}},
	}
	var want []gatehouse.APIKey
	for i, tt := range tests {
		k := newAPIKey(alice, tt.name, now.Add(time.Duration(i)*time.Second), 0)
		k.Scopes = tt.scopes
		createAPIKey(t, s, k)
		k.Scopes = tt.wantScopes
		got := findAPIKey(t, s, k.Hash, now)
		if got.Scopes == nil || !slices.Equal(got.Scopes, tt.wantScopes) {
			t.Errorf("scopes %s: created with %#v, found with %#v; want %#v", tt.name, tt.scopes, got.Scopes, tt.wantScopes)
		}
		want = append([]gatehouse.APIKey{k}, want...)
	}
	wantAPIKeys(t, s, alice, want...)
}

func testAPIKeyExpiry(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	k := newAPIKey(alice, "short", now, time.Hour)
	createAPIKey(t, s, k)
	wantAPIKey(t, s, k, now.Add(time.Hour-time.Microsecond))
	// ExpiresAt as stored, to the microsecond: not found from then on.
	wantNoAPIKey(t, s, "at ExpiresAt", k.Hash, stored(k.ExpiresAt))
	wantNoAPIKey(t, s, "after ExpiresAt", k.Hash, now.Add(2*time.Hour))
	// A key created already expired is kept, and listed, but not found.
	old := newAPIKey(alice, "old", now.Add(-2*time.Hour), time.Hour)
	createAPIKey(t, s, old)
	wantNoAPIKey(t, s, "of a key created expired", old.Hash, now)
	wantAPIKeys(t, s, alice, k, old)
}

func testAPIKeyNeverExpires(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	k := newAPIKey(alice, "forever", now, 0)
	createAPIKey(t, s, k)
	for _, at := range []time.Time{now, now.AddDate(100, 0, 0), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		wantAPIKey(t, s, k, at)
	}
}

func testAPIKeyNotFound(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	k := newAPIKey(alice, "ci", now, 0)
	createAPIKey(t, s, k)
	wantNoAPIKey(t, s, "of an unknown hash", tokenHash("nope"), now)
	wantNoAPIKey(t, s, "of the hash in upper case", strings.ToUpper(k.Hash), now)
	wantNoAPIKey(t, s, "of the prefix", k.Prefix, now)
	wantNoAPIKey(t, s, "of an empty hash", "", now)
	keys, err := s.ListAPIKeys(t.Context(), gatehouse.NewID())
	if err != nil || len(keys) != 0 {
		t.Errorf("ListAPIKeys of an unknown user = %v, %v; want none", keys, err)
	}
}

func testAPIKeyList(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	wantAPIKeys(t, s, alice)
	a1 := newAPIKey(alice, "a1", now.Add(-3*time.Hour), time.Hour, "x") // expired
	a2 := newAPIKey(alice, "a2", now.Add(-time.Hour), 0)
	a3 := newAPIKey(alice, "a3", now, 24*time.Hour, "y", "z")
	a3.LastUsedAt = now.Add(time.Minute)
	b1 := newAPIKey(bob, "b1", now.Add(-2*time.Hour), 0)
	for _, k := range []gatehouse.APIKey{a2, b1, a3, a1} {
		createAPIKey(t, s, k)
	}
	wantAPIKeys(t, s, alice, a3, a2, a1)
	wantAPIKeys(t, s, bob, b1)
}

func testAPIKeyDelete(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	k1, k2 := newAPIKey(alice, "k1", now, 0), newAPIKey(alice, "k2", now.Add(time.Second), 0)
	createAPIKey(t, s, k1)
	createAPIKey(t, s, k2)
	if err := s.DeleteAPIKey(t.Context(), alice, k1.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	wantNoAPIKey(t, s, "after DeleteAPIKey", k1.Hash, now)
	wantAPIKeys(t, s, alice, k2)
	wantAPIKey(t, s, k2, now)
	wantCode(t, "DeleteAPIKey again", s.DeleteAPIKey(t.Context(), alice, k1.ID), gatehouse.CodeNotFound)
	wantCode(t, "DeleteAPIKey of an unknown key", s.DeleteAPIKey(t.Context(), alice, gatehouse.NewID()), gatehouse.CodeNotFound)
	// The hash is free again.
	again := newAPIKey(alice, "k1", now.Add(2*time.Second), 0)
	createAPIKey(t, s, again)
	wantAPIKey(t, s, again, now)
}

func testAPIKeyDeleteOtherUsers(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	k := newAPIKey(alice, "alice's", now, 0, "articles:read")
	createAPIKey(t, s, k)
	wantCode(t, "DeleteAPIKey of another user's key", s.DeleteAPIKey(t.Context(), bob, k.ID), gatehouse.CodeNotFound)
	wantCode(t, "DeleteAPIKey of a key by an unknown user", s.DeleteAPIKey(t.Context(), gatehouse.NewID(), k.ID), gatehouse.CodeNotFound)
	wantAPIKey(t, s, k, now)
	wantAPIKeys(t, s, alice, k)
}

func testAPIKeyTouch(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	k := newAPIKey(alice, "ci", now, time.Hour)
	createAPIKey(t, s, k)
	wantAPIKey(t, s, k, now) // never used: zero LastUsedAt

	touch := func(at time.Time) {
		t.Helper()
		if err := s.TouchAPIKey(t.Context(), k.ID, at); err != nil {
			t.Fatalf("TouchAPIKey(%v): %v", at, err)
		}
	}
	k.LastUsedAt = now.Add(time.Minute + 999)
	touch(k.LastUsedAt)
	wantAPIKey(t, s, k, now)
	// An older touch, from a slow request, does not move it back.
	touch(now.Add(30 * time.Second))
	wantAPIKey(t, s, k, now)
	k.LastUsedAt = now.Add(2 * time.Minute)
	touch(k.LastUsedAt)
	wantAPIKey(t, s, k, now)
	wantAPIKeys(t, s, alice, k)

	err := s.TouchAPIKey(t.Context(), gatehouse.NewID(), now)
	wantCode(t, "TouchAPIKey of an unknown key", err, gatehouse.CodeNotFound)
}

func testAPIKeyDuplicate(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	k := newAPIKey(alice, "ci", now, 0, "articles:read")
	createAPIKey(t, s, k)

	sameHash := newAPIKey(alice, "other", now.Add(time.Second), 0, "users:delete")
	sameHash.Hash = k.Hash
	wantCode(t, "CreateAPIKey of a hash in use", s.CreateAPIKey(t.Context(), sameHash), gatehouse.CodeConflict)
	sameHash.UserID = bob
	wantCode(t, "CreateAPIKey of a hash in use by another user", s.CreateAPIKey(t.Context(), sameHash), gatehouse.CodeConflict)

	sameID := newAPIKey(alice, "other", now.Add(time.Second), 0)
	sameID.ID = k.ID
	wantCode(t, "CreateAPIKey of an id in use", s.CreateAPIKey(t.Context(), sameID), gatehouse.CodeConflict)

	wantAPIKey(t, s, k, now)
	wantAPIKeys(t, s, alice, k)
	wantAPIKeys(t, s, bob)
}

func testAPIKeyUnknownUser(t *testing.T, _ gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	k := newAPIKey(gatehouse.NewID(), "orphan", now, 0)
	wantCode(t, "CreateAPIKey for a user that does not exist", s.CreateAPIKey(t.Context(), k), gatehouse.CodeNotFound)
	wantNoAPIKey(t, s, "of a refused key", k.Hash, now)
}

func testAPIKeyUserDeleted(t *testing.T, users gatehouse.UserStore, s gatehouse.APIKeyStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	k1, k2 := newAPIKey(alice, "k1", now, 0), newAPIKey(alice, "k2", now, time.Hour)
	b := newAPIKey(bob, "b", now, 0)
	for _, k := range []gatehouse.APIKey{k1, k2, b} {
		createAPIKey(t, s, k)
	}
	if err := users.DeleteUser(t.Context(), alice); err != nil {
		t.Fatalf("DeleteUser of a user with API keys: %v", err)
	}
	wantNoAPIKey(t, s, "after its user was deleted", k1.Hash, now)
	wantNoAPIKey(t, s, "after its user was deleted", k2.Hash, now)
	wantAPIKeys(t, s, alice)
	wantAPIKey(t, s, b, now)
	// The rows went with the user: the hash is free again.
	reused := newAPIKey(bob, "k1", now.Add(time.Second), 0)
	createAPIKey(t, s, reused)
	wantAPIKeys(t, s, bob, reused, b)
	wantCode(t, "TouchAPIKey of a deleted user's key", s.TouchAPIKey(t.Context(), k2.ID, now), gatehouse.CodeNotFound)
}
