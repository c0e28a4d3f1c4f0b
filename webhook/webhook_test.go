package webhook_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/webhook"
)

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		url      string
		secret   []byte
		insecure bool
		wantErr  string // "" for success
	}{
		{"https", "https://hooks.example.com/gatehouse", secret, false, ""},
		{"http loopback v4", "http://127.0.0.1:8080/hook", secret, false, ""},
		{"http loopback v6", "http://[::1]:8080/hook", secret, false, ""},
		{"http localhost", "http://localhost/hook", secret, false, ""},
		{"http allowed", "http://hooks.internal/hook", secret, true, ""},
		{"http refused", "http://hooks.example.com/hook", secret, false, "InsecureAllowHTTP"},
		{"missing URL", "", secret, false, "URL is missing"},
		{"relative URL", "/hook", secret, false, "absolute"},
		{"no host", "https:///hook", secret, false, "absolute"},
		{"bad scheme", "ftp://hooks.example.com/hook", secret, false, "http or https"},
		{"unparsable", "https://hooks.example.com/%zz", secret, false, "does not parse"},
		{"short secret", "https://hooks.example.com/hook", secret[:31], false, "at least 32 bytes"},
		{"no secret", "https://hooks.example.com/hook", nil, false, "at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := webhook.New(webhook.Config{URL: tc.url, Secret: tc.secret, InsecureAllowHTTP: tc.insecure})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				closeHooks(t, h)
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "webhook: ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// deliverOne fires one event at a receiver answering 204 and returns the
// request it got.
func deliverOne(t *testing.T, fire func(*webhook.Hooks) error) request {
	t.Helper()
	srv, got := receive(t, nil)
	h, logs := newHooks(t, srv.URL+"/hook", nil)
	if err := fire(h); err != nil {
		t.Fatalf("hook: %v", err)
	}
	closeHooks(t, h)
	reqs := drain(got)
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1; log: %q", len(reqs), logs.all())
	}
	return reqs[0]
}

func TestDeliveryHeaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := deliverOne(t, func(h *webhook.Hooks) error { return h.AfterRegister(ctx, alice) })

	for name, want := range map[string]string{
		"Content-Type":          "application/json",
		"X-Gatehouse-Event":     "user.registered",
		"X-Gatehouse-Timestamp": strconv.FormatInt(now.Unix(), 10),
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, err := gatehouse.ParseID(r.header.Get("X-Gatehouse-Delivery")); err != nil {
		t.Errorf("X-Gatehouse-Delivery = %q, want a UUID", r.header.Get("X-Gatehouse-Delivery"))
	}
	ts, sig := r.header.Get("X-Gatehouse-Timestamp"), r.header.Get("X-Gatehouse-Signature")
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Errorf("X-Gatehouse-Signature = %q, want v1= and 64 hex digits", sig)
	}
	if err := webhook.Verify(secret, ts, sig, r.body, now, time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	other := []byte(strings.Repeat("x", 32))
	if err := webhook.Verify(other, ts, sig, r.body, now, time.Minute); err == nil {
		t.Error("Verify with another secret: got nil")
	}
	if err := webhook.Verify(secret, ts, sig, append(r.body, ' '), now, time.Minute); err == nil {
		t.Error("Verify of a changed body: got nil")
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const at = `"at":"2026-01-02T03:04:05Z"`
	for _, tc := range []struct {
		event string
		fire  func(*webhook.Hooks) error
		want  string
	}{
		{"user.registered", func(h *webhook.Hooks) error { return h.AfterRegister(ctx, alice) },
			`{"event":"user.registered",` + at + `,"user":` + aliceJSON + `}`},
		{"user.logged_in", func(h *webhook.Hooks) error { return h.AfterLogin(ctx, alice) },
			`{"event":"user.logged_in",` + at + `,"user":` + aliceJSON + `}`},
		{"user.updated", func(h *webhook.Hooks) error { return h.AfterUpdate(ctx, alice, []string{"email", "password"}) },
			`{"event":"user.updated",` + at + `,"user":` + aliceJSON + `,"changed":["email","password"]}`},
		{"user.updated", func(h *webhook.Hooks) error { return h.AfterUpdate(ctx, alice, nil) },
			`{"event":"user.updated",` + at + `,"user":` + aliceJSON + `,"changed":[]}`},
		{"user.verify_requested", func(h *webhook.Hooks) error { return h.AfterRequestVerify(ctx, alice, "verify-token") },
			`{"event":"user.verify_requested",` + at + `,"user":` + aliceJSON + `}`},
		{"user.verified", func(h *webhook.Hooks) error { return h.AfterVerify(ctx, alice) },
			`{"event":"user.verified",` + at + `,"user":` + aliceJSON + `}`},
		{"user.forgot_password", func(h *webhook.Hooks) error { return h.AfterForgotPassword(ctx, alice, "reset-token") },
			`{"event":"user.forgot_password",` + at + `,"user":` + aliceJSON + `}`},
		{"user.password_reset", func(h *webhook.Hooks) error { return h.AfterResetPassword(ctx, alice) },
			`{"event":"user.password_reset",` + at + `,"user":` + aliceJSON + `}`},
		{"user.deleting", func(h *webhook.Hooks) error { return h.BeforeDelete(ctx, alice) },
			`{"event":"user.deleting",` + at + `,"user":` + aliceJSON + `}`},
		{"user.deleted", func(h *webhook.Hooks) error { return h.AfterDelete(ctx, alice) },
			`{"event":"user.deleted",` + at + `,"user":` + aliceJSON + `}`},
	} {
		t.Run(tc.event, func(t *testing.T) {
			t.Parallel()
			r := deliverOne(t, tc.fire)
			if got := r.header.Get("X-Gatehouse-Event"); got != tc.event {
				t.Errorf("X-Gatehouse-Event = %q, want %q", got, tc.event)
			}
			if string(r.body) != tc.want {
				t.Errorf("body\n got %s\nwant %s", r.body, tc.want)
			}
		})
	}
}

// answer returns a respond func that answers the listed statuses in turn,
// then 204.
func answer(statuses ...int) func(int, http.ResponseWriter) {
	return func(n int, w http.ResponseWriter) {
		if n > len(statuses) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if statuses[n-1] == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(statuses[n-1])
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		statuses  []int // answers before 204
		attempts  int
		wantReqs  int
		wantFails int // "delivery failed" records
	}{
		{"5xx then success", []int{500, 502}, 0, 3, 0},
		{"429 with Retry-After", []int{429}, 0, 2, 0},
		{"attempts exhausted", []int{503, 503, 503}, 3, 3, 1},
		{"400 is not retried", []int{400}, 0, 1, 1},
		{"404 is not retried", []int{404}, 0, 1, 1},
		{"redirect is not followed", []int{307}, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, got := receive(t, answer(tc.statuses...))
			h, logs := newHooks(t, srv.URL, func(c *webhook.Config) { c.Attempts = tc.attempts })
			if err := h.AfterLogin(ctx, alice); err != nil {
				t.Fatal(err)
			}
			closeHooks(t, h)

			reqs := drain(got)
			if len(reqs) != tc.wantReqs {
				t.Fatalf("got %d requests, want %d", len(reqs), tc.wantReqs)
			}
			id := reqs[0].header.Get("X-Gatehouse-Delivery")
			for i, r := range reqs {
				if got := r.header.Get("X-Gatehouse-Delivery"); got != id {
					t.Errorf("request %d: delivery id %q, want %q as on the first", i+1, got, id)
				}
				if string(r.body) != string(reqs[0].body) {
					t.Errorf("request %d: body changed: %s", i+1, r.body)
				}
				err := webhook.Verify(secret, r.header.Get("X-Gatehouse-Timestamp"), r.header.Get("X-Gatehouse-Signature"), r.body, now, time.Minute)
				if err != nil {
					t.Errorf("request %d: Verify: %v", i+1, err)
				}
			}
			if n := logs.count("webhook: delivery failed"); n != tc.wantFails {
				t.Errorf("%d failure records, want %d: %q", n, tc.wantFails, logs.all())
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	srv, got := receive(t, func(int, http.ResponseWriter) {
		arrived <- struct{}{}
		<-release
	})
	h, logs := newHooks(t, srv.URL, func(c *webhook.Config) { c.QueueSize = 1 })
	user := func(i int) *gatehouse.User {
		return &gatehouse.User{ID: gatehouse.NewID(), Email: "u" + strconv.Itoa(i) + "@example.com"}
	}

	// Keep every worker busy, then fill the queue.
	for i := range webhook.Workers {
		h.AfterRegister(ctx, user(i))
		<-arrived
	}
	h.AfterRegister(ctx, user(webhook.Workers))

	// The next event is dropped: the hook returns at once, without error.
	returned := make(chan error)
	go func() { returned <- h.AfterRegister(ctx, user(99)) }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("hook on a full queue: %v", err)
		}
	case <-time.After(10 * time.Second): // a deadline, not a timing assumption
		t.Fatal("hook blocked on a full queue")
	}
	if n := logs.count("webhook: queue full, event dropped"); n != 1 {
		t.Errorf("%d drop records, want 1: %q", n, logs.all())
	}

	close(release)
	closeHooks(t, h)
	reqs := drain(got)
	if len(reqs) != webhook.Workers+1 {
		t.Fatalf("got %d requests, want %d", len(reqs), webhook.Workers+1)
	}
	for _, r := range reqs {
		if strings.Contains(string(r.body), "u99@") {
			t.Errorf("the dropped event was delivered: %s", r.body)
		}
	}
}

func TestCloseDrains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	release := make(chan struct{})
	srv, got := receive(t, func(int, http.ResponseWriter) { <-release })
	h, logs := newHooks(t, srv.URL, func(c *webhook.Config) { c.QueueSize = 10 })
	const events = 8
	for range events {
		h.AfterLogin(ctx, alice)
	}
	closed := make(chan error)
	go func() { closed <- h.Close(ctx) }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(drain(got)); n != events {
		t.Errorf("Close returned after %d deliveries, want %d", n, events)
	}

	// Closed hooks drop events and say so; Close again is harmless.
	if err := h.AfterLogin(ctx, alice); err != nil {
		t.Errorf("hook after Close: %v", err)
	}
	if n := logs.count("webhook: closed, event dropped"); n != 1 {
		t.Errorf("%d drop records, want 1: %q", n, logs.all())
	}
	closeHooks(t, h)
	if n := len(drain(got)); n != 0 {
		t.Errorf("%d deliveries after Close", n)
	}
}

func TestBeforeDeleteReceiverDown(t *testing.T) {
	t.Parallel()
	srv, _ := receive(t, nil)
	srv.Close() // nothing listens at srv.URL any more
	h, logs := newHooks(t, srv.URL, func(c *webhook.Config) { c.Attempts = 2 })
	if err := h.BeforeDelete(context.Background(), alice); err != nil {
		t.Fatalf("BeforeDelete: %v, want nil: a notification cannot veto a delete", err)
	}
	closeHooks(t, h)
	if n := logs.count("webhook: delivery failed"); n != 1 {
		t.Errorf("%d failure records, want 1: %q", n, logs.all())
	}
	if n := logs.count("webhook: delivery will be retried"); n != 1 {
		t.Errorf("%d retry records, want 1: %q", n, logs.all())
	}
}
