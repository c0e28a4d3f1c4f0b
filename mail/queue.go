package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

const (
	defaultQueueSize = 1000
	defaultWorkers   = 2
	defaultAttempts  = 5
	maxBackoff       = 10 * time.Minute
)

// QueueOptions configures a [Queue]. The zero value is usable.
type QueueOptions struct {
	Size     int // mails waiting at most; default 1000
	Workers  int // mails sent at once; default 2
	Attempts int // tries per mail, the first included; default 5

	// Backoff is the wait after the failed attempt number attempt (1 for
	// the first). Default: 1 s, then 4 times longer each time (1 s, 4 s,
	// 16 s, 64 s, ...), at most 10 minutes. Tests return 0.
	Backoff func(attempt int) time.Duration

	Logger *slog.Logger // default slog.Default()
}

// Queue is a Mailer that sends through another Mailer off the request
// path: Send puts the mail in a bounded buffer and returns at once, and
// workers deliver it, retrying failures with backoff. The caller never
// waits for a mail server, so a slow or failing one neither slows requests
// down nor tells, by their timing, which ones sent a mail.
//
// A mail that fails Attempts times, or fails for good (an invalid message,
// or a 5xx answer of an SMTP server), is logged with its recipient and
// subject and dropped; bodies are never logged. Close drains the queue.
type Queue struct {
	next     gatehouse.Mailer
	attempts int
	backoff  func(int) time.Duration
	log      *slog.Logger

	mu     sync.RWMutex // guards closed against Send racing Close
	closed bool
	ch     chan gatehouse.Message

	ctx    context.Context // the workers'; cancelled when Close gives up
	cancel context.CancelFunc
	done   chan struct{} // closed when every worker has returned
}

// NewQueue starts a Queue that delivers through next.
func NewQueue(next gatehouse.Mailer, opts QueueOptions) *Queue {
	if opts.Size <= 0 {
		opts.Size = defaultQueueSize
	}
	if opts.Workers <= 0 {
		opts.Workers = defaultWorkers
	}
	if opts.Attempts <= 0 {
		opts.Attempts = defaultAttempts
	}
	if opts.Backoff == nil {
		opts.Backoff = defaultBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		next:     next,
		attempts: opts.Attempts,
		backoff:  opts.Backoff,
		log:      opts.Logger,
		ch:       make(chan gatehouse.Message, opts.Size),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(q.work)
	}
	go func() {
		wg.Wait()
		cancel()
		close(q.done)
	}()
	return q
}

// Send enqueues m and returns without waiting for its delivery, whose
// outcome is only logged. When the buffer is full or the queue is closed,
// it logs and returns an error with CodeUnavailable at once; it never
// blocks. ctx is not used: the mail outlives the request.
func (q *Queue) Send(_ context.Context, m gatehouse.Message) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.log.Error("mail: queue closed, mail dropped", "to", m.To, "subject", m.Subject)
		return gatehouse.Errorf(gatehouse.CodeUnavailable, "mail: queue closed")
	}
	select {
	case q.ch <- m:
		return nil
	default:
		q.log.Error("mail: queue full, mail dropped", "to", m.To, "subject", m.Subject)
		return gatehouse.Errorf(gatehouse.CodeUnavailable, "mail: queue full")
	}
}

// Close stops taking mails, waits until the queued ones are delivered (or
// given up) and stops the workers. If ctx ends first, Close cancels the
// sends in progress and the waits between attempts, drops the mails still
// queued (logging each), and returns the context's error without waiting
// further. Calling Close again waits again.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		return fmt.Errorf("mail: queue close: %w", context.Cause(ctx))
	}
}

func (q *Queue) work() {
	for m := range q.ch {
		if q.ctx.Err() != nil {
			q.log.Error("mail: queue closed, mail dropped", "to", m.To, "subject", m.Subject)
			continue
		}
		q.deliver(m)
	}
}

// deliver sends m, retrying until it succeeds, fails for good, runs out of
// attempts or the queue is cancelled.
func (q *Queue) deliver(m gatehouse.Message) {
	for attempt := 1; ; attempt++ {
		err := q.next.Send(q.ctx, m)
		if err == nil {
			return
		}
		if attempt >= q.attempts || permanent(err) || q.ctx.Err() != nil {
			q.log.Error("mail: not delivered, giving up", "to", m.To, "subject", m.Subject, "attempts", attempt, "err", err)
			return
		}
		wait := q.backoff(attempt)
		q.log.Warn("mail: not delivered, will retry", "to", m.To, "subject", m.Subject, "attempt", attempt, "retry_in", wait, "err", err)
		if !q.sleep(wait) {
			q.log.Error("mail: queue closed, mail dropped", "to", m.To, "subject", m.Subject, "attempts", attempt)
			return
		}
	}
}

// sleep waits d, and reports false if the queue was cancelled meanwhile.
func (q *Queue) sleep(d time.Duration) bool {
	if d <= 0 {
		return q.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.ctx.Done():
		return false
	}
}

// permanent reports whether retrying err is pointless: the message itself
// is invalid, or an SMTP server refused it with a 5xx code.
func permanent(err error) bool {
	var te *textproto.Error
	return errors.Is(err, errInvalidMessage) || errors.As(err, &te) && te.Code >= 500
}

func defaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 6 { // 4^5 s already passes the cap
		return maxBackoff
	}
	return min(time.Second<<(2*(attempt-1)), maxBackoff)
}
