// Package webhook tells another service of the account lifecycle: its Hooks
// implement gatehouse.Hooks and POST every event as signed JSON to one URL.
//
// A delivery looks like this:
//
//	POST /your/endpoint
//	Content-Type: application/json
//	X-Gatehouse-Event: user.registered
//	X-Gatehouse-Delivery: 0f8f5b0e-8c1e-4c57-9a43-6d1f0b3c2a11
//	X-Gatehouse-Timestamp: 1767323045
//	X-Gatehouse-Signature: v1=5d41402abc4b2a76b9719d911017c592...
//
//	{"event":"user.registered","at":"2026-01-02T03:04:05Z",
//	 "user":{"id":"...","email":"alice@example.com","is_active":true,"is_superuser":false,"is_verified":false}}
//
// The events are user.registered, user.logged_in, user.updated (which adds
// "changed", the names of the fields that changed), user.verify_requested,
// user.verified, user.forgot_password, user.password_reset, user.deleting
// and user.deleted. A body never holds a password, a password hash, a token
// or a custom field: the verification and reset tokens stay with the mailer.
//
// The signature is "v1=" and the hex HMAC-SHA256, keyed with the shared
// secret, of the timestamp, a dot and the body. Receivers check it with
// Verify, which also refuses old timestamps so that a recorded delivery
// cannot be replayed. X-Gatehouse-Delivery is the same on every retry of a
// delivery: receivers use it to ignore duplicates.
//
// Delivery is asynchronous, since hooks run on the request path: an event
// is queued and the hook returns at once. Workers post it, retrying network
// errors, 5xx and 429 answers (after Retry-After, when given) with backoff;
// any 2xx is a success and any other answer a permanent failure. Failures
// and events dropped because the queue is full are logged, never returned:
// a notification cannot fail, slow down or veto the change it reports.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

const (
	minSecret        = 32
	defaultAttempts  = 5
	defaultQueueSize = 1000
	defaultTimeout   = 10 * time.Second
	maxBackoff       = time.Minute
	// maxRetryAfter caps how long a receiver's Retry-After can hold a worker.
	maxRetryAfter = time.Minute
	// workers is how many deliveries are in flight at once.
	workers = 2
	// maxDrain bounds how much of a response is read to reuse the connection.
	maxDrain = 4 << 10
)

// Event names, the "event" of a body and the X-Gatehouse-Event header.
const (
	eventRegistered      = "user.registered"
	eventLoggedIn        = "user.logged_in"
	eventUpdated         = "user.updated"
	eventVerifyRequested = "user.verify_requested"
	eventVerified        = "user.verified"
	eventForgotPassword  = "user.forgot_password"
	eventPasswordReset   = "user.password_reset"
	eventDeleting        = "user.deleting"
	eventDeleted         = "user.deleted"
)

// Config configures Hooks. URL and Secret are required.
type Config struct {
	// URL receives the deliveries. It must be https, or http on a loopback
	// host (localhost, 127.0.0.1, ::1).
	URL string
	// Secret keys the signatures; at least 32 bytes, shared with the
	// receiver.
	Secret []byte
	// Client posts the deliveries. Default: a client of its own with a 10s
	// timeout per attempt that does not follow redirects.
	Client *http.Client
	// Attempts is how many times a delivery is tried in all; default 5.
	Attempts int
	// Backoff returns the wait before retry number n (1 for the first
	// retry). Default: 1s, 2s, 4s... capped at 1m. A receiver's Retry-After
	// (seconds, capped at 1m) takes its place when given.
	Backoff func(n int) time.Duration
	// QueueSize is how many events wait for delivery at most; default 1000.
	// Events beyond it are dropped and logged.
	QueueSize int
	Logger    *slog.Logger     // default slog.Default()
	Now       func() time.Time // default time.Now
	// InsecureAllowHTTP accepts an http URL on any host: bodies, which
	// hold e-mail addresses, then cross the network in clear.
	InsecureAllowHTTP bool
}

// Hooks posts the account lifecycle to a webhook. It implements
// gatehouse.Hooks; every method queues a delivery and returns nil. Close it
// to deliver what is queued.
type Hooks struct {
	url    string
	secret []byte
	client *http.Client
	// ownClient is set when client is the default one, whose idle
	// connections Close releases.
	ownClient bool
	attempts  int
	backoff   func(int) time.Duration
	logger    *slog.Logger
	now       func() time.Time

	mu     sync.RWMutex // guards closed and sending on queue
	closed bool
	queue  chan *delivery

	// ctx ends the deliveries in flight when Close gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when every worker has returned
}

var _ gatehouse.Hooks = (*Hooks)(nil)

// delivery is one event, its body built once for every attempt.
type delivery struct {
	id     string
	event  string
	userID string
	body   []byte
}

// New checks cfg and starts the workers.
func New(cfg Config) (*Hooks, error) {
	if err := checkURL(cfg.URL, cfg.InsecureAllowHTTP); err != nil {
		return nil, err
	}
	if len(cfg.Secret) < minSecret {
		return nil, fmt.Errorf("webhook: Config.Secret must be at least %d bytes", minSecret)
	}
	h := &Hooks{
		url:      cfg.URL,
		secret:   bytes.Clone(cfg.Secret),
		client:   cfg.Client,
		attempts: cfg.Attempts,
		backoff:  cfg.Backoff,
		logger:   cfg.Logger,
		now:      cfg.Now,
		done:     make(chan struct{}),
	}
	if h.client == nil {
		h.client, h.ownClient = defaultClient(), true
	}
	if h.attempts <= 0 {
		h.attempts = defaultAttempts
	}
	if h.backoff == nil {
		h.backoff = defaultBackoff
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	size := cfg.QueueSize
	if size <= 0 {
		size = defaultQueueSize
	}
	h.queue = make(chan *delivery, size)
	h.ctx, h.cancel = context.WithCancel(context.Background())

	var wg sync.WaitGroup
	for range workers {
		wg.Go(h.work)
	}
	go func() {
		wg.Wait()
		close(h.done)
	}()
	return h, nil
}

// defaultClient has its own transport, so that its connections are neither
// shared with nor closed by other users of http.DefaultTransport and Close
// can release them. It does not follow redirects: a receiver that moved is
// a failure to fix, not a place to resend signed bodies.
func defaultClient() *http.Client {
	var tr http.RoundTripper = http.DefaultTransport
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = t.Clone()
	}
	return &http.Client{
		Transport: tr,
		Timeout:   defaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkURL accepts an absolute http(s) URL, http only on loopback hosts
// unless insecure.
func checkURL(raw string, insecure bool) error {
	if raw == "" {
		return errors.New("webhook: Config.URL is missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("webhook: Config.URL does not parse")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("webhook: Config.URL must be absolute, with a host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !insecure && !isLoopback(u.Hostname()) {
			return errors.New("webhook: Config.URL must be https unless its host is loopback (set InsecureAllowHTTP to allow http)")
		}
	default:
		return errors.New("webhook: Config.URL must be http or https")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultBackoff doubles from 1s up to 1m.
func defaultBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 7 { // 1s<<6 is already past the cap
		return maxBackoff
	}
	return min(time.Second<<(n-1), maxBackoff)
}

// Close stops accepting events and waits until the queued ones are
// delivered (or have failed) or ctx ends. When ctx ends first, deliveries in
// flight are cancelled, the rest are dropped and logged, and Close returns
// the context's error.
func (h *Hooks) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.queue)
	}
	h.mu.Unlock()
	var err error
	select {
	case <-h.done:
	case <-ctx.Done():
		err = fmt.Errorf("webhook: close: %w", ctx.Err())
	}
	h.cancel()
	if h.ownClient {
		h.client.CloseIdleConnections()
	}
	return err
}

// user is the wire form of a user: what a receiver may see, nothing else.
type user struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	IsActive    bool   `json:"is_active"`
	IsSuperuser bool   `json:"is_superuser"`
	IsVerified  bool   `json:"is_verified"`
}

type payload struct {
	Event   string   `json:"event"`
	At      string   `json:"at"`
	User    user     `json:"user"`
	Changed []string `json:"changed,omitzero"` // user.updated only, never nil there
}

// send queues an event. It never blocks: when the queue is full or closed,
// the event is dropped and logged. The error, if any, is logged too and
// never returned, since a hook's error would fail or veto the request.
func (h *Hooks) send(ctx context.Context, event string, u *gatehouse.User, changed []string) {
	if u == nil {
		h.logger.ErrorContext(ctx, "webhook: event without a user, dropped", "event", event)
		return
	}
	body, err := json.Marshal(payload{
		Event: event,
		At:    h.now().UTC().Format(time.RFC3339),
		User: user{
			ID:          u.ID.String(),
			Email:       u.Email,
			IsActive:    u.IsActive,
			IsSuperuser: u.IsSuperuser,
			IsVerified:  u.IsVerified,
		},
		Changed: changed,
	})
	if err != nil { // cannot happen: the payload holds strings and bools
		h.logger.ErrorContext(ctx, "webhook: encode event, dropped", "event", event, "error", err)
		return
	}
	d := &delivery{id: gatehouse.NewID().String(), event: event, userID: u.ID.String(), body: body}

	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		h.logger.ErrorContext(ctx, "webhook: closed, event dropped", d.attrs()...)
		return
	}
	select {
	case h.queue <- d:
	default:
		h.logger.ErrorContext(ctx, "webhook: queue full, event dropped", d.attrs()...)
	}
}

func (d *delivery) attrs(more ...any) []any {
	return append([]any{"event", d.event, "delivery", d.id, "user_id", d.userID}, more...)
}

// work delivers queued events until the queue is closed and empty.
func (h *Hooks) work() {
	for d := range h.queue {
		h.deliver(d)
	}
}

// deliver tries d until it succeeds, fails for good, runs out of attempts
// or Close gives up.
func (h *Hooks) deliver(d *delivery) {
	for n := 1; ; n++ {
		if h.ctx.Err() != nil {
			h.logger.Error("webhook: closing, delivery dropped", d.attrs("attempts", n-1)...)
			return
		}
		wait, retry, err := h.post(d)
		if err == nil {
			h.logger.Debug("webhook: delivered", d.attrs("attempts", n)...)
			return
		}
		if !retry || n >= h.attempts {
			h.logger.Error("webhook: delivery failed", d.attrs("attempts", n, "error", err)...)
			return
		}
		if wait < 0 {
			wait = h.backoff(n)
		}
		h.logger.Warn("webhook: delivery will be retried", d.attrs("attempts", n, "wait", wait, "error", err)...)
		if !h.sleep(wait) {
			h.logger.Error("webhook: closing, delivery dropped", d.attrs("attempts", n)...)
			return
		}
	}
}

// sleep waits d unless Close gives up first, which it reports with false.
func (h *Hooks) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// post makes one attempt. It reports whether a failure is worth retrying
// and the receiver's Retry-After (or -1 when it gave none).
func (h *Hooks) post(d *delivery) (wait time.Duration, retry bool, err error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.url, bytes.NewReader(d.body))
	if err != nil {
		return -1, false, fmt.Errorf("webhook: new request: %w", err)
	}
	ts := strconv.FormatInt(h.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhook")
	req.Header.Set("X-Gatehouse-Event", d.event)
	req.Header.Set("X-Gatehouse-Delivery", d.id)
	req.Header.Set("X-Gatehouse-Timestamp", ts)
	req.Header.Set("X-Gatehouse-Signature", sign(h.secret, ts, d.body))

	resp, err := h.client.Do(req)
	if err != nil {
		return -1, true, fmt.Errorf("webhook: post: %w", err)
	}
	// Drained so the connection can be reused; the status code is the answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return -1, false, nil
	case s == http.StatusTooManyRequests || s >= 500:
		return retryAfter(resp.Header.Get("Retry-After")), true, fmt.Errorf("webhook: receiver answered %s", resp.Status)
	default:
		return -1, false, fmt.Errorf("webhook: receiver answered %s", resp.Status)
	}
}

// retryAfter reads a Retry-After in seconds, capped; -1 when absent or not
// a number of seconds.
func retryAfter(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	if n >= int64(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}

// AfterRegister posts user.registered.
func (h *Hooks) AfterRegister(ctx context.Context, u *gatehouse.User) error {
	h.send(ctx, eventRegistered, u, nil)
	return nil
}

// AfterLogin posts user.logged_in.
func (h *Hooks) AfterLogin(ctx context.Context, u *gatehouse.User) error {
	h.send(ctx, eventLoggedIn, u, nil)
	return nil
}

// AfterUpdate posts user.updated with the names of the changed fields.
func (h *Hooks) AfterUpdate(ctx context.Context, u *gatehouse.User, changed []string) error {
	h.send(ctx, eventUpdated, u, append([]string{}, changed...))
	return nil
}

// AfterRequestVerify posts user.verify_requested, without the token.
func (h *Hooks) AfterRequestVerify(ctx context.Context, u *gatehouse.User, _ string) error {
	h.send(ctx, eventVerifyRequested, u, nil)
	return nil
}

// AfterVerify posts user.verified.
func (h *Hooks) AfterVerify(ctx context.Context, u *gatehouse.User) error {
	h.send(ctx, eventVerified, u, nil)
	return nil
}

// AfterForgotPassword posts user.forgot_password, without the token.
func (h *Hooks) AfterForgotPassword(ctx context.Context, u *gatehouse.User, _ string) error {
	h.send(ctx, eventForgotPassword, u, nil)
	return nil
}

// AfterResetPassword posts user.password_reset.
func (h *Hooks) AfterResetPassword(ctx context.Context, u *gatehouse.User) error {
	h.send(ctx, eventPasswordReset, u, nil)
	return nil
}

// BeforeDelete posts user.deleting. It is only a notice: it never stops
// the delete, even when the receiver is down.
func (h *Hooks) BeforeDelete(ctx context.Context, u *gatehouse.User) error {
	h.send(ctx, eventDeleting, u, nil)
	return nil
}

// AfterDelete posts user.deleted.
func (h *Hooks) AfterDelete(ctx context.Context, u *gatehouse.User) error {
	h.send(ctx, eventDeleted, u, nil)
	return nil
}
