// Package tcpproxy is a TCP forwarder for tests that a store fails closed:
// put a Proxy between a client and its server, Stop it to make the server
// vanish (live connections cut, new ones refused, as when the server dies),
// and Start it again to watch the client recover on its own.
package tcpproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// dialTimeout bounds the connection to the target, so that a proxy to a
// dead target closes its client's connection instead of hanging it.
const dialTimeout = 2 * time.Second

// Proxy forwards every connection made to Addr to its target. Stop and
// Start may be called from any goroutine, but not at the same time.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string // fixed at New, so clients can reconnect after Start

	// silent drops every byte in both directions while keeping the
	// connections open: a network partition, which only heartbeats notice.
	silent atomic.Bool

	mu    sync.Mutex
	ln    net.Listener          // nil while stopped
	conns map[net.Conn]struct{} // both ends of every live forwarding

	// wg counts the goroutines of the proxy: Stop waits for them, so no
	// goroutine outlives a stopped proxy.
	wg sync.WaitGroup
}

// New starts a proxy to target (host:port) on a free port of 127.0.0.1. It
// is stopped when the test ends.
func New(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("tcpproxy: %v", err)
	}
	p := &Proxy{tb: tb, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	tb.Cleanup(p.Stop)
	return p
}

// Addr is the host:port clients connect to. It stays the same across Stop
// and Start.
func (p *Proxy) Addr() string { return p.addr }

// Silence makes the proxy drop everything it reads (on) while every
// connection stays open, as in a network partition; off forwards again.
// Unlike Stop, nothing tells the client: only a timeout or heartbeat can.
func (p *Proxy) Silence(on bool) { p.silent.Store(on) }

// Stop closes the listener, so new connections are refused, and every live
// connection, both to clients and to the target, so clients see their
// server go away mid-conversation. It returns once every goroutine of the
// proxy has ended. Stopping a stopped proxy does nothing.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close() // stopping: a close error changes nothing
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

// Start listens again on Addr. Go sets SO_REUSEADDR on listeners, so the
// connections Stop left in TIME_WAIT do not hold the port; should another
// socket have taken it meanwhile, Start retries for a few seconds before
// failing the test. Starting a running proxy does nothing. Call Start from
// the test's goroutine: it may call tb.Fatalf.
func (p *Proxy) Start() {
	p.tb.Helper()
	p.mu.Lock()
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			p.tb.Fatalf("tcpproxy: restart on %s: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve makes ln the current listener and accepts on it until it closes.
func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Stop
			}
			if p.track(ln, c) {
				p.wg.Add(1) // the accept loop holds a count: no race with Wait
				go p.forward(ln, c)
			}
		}
	}()
}

// track records c as live unless the proxy stopped (or restarted) since
// ln was current, in which case it closes c: a connection accepted just
// before Stop must not survive it.
func (p *Proxy) track(ln net.Listener, c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// drop closes c and forgets it.
func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// forward copies between the client c and a new connection to the target
// until either side closes; then it closes both, as a dying server would.
func (p *Proxy) forward(ln net.Listener, c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		p.drop(c)
		return
	}
	if !p.track(ln, up) {
		p.drop(c)
		return
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { p.drop(c); p.drop(up) }) }
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.copy(up, c) // ends when either side closes; both are then closed
		closeBoth()
	}()
	p.copy(c, up)
	closeBoth()
}

// copy forwards src to dst, dropping what it reads while silent, until
// either side fails.
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
