package mail_test

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
)

func noBackoff(int) time.Duration { return 0 }

func queueMessage(i int) gatehouse.Message {
	return gatehouse.Message{
		To:      fmt.Sprintf("user%d@example.com", i),
		Subject: fmt.Sprintf("mail %d", i),
		Text:    "https://auth.example.com/reset-password?token=SECRET-TOKEN-" + fmt.Sprint(i),
	}
}

func TestQueueRetriesUntilSuccess(t *testing.T) {
	logger, logs := newLogger()
	var calls atomic.Int32
	delivered := make(chan gatehouse.Message, 1)
	var mu sync.Mutex
	var backoffs []int
	q := mail.NewQueue(mailerFunc(func(_ context.Context, m gatehouse.Message) error {
		if calls.Add(1) <= 3 {
			return errors.New("421 service not available")
		}
		delivered <- m
		return nil
	}), mail.QueueOptions{
		Attempts: 5,
		Backoff: func(attempt int) time.Duration {
			mu.Lock()
			backoffs = append(backoffs, attempt)
			mu.Unlock()
			return 0
		},
		Logger: logger,
	})
	m := queueMessage(1)
	if err := q.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, delivered); got != m {
		t.Errorf("delivered %+v", got)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}
	if fmt.Sprint(backoffs) != "[1 2 3]" {
		t.Errorf("Backoff called with %v", backoffs)
	}
	out := logs.String()
	if n := strings.Count(out, "will retry"); n != 3 {
		t.Errorf("%d retry lines in\n%s", n, out)
	}
	if strings.Contains(out, "SECRET-TOKEN") {
		t.Errorf("log holds the body:\n%s", out)
	}
}

func TestQueueGivesUp(t *testing.T) {
	logger, logs := newLogger()
	var calls atomic.Int32
	q := mail.NewQueue(mailerFunc(func(context.Context, gatehouse.Message) error {
		calls.Add(1)
		return errors.New("connection refused")
	}), mail.QueueOptions{Attempts: 3, Backoff: noBackoff, Logger: logger})
	if err := q.Send(context.Background(), queueMessage(7)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(context.Background()); err != nil { // waits for the attempts
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	out := logs.String()
	for _, want := range []string{"giving up", "to=user7@example.com", `subject="mail 7"`, "attempts=3", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET-TOKEN") {
		t.Errorf("log holds the body:\n%s", out)
	}
}

func TestQueueDoesNotRetryPermanentErrors(t *testing.T) {
	logger, _ := newLogger()
	for name, perm := range map[string]error{
		"SMTP 5xx":        fmt.Errorf("mail: smtp: rcpt to: %w", &textproto.Error{Code: 550, Msg: "no such user"}),
		"invalid message": nil, // made by Compose below
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			q := mail.NewQueue(mailerFunc(func(_ context.Context, m gatehouse.Message) error {
				calls.Add(1)
				if perm != nil {
					return perm
				}
				_, err := mail.Compose("noreply@example.com", m, testNow)
				return err
			}), mail.QueueOptions{Attempts: 5, Backoff: noBackoff, Logger: logger})
			m := queueMessage(1)
			m.Subject = "bad\r\nBcc: eve@example.com"
			q.Send(context.Background(), m)
			if err := q.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
	// A 4xx is worth retrying.
	var calls atomic.Int32
	q := mail.NewQueue(mailerFunc(func(context.Context, gatehouse.Message) error {
		calls.Add(1)
		return &textproto.Error{Code: 451, Msg: "try later"}
	}), mail.QueueOptions{Attempts: 2, Backoff: noBackoff, Logger: logger})
	q.Send(context.Background(), queueMessage(1))
	q.Close(context.Background())
	if n := calls.Load(); n != 2 {
		t.Errorf("4xx: %d attempts, want 2", n)
	}
}

func TestQueueFullDoesNotBlock(t *testing.T) {
	logger, logs := newLogger()
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	rec := &recorder{}
	q := mail.NewQueue(mailerFunc(func(ctx context.Context, m gatehouse.Message) error {
		started <- struct{}{}
		<-release
		return rec.Send(ctx, m)
	}), mail.QueueOptions{Size: 1, Workers: 1, Backoff: noBackoff, Logger: logger})

	if err := q.Send(context.Background(), queueMessage(1)); err != nil {
		t.Fatal(err)
	}
	recv(t, started) // the worker holds mail 1
	if err := q.Send(context.Background(), queueMessage(2)); err != nil {
		t.Fatal(err) // mail 2 fills the buffer
	}
	// Mail 3 finds no room: an error at once, not a wait for the worker.
	done := make(chan error)
	go func() { done <- q.Send(context.Background(), queueMessage(3)) }()
	err := recv(t, done)
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Fatalf("Send on a full queue = %v, want CodeUnavailable", err)
	}
	if out := logs.String(); !strings.Contains(out, "queue full") || !strings.Contains(out, "to=user3@example.com") {
		t.Errorf("log:\n%s", out)
	}

	close(release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rec.messages(); len(got) != 2 || got[0].To != "user1@example.com" || got[1].To != "user2@example.com" {
		t.Errorf("delivered %+v", got)
	}
}

func TestQueueCloseDrains(t *testing.T) {
	logger, _ := newLogger()
	gate := make(chan struct{})
	rec := &recorder{}
	q := mail.NewQueue(mailerFunc(func(ctx context.Context, m gatehouse.Message) error {
		<-gate
		return rec.Send(ctx, m)
	}), mail.QueueOptions{Workers: 2, Logger: logger})
	for i := range 5 {
		if err := q.Send(context.Background(), queueMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- q.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with mails undelivered", err)
	default:
	}
	close(gate)
	if err := recv(t, closed); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.messages()); n != 5 {
		t.Errorf("%d mails delivered, want 5", n)
	}
	// Closed: refused at once.
	if err := q.Send(context.Background(), queueMessage(9)); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Send after Close = %v", err)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestQueueCloseGivesUp(t *testing.T) {
	logger, logs := newLogger()
	started := make(chan struct{}, 10)
	var calls atomic.Int32
	q := mail.NewQueue(mailerFunc(func(ctx context.Context, m gatehouse.Message) error {
		calls.Add(1)
		started <- struct{}{}
		<-ctx.Done() // a mail server that never answers
		return ctx.Err()
	}), mail.QueueOptions{Workers: 1, Logger: logger})
	for i := range 3 {
		q.Send(context.Background(), queueMessage(i))
	}
	recv(t, started)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	if err := q.Close(context.Background()); err != nil { // the workers stop
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d sends, want 1: queued mails are dropped, not sent", n)
	}
	if out := logs.String(); strings.Count(out, "mail dropped") != 2 || !strings.Contains(out, "giving up") {
		t.Errorf("log:\n%s", out)
	}
}

func TestQueueOutlivesRequest(t *testing.T) {
	delivered := make(chan error, 1)
	q := mail.NewQueue(mailerFunc(func(ctx context.Context, _ gatehouse.Message) error {
		delivered <- ctx.Err()
		return nil
	}), mail.QueueOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Send(ctx, queueMessage(1)); err != nil {
		t.Fatal(err)
	}
	cancel() // the request ends before the mail goes
	if err := recv(t, delivered); err != nil {
		t.Errorf("the mail was sent with a dead context: %v", err)
	}
	q.Close(context.Background())
}

func TestDefaultBackoff(t *testing.T) {
	var got []time.Duration
	for a := 0; a <= 8; a++ {
		got = append(got, mail.DefaultBackoff(a))
	}
	want := "[1s 1s 4s 16s 1m4s 4m16s 10m0s 10m0s 10m0s]"
	if fmt.Sprint(got) != want {
		t.Errorf("backoff %v, want %s", got, want)
	}
	if d := mail.DefaultBackoff(1000); d != 10*time.Minute {
		t.Errorf("backoff(1000) = %v", d)
	}
}
