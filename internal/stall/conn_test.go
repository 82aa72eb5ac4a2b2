package stall_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client *net.TCPConn, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	client, server = c.(*net.TCPConn), s.(*net.TCPConn)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A peer that reads nothing: the write fails by itself once a piece has moved no
// data for the interval, whatever the size of the write.
func TestWriteThatMovesNothingFails(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	c := stall.NewConn(client, 100*time.Millisecond)
	start := time.Now()
	_, err := c.Write(make([]byte, 64<<20))
	took := time.Since(start)
	if !errors.Is(err, stall.ErrStalled) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that reads nothing = %v, want ErrStalled wrapping a deadline", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("the client library must still see a net.Error timeout, got %T", err)
	}
	// Without the deadline the write would block for good; the bound is loose for
	// a loaded machine.
	if took > 5*time.Second {
		t.Errorf("the stalled write failed after %s with a 100 ms interval", took)
	}
	t.Logf("stalled write failed after %s", took.Round(time.Millisecond))
}

// A slow link is not a stall: the peer reads 8 KiB every 5 ms (at most 1.6 MB/s).
// The write as a whole lasts several intervals, far beyond what the socket buffers
// absorb; each piece moves well within one (a few ms here: the socket keeps at most
// 64 KiB unsent). The interval is a second so that a reader descheduled for a
// while on a loaded machine is not taken for a stalled peer (250 ms failed under
// -race -count=20 beside other work).
func TestSlowLinkIsNotAStall(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	const interval = time.Second
	c := stall.NewConn(client, interval)
	want := bytes.Repeat([]byte("0123456789abcdef"), (4<<20)/16)
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		p := make([]byte, 8<<10)
		for buf.Len() < len(want) {
			n, err := server.Read(p)
			buf.Write(p[:n])
			if err != nil {
				break
			}
			time.Sleep(5 * time.Millisecond) // the link's pace, not a wait for a result
		}
		got <- buf.Bytes()
	}()
	start := time.Now()
	if _, err := c.Write(want); err != nil {
		t.Fatalf("write on a slow but working link: %v", err)
	}
	took := time.Since(start)
	if !bytes.Equal(<-got, want) {
		t.Fatal("the peer read other bytes than were written")
	}
	// The case is only a case if one deadline for the whole write would have cut it.
	if took < 2*interval {
		t.Fatalf("the write took %s, not several intervals of %s: the link was not slow", took, interval)
	}
	t.Logf("4 MiB over a slow link in %s with a %s interval", took.Round(time.Millisecond), interval)
}

// The client's own deadline (a handshake, a polite close) still bounds a write, and
// its error is the client's, not a stall.
func TestClientDeadlineApplies(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	c := stall.NewConn(client, time.Hour)
	if err := c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, stall.ErrStalled) {
		t.Fatalf("write past the client's deadline = %v, want the deadline's own error", err)
	}
}

// A client that cuts a blocked write short (a deadline in the past, from another
// goroutine) gets it back at once, although the piece's own deadline is far off.
func TestClientCutsWriteInProgress(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	c := stall.NewConn(client, time.Hour)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20))
		errc <- err
	}()
	// Whenever the deadline lands, before or during the write, the write must end.
	if err := c.SetWriteDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("cut write = %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a past deadline set during a blocked write did not end it")
	}
}

// A later deadline of the client never extends a piece's: the write still fails at
// the stall interval.
func TestClientCannotExtendPieceDeadline(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	c := stall.NewConn(client, 100*time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20))
		errc <- err
	}()
	_ = c.SetWriteDeadline(time.Time{}) // as nats.go does after each of its writes
	_ = c.SetDeadline(time.Now().Add(time.Hour))
	select {
	case err := <-errc:
		if !errors.Is(err, stall.ErrStalled) {
			t.Fatalf("write = %v, want ErrStalled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a later client deadline kept a stalled write alive")
	}
}

// Reads are untouched.
func TestReadsPassThrough(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	c := stall.NewConn(client, 100*time.Millisecond)
	go func() { _, _ = server.Write([]byte("hello")) }()
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
}
