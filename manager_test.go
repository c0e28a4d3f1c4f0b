package gatehouse_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// countingHasher counts how often a password is checked.
type countingHasher struct {
	gatehouse.Hasher
	verifies atomic.Int64
}

func (c *countingHasher) Verify(ctx context.Context, pw, hash string) (bool, string, error) {
	c.verifies.Add(1)
	return c.Hasher.Verify(ctx, pw, hash)
}

func newManager(t *testing.T) (*gatehouse.Manager, *countingHasher) {
	t.Helper()
	h := &countingHasher{Hasher: &password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1}}}
	return &gatehouse.Manager{
		Users:     sqlite.NewUserStore(sqlitetest.New(t)),
		Hasher:    h,
		Passwords: &password.Policy{},
	}, h
}

func TestManagerAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, h := newManager(t)
	if _, err := m.Register(ctx, gatehouse.UserCreate{Email: "alice@example.com", Password: "lantern-orbit-123"}); err != nil {
		t.Fatal(err)
	}
	inactive, err := m.Register(ctx, gatehouse.UserCreate{Email: "off@example.com", Password: "lantern-orbit-123"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(ctx, inactive, gatehouse.UserChange{IsActive: new(bool)}, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, pw string
		want            gatehouse.Code
	}{
		{"ok", "alice@example.com", "lantern-orbit-123", ""},
		{"case-insensitive e-mail", "ALICE@EXAMPLE.COM", "lantern-orbit-123", ""},
		{"wrong password", "alice@example.com", "lantern-orbit-124", gatehouse.CodeLoginBadCredentials},
		// The unknown e-mail still costs a hash: the count below checks it.
		{"unknown e-mail", "nobody@example.com", "lantern-orbit-123", gatehouse.CodeLoginBadCredentials},
		{"inactive", "off@example.com", "lantern-orbit-123", gatehouse.CodeLoginBadCredentials},
	} {
		before := h.verifies.Load()
		_, err := m.Authenticate(ctx, tc.email, tc.pw)
		if got := gatehouse.ErrorCode(err); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
		}
		if n := h.verifies.Load() - before; n != 1 {
			t.Errorf("%s: %d password checks, want exactly 1", tc.name, n)
		}
	}
}

// recordingHooks records events; it embeds NopHooks for the rest.
type recordingHooks struct {
	gatehouse.NopHooks
	events []string
}

func (h *recordingHooks) AfterRegister(_ context.Context, u *gatehouse.User) error {
	h.events = append(h.events, "register "+u.Email)
	return nil
}

func (h *recordingHooks) AfterUpdate(_ context.Context, u *gatehouse.User, changed []string) error {
	h.events = append(h.events, "update "+strings.Join(changed, ","))
	return nil
}

func (h *recordingHooks) BeforeDelete(_ context.Context, u *gatehouse.User) error {
	if u.IsSuperuser {
		return errors.New("refusing to delete a superuser")
	}
	h.events = append(h.events, "before delete")
	return nil
}

func (h *recordingHooks) AfterDelete(context.Context, *gatehouse.User) error {
	h.events = append(h.events, "after delete")
	return nil
}

func TestManagerHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newManager(t)
	hooks := &recordingHooks{}
	m.Hooks = hooks
	u, err := m.Register(ctx, gatehouse.UserCreate{Email: "a@example.com", Password: "lantern-orbit-123"})
	if err != nil {
		t.Fatal(err)
	}
	email, pw, yes := "b@example.com", "another password", true
	u, err = m.Update(ctx, u, gatehouse.UserChange{Email: &email, Password: &pw, IsSuperuser: &yes}, true)
	if err != nil {
		t.Fatal(err)
	}
	if u.IsSuperuser {
		t.Fatal("a safe update set is_superuser")
	}
	if err := m.Delete(ctx, u); err != nil {
		t.Fatal(err)
	}
	want := []string{"register a@example.com", "update password,email", "before delete", "after delete"}
	if !slices.Equal(hooks.events, want) {
		t.Fatalf("events = %q, want %q", hooks.events, want)
	}
	for _, e := range hooks.events {
		if strings.Contains(e, pw) {
			t.Fatalf("a hook saw the password: %q", e)
		}
	}
	// A veto from BeforeDelete stops the delete.
	admin, _ := m.Register(ctx, gatehouse.UserCreate{Email: "admin@example.com", Password: "lantern-orbit-123"})
	admin, _ = m.Update(ctx, admin, gatehouse.UserChange{IsSuperuser: &yes}, false)
	if err := m.Delete(ctx, admin); err == nil {
		t.Fatal("BeforeDelete's veto was ignored")
	}
	if _, err := m.Users.FindUserByID(ctx, admin.ID); err != nil {
		t.Fatalf("vetoed user is gone: %v", err)
	}
}

func TestManagerCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newManager(t)
	a, _ := m.Register(ctx, gatehouse.UserCreate{Email: "a@example.com", Password: "lantern-orbit-123"})
	m.Register(ctx, gatehouse.UserCreate{Email: "b@example.com", Password: "lantern-orbit-123"})
	short, taken := "short", "B@example.com"
	for _, tc := range []struct {
		name   string
		err    error
		code   gatehouse.Code
		reason string
	}{
		{"register taken", second(m.Register(ctx, gatehouse.UserCreate{Email: "A@EXAMPLE.com", Password: "lantern-orbit-123"})), gatehouse.CodeRegisterUserAlreadyExists, ""},
		{"register short", second(m.Register(ctx, gatehouse.UserCreate{Email: "c@example.com", Password: "short"})), gatehouse.CodeRegisterInvalidPassword, "Password should be at least 8 characters"},
		{"update short", second(m.Update(ctx, a, gatehouse.UserChange{Password: &short}, true)), gatehouse.CodeUpdateUserInvalidPassword, "Password should be at least 8 characters"},
		{"update taken", second(m.Update(ctx, a, gatehouse.UserChange{Email: &taken}, true)), gatehouse.CodeUpdateUserEmailAlreadyExists, ""},
	} {
		if gatehouse.ErrorCode(tc.err) != tc.code || gatehouse.ErrorReason(tc.err) != tc.reason {
			t.Errorf("%s: %v, want %s %q", tc.name, tc.err, tc.code, tc.reason)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// countingStore counts every call a flow makes to the user store.
type countingStore struct {
	gatehouse.UserStore
	calls atomic.Int64
}

func (c *countingStore) FindUserByEmail(ctx context.Context, email string) (*gatehouse.User, error) {
	c.calls.Add(1)
	return c.UserStore.FindUserByEmail(ctx, email)
}

func (c *countingStore) FindUserByID(ctx context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	c.calls.Add(1)
	return c.UserStore.FindUserByID(ctx, id)
}

func (c *countingStore) UpdateUser(ctx context.Context, id gatehouse.ID, upd gatehouse.UserUpdate) (*gatehouse.User, error) {
	c.calls.Add(1)
	return c.UserStore.UpdateUser(ctx, id, upd)
}

// countingSigner counts signatures.
type countingSigner struct {
	gatehouse.Signer
	signs atomic.Int64
}

func (c *countingSigner) Sign(aud string, claims map[string]string, ttl time.Duration) (string, error) {
	c.signs.Add(1)
	return c.Signer.Sign(aud, claims, ttl)
}

// TestFlowsDoTheSameWork: forgot-password and request-verify-token cost the
// same store calls, signatures and password hashes whether or not the
// e-mail belongs to someone who gets a token, so their timing tells nothing.
func TestFlowsDoTheSameWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, hasher := newManager(t)
	for _, email := range []string{"alice@example.com", "off@example.com", "done@example.com"} {
		if _, err := m.Register(ctx, gatehouse.UserCreate{Email: email, Password: "lantern-orbit-123"}); err != nil {
			t.Fatal(err)
		}
	}
	off, _ := m.Users.FindUserByEmail(ctx, "off@example.com")
	m.Update(ctx, off, gatehouse.UserChange{IsActive: new(bool)}, false)
	done, _ := m.Users.FindUserByEmail(ctx, "done@example.com")
	yes := true
	m.Update(ctx, done, gatehouse.UserChange{IsVerified: &yes}, false)

	store := &countingStore{UserStore: m.Users}
	m.Users = store
	key, _ := jwt.NewSigner([]byte("account-flow secret of 32+ bytes!!"))
	signer := &countingSigner{Signer: key}
	m.Tokens = signer
	hooks := &recordingHooks{}
	m.Hooks = hooks

	type work struct{ store, signs, hashes int64 }
	measure := func(flow func(context.Context, string) error, email string) work {
		s0, g0, h0 := store.calls.Load(), signer.signs.Load(), hasher.verifies.Load()
		if err := flow(ctx, email); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		return work{store.calls.Load() - s0, signer.signs.Load() - g0, hasher.verifies.Load() - h0}
	}
	for name, flow := range map[string]func(context.Context, string) error{
		"forgot-password": m.ForgotPassword, "request-verify-token": m.RequestVerify,
	} {
		want := measure(flow, "alice@example.com")
		if want.store == 0 || want.signs == 0 {
			t.Fatalf("%s did no work for an existing user: %+v", name, want)
		}
		for _, email := range []string{"nobody@example.com", "off@example.com", "done@example.com"} {
			if got := measure(flow, email); got != want {
				t.Errorf("%s for %s: %+v, for an existing user %+v", name, email, got, want)
			}
		}
	}
}

// TestNoPasswordNeverMatches: a user without a password (made by a
// provider login) fails password login like a wrong password, after the
// same work.
func TestNoPasswordNeverMatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, h := newManager(t)
	u := &gatehouse.User{Email: "oauth@example.com", HashedPassword: gatehouse.NoPassword, IsActive: true}
	if err := m.Users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "!", "lantern-orbit-123"} {
		before := h.verifies.Load()
		if _, err := m.Authenticate(ctx, "oauth@example.com", pw); gatehouse.ErrorCode(err) != gatehouse.CodeLoginBadCredentials {
			t.Fatalf("password %q: %v", pw, err)
		}
		if h.verifies.Load()-before != 1 {
			t.Fatalf("password %q: not one hash's work", pw)
		}
	}
}

// refusingHasher refuses every check, as a Hasher whose queue is full does.
type refusingHasher struct{ gatehouse.Hasher }

func (refusingHasher) Verify(context.Context, string, string) (bool, string, error) {
	return false, "", gatehouse.Errorf(gatehouse.CodeUnavailable, "no hashing slot")
}

// A Hasher's refusal reaches the caller whether or not the e-mail is known:
// answering LOGIN_BAD_CREDENTIALS for unknown ones only would tell them apart.
func TestAuthenticateRefusalIsTheSameForUnknownEmails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newManager(t)
	if _, err := m.Register(ctx, gatehouse.UserCreate{Email: "alice@example.com", Password: "lantern-orbit-123"}); err != nil {
		t.Fatal(err)
	}
	m.Hasher = refusingHasher{m.Hasher}
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		_, err := m.Authenticate(ctx, email, "lantern-orbit-123")
		if got := gatehouse.ErrorCode(err); got != gatehouse.CodeUnavailable {
			t.Errorf("Authenticate(%s) with a refusing Hasher: code %q (%v), want %q", email, got, err, gatehouse.CodeUnavailable)
		}
	}
}
