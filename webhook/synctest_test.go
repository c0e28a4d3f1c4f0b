package webhook_test

// These tests run in a synctest bubble: time is fake, so waits are checked
// exactly without sleeping, and the bubble fails if a goroutine outlives
// Close. The receiver is an in-memory RoundTripper.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/webhook"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// reply is one answer of a fake receiver: a status and a Retry-After.
type reply struct {
	status     int
	retryAfter string
}

// fakeClient answers the replies in turn, then 204, and records when each
// request came.
func fakeClient(replies ...reply) (*http.Client, func() []time.Time) {
	var mu sync.Mutex
	var times []time.Time
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		rep := reply{status: http.StatusNoContent}
		if len(times) <= len(replies) {
			rep = replies[len(times)-1]
		}
		h := http.Header{}
		if rep.retryAfter != "" {
			h.Set("Retry-After", rep.retryAfter)
		}
		return &http.Response{
			StatusCode: rep.status,
			Status:     http.StatusText(rep.status),
			Header:     h,
			Body:       io.NopCloser(strings.NewReader("")),
			Request:    r,
		}, nil
	})
	return &http.Client{Transport: rt}, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(times)
	}
}

func TestRetryWaits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		replies []reply
		backoff func(int) time.Duration
		want    []time.Duration // waits between attempts
	}{
		{"default backoff doubles", []reply{{503, ""}, {500, ""}, {502, ""}, {504, ""}}, nil,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"injected backoff", []reply{{500, ""}, {500, ""}}, func(n int) time.Duration { return time.Duration(n) * time.Hour },
			[]time.Duration{time.Hour, 2 * time.Hour}},
		{"Retry-After seconds", []reply{{429, "7"}}, nil, []time.Duration{7 * time.Second}},
		{"Retry-After on 503", []reply{{503, "3"}}, nil, []time.Duration{3 * time.Second}},
		{"Retry-After capped", []reply{{429, "86400"}}, nil, []time.Duration{time.Minute}},
		{"Retry-After not seconds", []reply{{429, "Wed, 21 Oct 2015 07:28:00 GMT"}}, nil, []time.Duration{time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				client, times := fakeClient(tc.replies...)
				h, err := webhook.New(webhook.Config{
					URL:     "https://hooks.example.com/gatehouse",
					Secret:  secret,
					Client:  client,
					Backoff: tc.backoff,
					Logger:  slog.New(&logs{}),
				})
				if err != nil {
					t.Fatal(err)
				}
				h.AfterLogin(context.Background(), alice)
				closeHooks(t, h)
				got := times()
				var waits []time.Duration
				for i := 1; i < len(got); i++ {
					waits = append(waits, got[i].Sub(got[i-1]))
				}
				if !slices.Equal(waits, tc.want) {
					t.Errorf("waits %v, want %v", waits, tc.want)
				}
			})
		})
	}
}

func TestCloseTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// The receiver never answers; only cancellation ends a request.
		hung := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})
		l := &logs{}
		h, err := webhook.New(webhook.Config{
			URL:    "https://hooks.example.com/gatehouse",
			Secret: secret,
			Client: &http.Client{Transport: hung},
			Logger: slog.New(l),
		})
		if err != nil {
			t.Fatal(err)
		}
		const events = webhook.Workers + 3 // some in flight, some queued
		for range events {
			h.AfterLogin(context.Background(), alice)
		}
		synctest.Wait() // every worker is stuck in a request

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := h.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Close waited %v, want 5s", d)
		}
		synctest.Wait() // the workers give up what is left and return
		if n := l.count("webhook: closing, delivery dropped"); n != events {
			t.Errorf("%d drop records, want %d: %q", n, events, l.all())
		}
	})
}

// TestNoGoroutineLeak delivers, retries and fails events, then closes: the
// bubble fails the test if any goroutine is left behind.
func TestNoGoroutineLeak(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		client, _ := fakeClient(reply{500, ""}, reply{400, ""}, reply{429, "1"}, reply{503, ""})
		h, err := webhook.New(webhook.Config{
			URL:    "https://hooks.example.com/gatehouse",
			Secret: secret,
			Client: client,
			Logger: slog.New(&logs{}),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := range 20 {
			u := &gatehouse.User{ID: gatehouse.NewID(), Email: "leak@example.com"}
			if i%2 == 0 {
				h.AfterRegister(ctx, u)
			} else {
				h.AfterDelete(ctx, u)
			}
		}
		closeHooks(t, h)
	})
}

func TestCloseIdle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, err := webhook.New(webhook.Config{URL: "https://hooks.example.com/gatehouse", Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		closeHooks(t, h)
	})
}
