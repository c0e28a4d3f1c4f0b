package webhook_test

import (
	"context"
	"crypto/rand"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// recordingSigner is a gatehouse.Signer that remembers every token it made.
type recordingSigner struct {
	mu     sync.Mutex
	tokens map[string]signed
	last   map[string]string // audience -> newest token
}

type signed struct {
	audience string
	claims   map[string]string
}

func (s *recordingSigner) Sign(audience string, claims map[string]string, _ time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens, s.last = map[string]signed{}, map[string]string{}
	}
	tok := "tok_" + rand.Text()
	s.tokens[tok] = signed{audience, maps.Clone(claims)}
	s.last[audience] = tok
	return tok, nil
}

func (s *recordingSigner) Parse(token, audience string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[token]; ok && t.audience == audience {
		return maps.Clone(t.claims), nil
	}
	return nil, &gatehouse.Error{Code: gatehouse.CodeAccessTokenDecodeError}
}

func (s *recordingSigner) newest(audience string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[audience]
}

func (s *recordingSigner) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.tokens))
}

// TestNoSecretsInBodies runs a user through every flow of a real Manager
// and checks that no delivery holds a password, a hash or a token.
func TestNoSecretsInBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, got := receive(t, nil)
	h, _ := newHooks(t, srv.URL, nil)
	signer := &recordingSigner{}
	m := &gatehouse.Manager{
		Users:  sqlite.NewUserStore(sqlitetest.New(t)),
		Hasher: &password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1}},
		Hooks:  h,
		Tokens: signer,
	}
	passwords := []string{"first password 1", "second password 2", "third password 3"}
	var hashes []string
	keep := func(u *gatehouse.User, err error) *gatehouse.User {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, u.HashedPassword)
		return u
	}

	u := keep(m.Register(ctx, gatehouse.UserCreate{Email: "bob@example.com", Password: passwords[0]}))
	if err := m.LoggedIn(ctx, u); err != nil {
		t.Fatal(err)
	}
	u = keep(m.Update(ctx, u, gatehouse.UserChange{Password: &passwords[1]}, true))
	if err := m.RequestVerify(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	u = keep(m.Verify(ctx, signer.newest(gatehouse.AudienceVerify)))
	if err := m.ForgotPassword(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	u = keep(m.ResetPassword(ctx, signer.newest(gatehouse.AudienceReset), passwords[2]))
	if err := m.Delete(ctx, u); err != nil {
		t.Fatal(err)
	}
	closeHooks(t, h)

	secrets := slices.Concat(passwords, hashes, signer.all())
	if len(signer.all()) < 2 {
		t.Fatalf("the flows made %d tokens, want at least 2", len(signer.all()))
	}
	events := map[string]bool{}
	for _, r := range drain(got) {
		events[r.header.Get("X-Gatehouse-Event")] = true
		body := string(r.body)
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s body holds a secret %q: %s", r.header.Get("X-Gatehouse-Event"), s, body)
			}
		}
		for _, word := range []string{"hashed_password", "argon2", "token", "tok_"} {
			if strings.Contains(body, word) {
				t.Errorf("%s body holds %q: %s", r.header.Get("X-Gatehouse-Event"), word, body)
			}
		}
		for name, values := range r.header {
			for _, s := range secrets {
				if strings.Contains(strings.Join(values, " "), s) {
					t.Errorf("header %s holds a secret", name)
				}
			}
		}
	}
	want := []string{
		"user.deleted", "user.deleting", "user.forgot_password", "user.logged_in", "user.password_reset",
		"user.registered", "user.updated", "user.verified", "user.verify_requested",
	}
	if got := slices.Sorted(maps.Keys(events)); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
