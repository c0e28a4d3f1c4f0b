package gatehousetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestOAuthAccountStore checks that a gatehouse.OAuthAccountStore behaves
// as documented:
//
//   - accounts come back as created (times in UTC, truncated to
//     microseconds; a zero ExpiresAt stays zero), a zero CreatedAt being
//     set from the store's clock;
//   - FindOAuthAccount finds an account by (provider, account id),
//     exactly: the same account id at another provider, or in another
//     case, is another account;
//   - ListOAuthAccounts gives a user's accounts, oldest first;
//   - UpdateOAuthTokens replaces the e-mail, tokens and expiry, and
//     nothing else; an unknown account is CodeNotFound;
//   - DeleteOAuthAccount unlinks one of the user's accounts; another
//     user's account is CodeNotFound and stays;
//   - tokens are opaque bytes and come back exactly, any byte value
//     included; an empty (or nil) token comes back empty;
//   - an account linked already, to the same user or another, is
//     CodeConflict, also when users race to link it; so is an id in use;
//     a user that does not exist is CodeNotFound, and deleting a user
//     unlinks its accounts.
//
// open must return a new, empty store and the user store its accounts
// refer to, both on the real clock.
func TestOAuthAccountStore(t *testing.T, open func(t *testing.T) (gatehouse.UserStore, gatehouse.OAuthAccountStore)) {
	tests := []struct {
		name string
		run  func(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore)
	}{
		{"CreateFind", testOAuthCreateFind},
		{"CreatedAtDefault", testOAuthCreatedAtDefault},
		{"NotFound", testOAuthNotFound},
		{"List", testOAuthList},
		{"Update", testOAuthUpdate},
		{"Delete", testOAuthDelete},
		{"DeleteOtherUsers", testOAuthDeleteOtherUsers},
		{"Duplicate", testOAuthDuplicate},
		{"ConcurrentLink", testOAuthConcurrentLink},
		{"OtherProvider", testOAuthOtherProvider},
		{"UnknownUser", testOAuthUnknownUser},
		{"UserDeleted", testOAuthUserDeleted},
		{"TokenBytes", testOAuthTokenBytes},
		{"ZeroExpiry", testOAuthZeroExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			users, accounts := open(t)
			tt.run(t, users, accounts)
		})
	}
}

// newOAuthAccount is user's account accountID at provider, linked at
// created, with made-up sealed tokens expiring an hour later.
func newOAuthAccount(user gatehouse.ID, provider, accountID string, created time.Time) gatehouse.OAuthAccount {
	return gatehouse.OAuthAccount{ID: gatehouse.NewID(), UserID: user, Provider: provider, AccountID: accountID,
		AccountEmail: accountID + "@" + provider + ".example.com",
		AccessToken:  []byte("sealed access " + provider + " " + accountID),
		RefreshToken: []byte("sealed refresh " + provider + " " + accountID),
		ExpiresAt:    created.Add(time.Hour), CreatedAt: created}
}

// oauthLabel names an account in failure messages.
func oauthLabel(a gatehouse.OAuthAccount) string { return a.Provider + "/" + a.AccountID }

func createOAuthAccount(t *testing.T, s gatehouse.OAuthAccountStore, a gatehouse.OAuthAccount) {
	t.Helper()
	if err := s.CreateOAuthAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateOAuthAccount(%s): %v", oauthLabel(a), err)
	}
}

func findOAuthAccount(t *testing.T, s gatehouse.OAuthAccountStore, provider, accountID string) *gatehouse.OAuthAccount {
	t.Helper()
	a, err := s.FindOAuthAccount(t.Context(), provider, accountID)
	if err != nil {
		t.Fatalf("FindOAuthAccount(%q, %q): %v", provider, accountID, err)
	}
	return a
}

func wantNoOAuthAccount(t *testing.T, s gatehouse.OAuthAccountStore, what, provider, accountID string) {
	t.Helper()
	a, err := s.FindOAuthAccount(t.Context(), provider, accountID)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindOAuthAccount(%q, %q) %s = %+v, %v; want a %q error", provider, accountID, what, a, err, gatehouse.CodeNotFound)
	}
}

// diffOAuthAccount lists how got differs from want, times compared as
// stored; a zero ExpiresAt must come back zero, and tokens byte for byte.
func diffOAuthAccount(got, want gatehouse.OAuthAccount) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %#v, want %#v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID.String(), want.ID.String())
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID.String(), want.UserID.String())
	}
	if got.Provider != want.Provider {
		add("Provider", got.Provider, want.Provider)
	}
	if got.AccountID != want.AccountID {
		add("AccountID", got.AccountID, want.AccountID)
	}
	if got.AccountEmail != want.AccountEmail {
		add("AccountEmail", got.AccountEmail, want.AccountEmail)
	}
	if !bytes.Equal(got.AccessToken, want.AccessToken) {
		add("AccessToken", got.AccessToken, want.AccessToken)
	}
	if !bytes.Equal(got.RefreshToken, want.RefreshToken) {
		add("RefreshToken", got.RefreshToken, want.RefreshToken)
	}
	if want.ExpiresAt.IsZero() && !got.ExpiresAt.IsZero() {
		add("ExpiresAt", got.ExpiresAt.String(), "zero")
	} else if !want.ExpiresAt.IsZero() && !sameTime(got.ExpiresAt, want.ExpiresAt) {
		add("ExpiresAt", got.ExpiresAt.String(), stored(want.ExpiresAt).String())
	}
	if !sameTime(got.CreatedAt, want.CreatedAt) {
		add("CreatedAt", got.CreatedAt.String(), stored(want.CreatedAt).String())
	}
	return strings.Join(d, "; ")
}

func wantOAuthAccount(t *testing.T, s gatehouse.OAuthAccountStore, want gatehouse.OAuthAccount) {
	t.Helper()
	if d := diffOAuthAccount(*findOAuthAccount(t, s, want.Provider, want.AccountID), want); d != "" {
		t.Errorf("FindOAuthAccount(%s): %s", oauthLabel(want), d)
	}
}

func wantOAuthAccounts(t *testing.T, s gatehouse.OAuthAccountStore, user gatehouse.ID, want ...gatehouse.OAuthAccount) {
	t.Helper()
	got, err := s.ListOAuthAccounts(t.Context(), user)
	if err != nil {
		t.Fatalf("ListOAuthAccounts: %v", err)
	}
	if got == nil {
		t.Errorf("ListOAuthAccounts = nil, want a non-nil slice")
	}
	var gotNames, wantNames []string
	for _, a := range got {
		gotNames = append(gotNames, oauthLabel(a))
	}
	for _, a := range want {
		wantNames = append(wantNames, oauthLabel(a))
	}
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("ListOAuthAccounts = %q, want %q", gotNames, wantNames)
	}
	for i := range got {
		// #nosec G602 -- got and want have the same length: their names compared equal above.
		if d := diffOAuthAccount(got[i], want[i]); d != "" {
			t.Errorf("ListOAuthAccounts, account %s: %s", oauthLabel(want[i]), d) // #nosec G602 -- as above
		}
	}
}

func testOAuthCreateFind(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	a := newOAuthAccount(alice, "google", "108234567890123456789", now)
	createOAuthAccount(t, s, a)
	wantOAuthAccount(t, s, a)

	// Odd text in every text field, and a time with nanoseconds.
	odd := newOAuthAccount(alice, "oidc — prod\n", "ünïcode 'sub' \"x\" %_", now.Add(time.Second))
	odd.AccountEmail = "Déjà.Vu+tag@EXAMPLE.com"
	odd.ExpiresAt = now.Add(2*time.Hour + 999)
	createOAuthAccount(t, s, odd)
	wantOAuthAccount(t, s, odd)
	wantOAuthAccount(t, s, a)
}

func testOAuthCreatedAtDefault(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	alice := keyUser(t, users, "alice@example.com")
	before := time.Now()
	a := newOAuthAccount(alice, "github", "1234", time.Now())
	a.CreatedAt = time.Time{}
	createOAuthAccount(t, s, a)
	after := time.Now()
	got := findOAuthAccount(t, s, "github", "1234")
	if c := got.CreatedAt; c.Location() != time.UTC || c.Before(before.Truncate(time.Microsecond)) || c.After(after) {
		t.Errorf("CreatedAt of an account created with none = %v, want the store's clock, between %v and %v in UTC", c, before, after)
	}
}

func testOAuthNotFound(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	a := newOAuthAccount(alice, "oidc", "Sub-1", now)
	createOAuthAccount(t, s, a)
	wantNoOAuthAccount(t, s, "of an unknown account", "oidc", "sub-2")
	wantNoOAuthAccount(t, s, "at an unknown provider", "github", "Sub-1")
	wantNoOAuthAccount(t, s, "in another case", "oidc", "sub-1")
	wantNoOAuthAccount(t, s, "of another provider's case", "OIDC", "Sub-1")
	wantNoOAuthAccount(t, s, "with an empty account id", "oidc", "")
	wantOAuthAccounts(t, s, gatehouse.NewID())
}

func testOAuthList(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	wantOAuthAccounts(t, s, alice)
	a1 := newOAuthAccount(alice, "google", "a1", now)
	a2 := newOAuthAccount(alice, "github", "a2", now.Add(time.Second))
	a3 := newOAuthAccount(alice, "oidc", "a3", now.Add(2*time.Second))
	b1 := newOAuthAccount(bob, "google", "b1", now.Add(time.Second))
	// Created out of order: the list goes by CreatedAt.
	for _, a := range []gatehouse.OAuthAccount{a3, b1, a1, a2} {
		createOAuthAccount(t, s, a)
	}
	wantOAuthAccounts(t, s, alice, a1, a2, a3)
	wantOAuthAccounts(t, s, bob, b1)
}

func testOAuthUpdate(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	a := newOAuthAccount(alice, "google", "g1", now)
	other := newOAuthAccount(alice, "github", "g1", now.Add(time.Second))
	createOAuthAccount(t, s, a)
	createOAuthAccount(t, s, other)

	update := func(email string, access, refresh []byte, expires time.Time) {
		t.Helper()
		if err := s.UpdateOAuthTokens(t.Context(), a.ID, email, access, refresh, expires); err != nil {
			t.Fatalf("UpdateOAuthTokens: %v", err)
		}
		a.AccountEmail, a.AccessToken, a.RefreshToken, a.ExpiresAt = email, access, refresh, expires
		wantOAuthAccount(t, s, a)
	}
	update("new@example.com", []byte("sealed access 2"), []byte("sealed refresh 2"), now.Add(3*time.Hour+999))
	// The provider gave no refresh token and no expiry this time.
	update("new@example.com", []byte("sealed access 3"), nil, time.Time{})
	update("", []byte{}, []byte{}, now.Add(time.Minute))

	// Only the account updated changed.
	wantOAuthAccount(t, s, other)
	wantOAuthAccounts(t, s, alice, a, other)

	err := s.UpdateOAuthTokens(t.Context(), gatehouse.NewID(), "x@example.com", []byte("a"), []byte("r"), now)
	wantCode(t, "UpdateOAuthTokens of an unknown account", err, gatehouse.CodeNotFound)
}

func testOAuthDelete(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	a1, a2 := newOAuthAccount(alice, "google", "g1", now), newOAuthAccount(alice, "github", "h1", now.Add(time.Second))
	createOAuthAccount(t, s, a1)
	createOAuthAccount(t, s, a2)
	if err := s.DeleteOAuthAccount(t.Context(), alice, a1.ID); err != nil {
		t.Fatalf("DeleteOAuthAccount: %v", err)
	}
	wantNoOAuthAccount(t, s, "after DeleteOAuthAccount", a1.Provider, a1.AccountID)
	wantOAuthAccounts(t, s, alice, a2)
	wantOAuthAccount(t, s, a2)
	wantCode(t, "DeleteOAuthAccount again", s.DeleteOAuthAccount(t.Context(), alice, a1.ID), gatehouse.CodeNotFound)
	wantCode(t, "DeleteOAuthAccount of an unknown account",
		s.DeleteOAuthAccount(t.Context(), alice, gatehouse.NewID()), gatehouse.CodeNotFound)
	wantCode(t, "UpdateOAuthTokens of a deleted account",
		s.UpdateOAuthTokens(t.Context(), a1.ID, "", nil, nil, time.Time{}), gatehouse.CodeNotFound)
	// The account is free to link again.
	again := newOAuthAccount(alice, "google", "g1", now.Add(2*time.Second))
	createOAuthAccount(t, s, again)
	wantOAuthAccounts(t, s, alice, a2, again)
}

func testOAuthDeleteOtherUsers(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	a := newOAuthAccount(alice, "google", "g1", now)
	createOAuthAccount(t, s, a)
	wantCode(t, "DeleteOAuthAccount of another user's account",
		s.DeleteOAuthAccount(t.Context(), bob, a.ID), gatehouse.CodeNotFound)
	wantCode(t, "DeleteOAuthAccount of an account by an unknown user",
		s.DeleteOAuthAccount(t.Context(), gatehouse.NewID(), a.ID), gatehouse.CodeNotFound)
	wantOAuthAccount(t, s, a)
	wantOAuthAccounts(t, s, alice, a)
	wantOAuthAccounts(t, s, bob)
}

func testOAuthDuplicate(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	a := newOAuthAccount(alice, "google", "g1", now)
	createOAuthAccount(t, s, a)

	again := newOAuthAccount(alice, "google", "g1", now.Add(time.Second))
	again.AccessToken = []byte("other access")
	wantCode(t, "CreateOAuthAccount of an account linked to the same user",
		s.CreateOAuthAccount(t.Context(), again), gatehouse.CodeConflict)
	again.UserID = bob
	wantCode(t, "CreateOAuthAccount of an account linked to another user",
		s.CreateOAuthAccount(t.Context(), again), gatehouse.CodeConflict)

	sameID := newOAuthAccount(bob, "github", "h1", now.Add(time.Second))
	sameID.ID = a.ID
	wantCode(t, "CreateOAuthAccount of an id in use", s.CreateOAuthAccount(t.Context(), sameID), gatehouse.CodeConflict)

	wantOAuthAccount(t, s, a)
	wantOAuthAccounts(t, s, alice, a)
	wantOAuthAccounts(t, s, bob)
	wantNoOAuthAccount(t, s, "of a refused account", "github", "h1")
}

// Two logins with one new provider account race to link it: one wins.
func testOAuthConcurrentLink(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	const n = 8
	now := keyStart()
	ids := make([]gatehouse.ID, n)
	for i := range ids {
		ids[i] = keyUser(t, users, fmt.Sprintf("user%d@example.com", i))
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		winner = -1
		wins   int
	)
	for i := range n {
		wg.Go(func() {
			err := s.CreateOAuthAccount(t.Context(), newOAuthAccount(ids[i], "google", "contested", now))
			switch code(err) {
			case "":
				mu.Lock()
				winner, wins = i, wins+1
				mu.Unlock()
			case gatehouse.CodeConflict:
			default:
				t.Errorf("CreateOAuthAccount #%d: %v, want nil or a %q error", i, err, gatehouse.CodeConflict)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent CreateOAuthAccount calls with one account succeeded, want 1", wins, n)
	}
	if got := findOAuthAccount(t, s, "google", "contested"); got.UserID != ids[winner] {
		t.Errorf("account linked to %v, want the winner %v", got.UserID, ids[winner])
	}
	for i, id := range ids {
		got, err := s.ListOAuthAccounts(t.Context(), id)
		want := 0
		if i == winner {
			want = 1
		}
		if err != nil || len(got) != want {
			t.Errorf("ListOAuthAccounts(user #%d) = %d accounts, %v; want %d", i, len(got), err, want)
		}
	}
}

func testOAuthOtherProvider(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	g := newOAuthAccount(alice, "google", "42", now)
	h := newOAuthAccount(bob, "github", "42", now.Add(time.Second))
	h2 := newOAuthAccount(alice, "gitlab", "42", now.Add(2*time.Second))
	for _, a := range []gatehouse.OAuthAccount{g, h, h2} {
		createOAuthAccount(t, s, a)
	}
	wantOAuthAccount(t, s, g)
	wantOAuthAccount(t, s, h)
	wantOAuthAccount(t, s, h2)
	wantOAuthAccounts(t, s, alice, g, h2)
	wantOAuthAccounts(t, s, bob, h)
}

func testOAuthUnknownUser(t *testing.T, _ gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	a := newOAuthAccount(gatehouse.NewID(), "google", "orphan", keyStart())
	wantCode(t, "CreateOAuthAccount for a user that does not exist", s.CreateOAuthAccount(t.Context(), a), gatehouse.CodeNotFound)
	wantNoOAuthAccount(t, s, "of a refused account", a.Provider, a.AccountID)
}

func testOAuthUserDeleted(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice, bob := keyUser(t, users, "alice@example.com"), keyUser(t, users, "bob@example.com")
	a1, a2 := newOAuthAccount(alice, "google", "g1", now), newOAuthAccount(alice, "github", "h1", now)
	b := newOAuthAccount(bob, "google", "g2", now)
	for _, a := range []gatehouse.OAuthAccount{a1, a2, b} {
		createOAuthAccount(t, s, a)
	}
	if err := users.DeleteUser(t.Context(), alice); err != nil {
		t.Fatalf("DeleteUser of a user with linked accounts: %v", err)
	}
	wantNoOAuthAccount(t, s, "after its user was deleted", a1.Provider, a1.AccountID)
	wantNoOAuthAccount(t, s, "after its user was deleted", a2.Provider, a2.AccountID)
	wantOAuthAccounts(t, s, alice)
	wantOAuthAccount(t, s, b)
	wantCode(t, "UpdateOAuthTokens of a deleted user's account",
		s.UpdateOAuthTokens(t.Context(), a1.ID, "", nil, nil, time.Time{}), gatehouse.CodeNotFound)
	// The rows went with the user: the account is free to link again.
	relinked := newOAuthAccount(bob, "google", "g1", now.Add(time.Second))
	createOAuthAccount(t, s, relinked)
	wantOAuthAccounts(t, s, bob, b, relinked)
}

func testOAuthTokenBytes(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	big := bytes.Repeat([]byte{0xff, 0x00, 0xfe, '\'', '\\'}, 20000)
	tests := []struct {
		name            string
		access, refresh []byte
	}{
		{"every byte value", every, slices.Clone(every[128:])},
		{"NUL and invalid UTF-8", []byte{0, 0, 0xc3, 0x28, 0}, []byte{0xed, 0xa0, 0x80}},
		{"nil refresh token", []byte("sealed"), nil},
		{"empty refresh token", []byte("sealed"), []byte{}},
		{"both empty", []byte{}, nil},
		{"large", big, big[:1]},
	}
	var want []gatehouse.OAuthAccount
	for i, tt := range tests {
		a := newOAuthAccount(alice, "oidc", tt.name, now.Add(time.Duration(i)*time.Second))
		a.AccessToken, a.RefreshToken = tt.access, tt.refresh
		createOAuthAccount(t, s, a)
		got := findOAuthAccount(t, s, a.Provider, a.AccountID)
		if !bytes.Equal(got.AccessToken, tt.access) || !bytes.Equal(got.RefreshToken, tt.refresh) {
			t.Errorf("%s: tokens came back as %d and %d bytes differing from the %d and %d given",
				tt.name, len(got.AccessToken), len(got.RefreshToken), len(tt.access), len(tt.refresh))
		}
		want = append(want, a)
	}
	wantOAuthAccounts(t, s, alice, want...)

	// Through UpdateOAuthTokens too.
	a := want[0]
	a.AccessToken, a.RefreshToken = slices.Clone(every[1:]), nil
	if err := s.UpdateOAuthTokens(t.Context(), a.ID, a.AccountEmail, a.AccessToken, a.RefreshToken, a.ExpiresAt); err != nil {
		t.Fatalf("UpdateOAuthTokens: %v", err)
	}
	wantOAuthAccount(t, s, a)
}

func testOAuthZeroExpiry(t *testing.T, users gatehouse.UserStore, s gatehouse.OAuthAccountStore) {
	now := keyStart()
	alice := keyUser(t, users, "alice@example.com")
	a := newOAuthAccount(alice, "github", "never", now)
	a.ExpiresAt = time.Time{}
	createOAuthAccount(t, s, a)
	if got := findOAuthAccount(t, s, a.Provider, a.AccountID); !got.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt of an account created with none = %v, want zero", got.ExpiresAt)
	}
	wantOAuthAccounts(t, s, alice, a)

	// An expiry set, then cleared.
	if err := s.UpdateOAuthTokens(t.Context(), a.ID, a.AccountEmail, a.AccessToken, a.RefreshToken, now.Add(time.Hour)); err != nil {
		t.Fatalf("UpdateOAuthTokens: %v", err)
	}
	a.ExpiresAt = now.Add(time.Hour)
	wantOAuthAccount(t, s, a)
	if err := s.UpdateOAuthTokens(t.Context(), a.ID, a.AccountEmail, a.AccessToken, a.RefreshToken, time.Time{}); err != nil {
		t.Fatalf("UpdateOAuthTokens: %v", err)
	}
	a.ExpiresAt = time.Time{}
	if got := findOAuthAccount(t, s, a.Provider, a.AccountID); !got.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt after UpdateOAuthTokens with none = %v, want zero", got.ExpiresAt)
	}
	wantOAuthAccounts(t, s, alice, a)
}
