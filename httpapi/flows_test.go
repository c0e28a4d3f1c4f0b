package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// outbox collects the tokens the flows hand to their hooks, by e-mail, as
// a mailer would.
type outbox struct {
	gatehouse.NopHooks
	mu     sync.Mutex
	verify map[string][]string
	reset  map[string][]string
}

func newOutbox() *outbox {
	return &outbox{verify: map[string][]string{}, reset: map[string][]string{}}
}

func (o *outbox) AfterRequestVerify(_ context.Context, u *gatehouse.User, token string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.verify[u.Email] = append(o.verify[u.Email], token)
	return nil
}

func (o *outbox) AfterForgotPassword(_ context.Context, u *gatehouse.User, token string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reset[u.Email] = append(o.reset[u.Email], token)
	return nil
}

// take returns and forgets the tokens sent to email.
func (o *outbox) take(m map[string][]string, email string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := m[email]
	delete(m, email)
	return t
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, t := range o.verify {
		n += len(t)
	}
	for _, t := range o.reset {
		n += len(t)
	}
	return n
}

func jsonBody(v map[string]string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestVerifyFlow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		box := newOutbox()
		s := newServer(t, e, options{hooks: box})
		s.register("new@example.com", "password123")
		s.user("verified@example.com", false, true, true)
		s.user("inactive@example.com", false, false, false)
		request := func(email string) {
			t.Helper()
			res := s.json("POST", "/auth/request-verify-token", jsonBody(map[string]string{"email": email}), "")
			if res.status != 202 || res.body != "null" {
				t.Fatalf("request-verify-token %s: %d %s", email, res.status, res.body)
			}
			s.wait()
		}

		// Nothing is sent to unknown, verified or inactive users, and the
		// answer is the same.
		for _, email := range []string{"nobody@example.com", "verified@example.com"} {
			request(email)
		}
		if box.count() != 0 {
			t.Fatalf("tokens were sent: %+v", box.verify)
		}
		request("inactive@example.com")
		request("NEW@example.com")
		if got := box.take(box.verify, "inactive@example.com"); len(got) != 0 {
			t.Fatal("an inactive user got a token")
		}
		tokens := box.take(box.verify, "new@example.com")
		if len(tokens) != 1 {
			t.Fatalf("tokens for new@example.com: %v", tokens)
		}
		token := tokens[0]

		verify := func(tok string) response {
			return s.json("POST", "/auth/verify", jsonBody(map[string]string{"token": tok}), "")
		}
		const bad = `{"detail":"VERIFY_USER_BAD_TOKEN"}`
		for _, tc := range []struct {
			name, token, want string
		}{
			{"garbage", "garbage", bad},
			{"truncated", token[:len(token)-5], bad},
			{"tampered", token[:len(token)-2] + "xx", bad},
			{"empty", "", bad},
		} {
			if res := verify(tc.token); res.status != 400 || res.body != tc.want {
				t.Errorf("%s: %d %s", tc.name, res.status, res.body)
			}
		}
		res := verify(token)
		if res.status != 200 || res.json(t)["is_verified"] != true || res.json(t)["email"] != "new@example.com" {
			t.Fatalf("verify: %d %s", res.status, res.body)
		}
		if res := verify(token); res.status != 400 || res.body != `{"detail":"VERIFY_USER_ALREADY_VERIFIED"}` {
			t.Fatalf("reuse: %d %s", res.status, res.body)
		}

		// A token dies with an e-mail change, and with time.
		_, tok := s.user("mover@example.com", false, false, true)
		request("mover@example.com")
		moved := box.take(box.verify, "mover@example.com")[0]
		s.json("PATCH", "/users/me", `{"email":"moved@example.com"}`, tok)
		if res := verify(moved); res.status != 400 || res.body != bad {
			t.Fatalf("after an e-mail change: %d %s", res.status, res.body)
		}
		request("moved@example.com")
		late := box.take(box.verify, "moved@example.com")[0]
		s.clock.Add(time.Hour)
		if res := verify(late); res.status != 400 || res.body != bad {
			t.Fatalf("expired: %d %s", res.status, res.body)
		}

		for _, tc := range []struct{ path, body string }{
			{"/auth/request-verify-token", `{}`},
			{"/auth/request-verify-token", `{"email":"not an e-mail"}`},
			{"/auth/verify", `{}`},
			{"/auth/verify", `{"token":5}`},
			{"/auth/verify", `[`},
		} {
			if res := s.json("POST", tc.path, tc.body, ""); res.status != 422 || !strings.HasPrefix(res.body, `{"detail":[`) {
				t.Errorf("%s %s: %d %s", tc.path, tc.body, res.status, res.body)
			}
		}
	})
}

func TestResetPasswordFlow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		box := newOutbox()
		s := newServer(t, e, options{hooks: box})
		s.register("alice@example.com", "password123")
		s.user("inactive@example.com", false, false, false)
		forgot := func(email string) []string {
			t.Helper()
			res := s.json("POST", "/auth/forgot-password", jsonBody(map[string]string{"email": email}), "")
			if res.status != 202 || res.body != "null" {
				t.Fatalf("forgot-password %s: %d %s", email, res.status, res.body)
			}
			s.wait()
			return box.take(box.reset, strings.ToLower(email))
		}
		reset := func(tok, pw string) response {
			return s.json("POST", "/auth/reset-password", jsonBody(map[string]string{"token": tok, "password": pw}), "")
		}
		const bad = `{"detail":"RESET_PASSWORD_BAD_TOKEN"}`

		if got := forgot("nobody@example.com"); len(got) != 0 || box.count() != 0 {
			t.Fatal("a token for an unknown e-mail")
		}
		if got := forgot("inactive@example.com"); len(got) != 0 {
			t.Fatal("a token for an inactive user")
		}
		first := forgot("Alice@example.com")
		second := forgot("alice@example.com")
		if len(first) != 1 || len(second) != 1 {
			t.Fatalf("tokens: %v %v", first, second)
		}
		// The account is untouched by the request: the old password works.
		s.login("alice@example.com", "password123")

		if res := reset(first[0], "short"); res.status != 400 ||
			res.body != `{"detail":{"code":"RESET_PASSWORD_INVALID_PASSWORD","reason":"Password should be at least 8 characters"}}` {
			t.Fatalf("weak password: %d %s", res.status, res.body)
		}
		if res := reset(first[0], "a brand new passphrase"); res.status != 200 || res.body != "null" {
			t.Fatalf("reset: %d %s", res.status, res.body)
		}
		s.login("alice@example.com", "a brand new passphrase")
		if res := s.form("/auth/jwt/login", map[string][]string{"username": {"alice@example.com"}, "password": {"password123"}}); res.status != 400 {
			t.Fatalf("old password still works: %d", res.status)
		}
		for _, tc := range []struct{ name, token string }{
			{"reused", first[0]},
			{"issued before the reset", second[0]},
			{"garbage", "garbage"},
			{"truncated", first[0][:20]},
		} {
			if res := reset(tc.token, "yet another passphrase"); res.status != 400 || res.body != bad {
				t.Errorf("%s: %d %s", tc.name, res.status, res.body)
			}
		}

		// A verification token is no reset token.
		s.register("bob@example.com", "password123")
		s.json("POST", "/auth/request-verify-token", `{"email":"bob@example.com"}`, "")
		s.wait()
		if res := reset(box.take(box.verify, "bob@example.com")[0], "yet another passphrase"); res.status != 400 || res.body != bad {
			t.Fatalf("verify token at reset: %d %s", res.status, res.body)
		}
		// Expired, deactivated and deleted users' tokens are bad too.
		late := forgot("bob@example.com")[0]
		s.clock.Add(time.Hour)
		if res := reset(late, "yet another passphrase"); res.status != 400 || res.body != bad {
			t.Fatalf("expired: %d %s", res.status, res.body)
		}
		deactivated := forgot("bob@example.com")[0]
		s.set("bob@example.com", gatehouse.UserUpdate{IsActive: ptr(false)})
		if res := reset(deactivated, "yet another passphrase"); res.status != 400 || res.body != bad {
			t.Fatalf("inactive: %d %s", res.status, res.body)
		}

		for _, body := range []string{`{}`, `{"token":"x"}`, `{"password":"x"}`, `{"email":"x"}`} {
			if res := s.json("POST", "/auth/reset-password", body, ""); res.status != 422 {
				t.Errorf("%s: %d %s", body, res.status, res.body)
			}
		}
	})
}

// TestFlowsAnswerAlikeUnderLoad: a burst larger than the background pool
// still answers every request alike, and no token goes astray.
func TestFlowsAnswerAlikeUnderLoad(t *testing.T) {
	box := newOutbox()
	s := newServer(t, engines[0], options{hooks: box})
	s.register("alice@example.com", "password123")
	var wg sync.WaitGroup
	for i := range 150 {
		wg.Go(func() {
			email := fmt.Sprintf("nobody%d@example.com", i)
			if i%10 == 0 {
				email = "alice@example.com"
			}
			if res := s.json("POST", "/auth/forgot-password", jsonBody(map[string]string{"email": email}), ""); res.status != 202 || res.body != "null" {
				t.Errorf("%s: %d %s", email, res.status, res.body)
			}
		})
	}
	wg.Wait()
	s.wait()
	if got := len(box.take(box.reset, "alice@example.com")); got != 15 || box.count() != 0 {
		t.Fatalf("alice got %d tokens (want 15), others %d", got, box.count())
	}
}
