package gatehouse_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse"
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
	if _, err := m.Register(ctx, gatehouse.UserCreate{Email: "alice@example.com", Password: "password123"}); err != nil {
		t.Fatal(err)
	}
	inactive, err := m.Register(ctx, gatehouse.UserCreate{Email: "off@example.com", Password: "password123"})
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
		{"ok", "alice@example.com", "password123", ""},
		{"case-insensitive e-mail", "ALICE@EXAMPLE.COM", "password123", ""},
		{"wrong password", "alice@example.com", "password124", gatehouse.CodeLoginBadCredentials},
		// The unknown e-mail still costs a hash: the count below checks it.
		{"unknown e-mail", "nobody@example.com", "password123", gatehouse.CodeLoginBadCredentials},
		{"inactive", "off@example.com", "password123", gatehouse.CodeLoginBadCredentials},
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

func TestManagerHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newManager(t)
	var events []string
	m.Hooks = gatehouse.Hooks{
		AfterRegister: func(_ context.Context, u *gatehouse.User) error {
			events = append(events, "register "+u.Email)
			return nil
		},
		AfterUpdate: func(_ context.Context, u *gatehouse.User, changed []string) error {
			events = append(events, "update "+strings.Join(changed, ","))
			return nil
		},
		BeforeDelete: func(_ context.Context, u *gatehouse.User) error {
			if u.IsSuperuser {
				return errors.New("refusing to delete a superuser")
			}
			events = append(events, "before delete")
			return nil
		},
		AfterDelete: func(_ context.Context, u *gatehouse.User) error {
			events = append(events, "after delete")
			return nil
		},
	}
	u, err := m.Register(ctx, gatehouse.UserCreate{Email: "a@example.com", Password: "password123"})
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
	if !slices.Equal(events, want) {
		t.Fatalf("events = %q, want %q", events, want)
	}
	for _, e := range events {
		if strings.Contains(e, pw) {
			t.Fatalf("a hook saw the password: %q", e)
		}
	}
}

func TestManagerCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newManager(t)
	a, _ := m.Register(ctx, gatehouse.UserCreate{Email: "a@example.com", Password: "password123"})
	m.Register(ctx, gatehouse.UserCreate{Email: "b@example.com", Password: "password123"})
	short, taken := "short", "B@example.com"
	for _, tc := range []struct {
		name   string
		err    error
		code   gatehouse.Code
		reason string
	}{
		{"register taken", second(m.Register(ctx, gatehouse.UserCreate{Email: "A@EXAMPLE.com", Password: "password123"})), gatehouse.CodeRegisterUserAlreadyExists, ""},
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
