package password_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

// wantUnavailable checks that err is the 503 of a refused hash, and whether
// a context ending caused it.
func wantUnavailable(t *testing.T, err, cause error) {
	t.Helper()
	if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable || gatehouse.CodeUnavailable.Status() != 503 {
		t.Fatalf("err = %v, want CodeUnavailable (503)", err)
	}
	var e *gatehouse.Error
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a Retry-After hint", err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("err = %v, want it caused by %v", err, cause)
	}
	if cause == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		t.Fatalf("err = %v, not caused by the context", err)
	}
}

// TestLimitQueue: with one slot and room for one waiter, of three
// concurrent hashes one runs, one waits and one is refused at once; the
// waiter runs when the first is done.
func TestLimitQueue(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap, MaxConcurrent: 1, MaxQueue: 1}
	running, finish, queued := make(chan struct{}), make(chan struct{}), make(chan struct{}, 3)
	var slots atomic.Int32
	password.SetHooks(h, func() { queued <- struct{}{} }, func() {
		if slots.Add(1) == 1 {
			close(running)
			<-finish
		}
	})
	ctx := context.Background()

	first, second := make(chan error), make(chan error)
	go func() { _, err := h.Hash(ctx, "first"); first <- err }()
	<-running
	go func() { _, err := h.Hash(ctx, "second"); second <- err }()
	<-queued

	_, err := h.Hash(ctx, "third")
	wantUnavailable(t, err, nil)
	ok, _, err := h.Verify(ctx, "third", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	if ok {
		t.Fatal("Verify matched while refused")
	}
	wantUnavailable(t, err, nil)

	close(finish)
	if err := <-first; err != nil {
		t.Errorf("first: %v", err)
	}
	if err := <-second; err != nil {
		t.Errorf("second: %v", err)
	}
	if len(queued) != 0 {
		t.Errorf("%d more callers queued, want the refused ones not to", len(queued))
	}
	// The queue is empty again.
	if _, err := h.Hash(ctx, "fourth"); err != nil {
		t.Errorf("after the burst: %v", err)
	}
}

// TestLimitCancel: a waiter whose context ends gives up its place in the
// queue, so the next caller may wait in its stead.
func TestLimitCancel(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap, MaxConcurrent: 1, MaxQueue: 1}
	queued := make(chan struct{}, 2)
	password.SetHooks(h, func() { queued <- struct{}{} }, nil)
	release, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error)
	go func() { _, err := h.Hash(ctx, "a password"); cancelled <- err }()
	<-queued
	cancel()
	wantUnavailable(t, <-cancelled, context.Canceled)

	next := make(chan error)
	go func() { _, err := h.Hash(context.Background(), "a password"); next <- err }()
	<-queued
	release()
	if err := <-next; err != nil {
		t.Errorf("waiter after a cancelled one: %v", err)
	}
}

// TestLimitMaxWait: a waiter gives up after MaxWait.
func TestLimitMaxWait(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap, MaxConcurrent: 1, MaxWait: 1}
	release, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = h.Hash(context.Background(), "a password")
	wantUnavailable(t, err, nil)
}

// TestLimitNoQueue: a negative MaxQueue refuses at once when every slot is
// taken.
func TestLimitNoQueue(t *testing.T) {
	t.Parallel()
	h := &password.Hasher{Params: cheap, MaxConcurrent: 1, MaxQueue: -1}
	password.SetHooks(h, func() { t.Error("a caller queued") }, nil)
	release, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Hash(context.Background(), "a password")
	wantUnavailable(t, err, nil)
	release()
	if _, err := h.Hash(context.Background(), "a password"); err != nil {
		t.Fatal(err)
	}
}

// TestLimitDefaults: the zero Hasher runs GOMAXPROCS hashes and queues
// 32 times as many callers.
func TestLimitDefaults(t *testing.T) {
	t.Parallel()
	var h password.Hasher
	n := runtime.GOMAXPROCS(0)
	queued := make(chan struct{}, 32*n)
	password.SetHooks(&h, func() { queued <- struct{}{} }, nil)
	var releases []func()
	for range n {
		release, err := h.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiters := make(chan error)
	for range 32 * n {
		go func() { _, err := h.Acquire(ctx); waiters <- err }()
		<-queued
	}
	_, err := h.Hash(context.Background(), "a password")
	wantUnavailable(t, err, nil)
	cancel()
	for range 32 * n {
		wantUnavailable(t, <-waiters, context.Canceled)
	}
	for _, release := range releases {
		release()
	}
}
