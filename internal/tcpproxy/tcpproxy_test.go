package tcpproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/tcpproxy"
)

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a line and reads it back.
func roundTrip(c net.Conn, line string) (string, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func wantEcho(t *testing.T, c net.Conn, line string) {
	t.Helper()
	got, err := roundTrip(c, line)
	if err != nil || got != line {
		t.Fatalf("echo of %q through the proxy = %q, %v", line, got, err)
	}
}

func TestStopStart(t *testing.T) {
	p := tcpproxy.New(t, echoServer(t))
	addr := p.Addr()
	before := dial(t, addr)
	wantEcho(t, before, "hello")

	p.Stop()
	// The live connection is cut, promptly and not by a timeout.
	start := time.Now()
	if got, err := roundTrip(before, "after stop"); err == nil {
		t.Errorf("live connection still echoes %q after Stop", got)
	} else if isTimeout(err) {
		t.Errorf("live connection hung after Stop: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cut connection took %v to fail", d)
	}
	// New connections are refused.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("dial of a stopped proxy succeeded")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial of a stopped proxy: %v, want connection refused", err)
	}
	p.Stop() // twice is fine

	p.Start()
	p.Start() // twice is fine
	if p.Addr() != addr {
		t.Errorf("Addr after Start = %s, want %s", p.Addr(), addr)
	}
	wantEcho(t, dial(t, addr), "again")

	// Several rounds, as a test that flaps the server would do.
	for range 3 {
		c := dial(t, addr)
		wantEcho(t, c, "x")
		p.Stop()
		p.Start()
		wantEcho(t, dial(t, addr), "y")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A proxy to a target that is down accepts, then closes at once.
func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := tcpproxy.New(t, dead)
	c := dial(t, p.Addr())
	if got, err := roundTrip(c, "anyone?"); err == nil {
		t.Errorf("proxy to a dead target answered %q", got)
	} else if isTimeout(err) {
		t.Errorf("proxy to a dead target hung: %v", err)
	}
}

// Stop ends every goroutine of the proxy, and no connection outlives it.
func TestStopLeavesNoGoroutines(t *testing.T) {
	target := echoServer(t)
	base := runtime.NumGoroutine()
	p := tcpproxy.New(t, target)
	for range 5 {
		wantEcho(t, dial(t, p.Addr()), "z")
	}
	p.Stop()
	// The echo server's handlers end once their connections close.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines after Stop, %d before the proxy", n, base)
	}
}
