package stall_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
)

func listen(t *testing.T) net.Listener {
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
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln
}

// Cut closes every connection the sink dialed, so a client blocked reading one lets
// go at once, and refuses dials from then on.
func TestCutClosesEverySocketAndRefusesDials(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	var s stall.Sockets
	var conns []*stall.Conn
	for range 3 {
		c, err := s.Dial(t.Context(), "tcp", ln.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := conns[0].Read(make([]byte, 1))
		blocked <- err
	}()
	s.Cut()
	select {
	case err := <-blocked:
		if err == nil {
			t.Fatal("a read on a cut socket returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read blocked on a socket was not released by Cut")
	}
	for i, c := range conns {
		if _, err := c.Write([]byte("x")); err == nil {
			t.Errorf("socket %d still writable after Cut", i)
		}
	}
	if _, err := s.Dial(t.Context(), "tcp", ln.Addr().String(), time.Second); !errors.Is(err, stall.ErrCut) {
		t.Fatalf("dial after Cut = %v, want ErrCut", err)
	}
	s.Cut() // idempotent
}

// A socket closed by its client is forgotten, and dials honour their context.
func TestDialHonoursContext(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	var s stall.Sockets
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Dial(ctx, "tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("dial with a cancelled context succeeded")
	}
	c, err := s.Dial(t.Context(), "tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close() // idempotent
}

// A client whose close blocks on a socket (here: a read that nothing answers) is
// released by the cut once the grace has passed.
func TestCloseWithinCutsAfterGrace(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	var s stall.Sockets
	c, err := s.Dial(t.Context(), "tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		s.CloseWithin(50*time.Millisecond, func() { _, _ = c.Read(make([]byte, 1)) })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("CloseWithin did not cut the socket its close was blocked on")
	}
	// A close that returns at once is not cut.
	var fresh stall.Sockets
	c2, err := fresh.Dial(t.Context(), "tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fresh.CloseWithin(time.Hour, func() {})
	if _, err := c2.Write([]byte("x")); err != nil {
		t.Fatalf("a socket was cut although the close returned at once: %v", err)
	}
}
