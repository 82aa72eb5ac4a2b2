package testkit_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// echo serves a line-echo server until t ends and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, within time.Duration) (string, error) {
	t.Helper()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(within))
	return r.ReadString('\n')
}

// A stalled proxy forwards nothing and keeps the connection; released, it forwards
// what waited. Cut closes the connection; the next one is served.
func TestProxyStallAndCut(t *testing.T) {
	t.Parallel()
	p := testkit.StartProxy(t, echo(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(t, c, r, 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	p.SetStalled(true)
	if got, err := roundTrip(t, c, r, 200*time.Millisecond); err == nil {
		t.Fatalf("stalled proxy forwarded %q", got)
	}
	p.SetStalled(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("after the stall: %q, %v", got, err)
	}
	p.Cut()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("read after Cut succeeded")
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := roundTrip(t, c2, bufio.NewReader(c2), 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("a new connection after Cut: %q, %v", got, err)
	}
}

// Down refuses new connections until it is lifted.
func TestProxyDown(t *testing.T) {
	t.Parallel()
	p := testkit.StartProxy(t, echo(t))
	p.SetDown(true)
	c, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer c.Close()
		if got, err := roundTrip(t, c, bufio.NewReader(c), 2*time.Second); err == nil {
			t.Fatalf("proxy down forwarded %q", got)
		}
	}
	p.SetDown(false)
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := roundTrip(t, c2, bufio.NewReader(c2), 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("after down: %q, %v", got, err)
	}
}
