package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/webhook"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	alice  = &gatehouse.User{
		ID:             mustID("0f8f5b0e-8c1e-4c57-9a43-6d1f0b3c2a11"),
		Email:          "alice@example.com",
		HashedPassword: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		IsActive:       true,
		Fields:         map[string]any{"secret_note": "do not send"},
	}
	aliceJSON = `{"id":"0f8f5b0e-8c1e-4c57-9a43-6d1f0b3c2a11","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":false}`
)

func mustID(s string) gatehouse.ID {
	id, err := gatehouse.ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receive starts a webhook endpoint that records every request and answers
// with respond, called with the request's number from 1 (nil answers 204).
func receive(t *testing.T, respond func(n int, w http.ResponseWriter)) (*httptest.Server, chan request) {
	t.Helper()
	got := make(chan request, 100)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		got <- request{header: r.Header.Clone(), body: body}
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		if respond == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		respond(i, w)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// drain returns what was received so far; call it after Close.
func drain(got chan request) []request {
	var reqs []request
	for {
		select {
		case r := <-got:
			reqs = append(reqs, r)
		default:
			return reqs
		}
	}
}

// newHooks makes Hooks posting to url with a fixed clock, no backoff and a
// recorded log; edit changes the Config first. Cleanup closes them.
func newHooks(t *testing.T, url string, edit func(*webhook.Config)) (*webhook.Hooks, *logs) {
	t.Helper()
	l := &logs{}
	cfg := webhook.Config{
		URL:     url,
		Secret:  secret,
		Backoff: func(int) time.Duration { return 0 },
		Logger:  slog.New(l),
		Now:     func() time.Time { return now },
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, l
}

// logs is a slog.Handler that keeps the messages it is given, with their
// attributes as text.
type logs struct {
	mu      sync.Mutex
	records []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }

func (l *logs) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, s)
	l.mu.Unlock()
	return nil
}

// count says how many records start with msg.
func (l *logs) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if strings.HasPrefix(r, msg) {
			n++
		}
	}
	return n
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

func closeHooks(t *testing.T, h *webhook.Hooks) {
	t.Helper()
	if err := h.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
