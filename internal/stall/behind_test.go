package stall_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
)

// What is written behind arrives whole and in order, each write's bytes together,
// also from many writers at once.
func TestWriteBehindKeepsOrder(t *testing.T) {
	t.Parallel()
	client, server := pair(t)
	w := stall.WriteBehind(stall.NewConn(client, time.Second))
	const writers, each = 8, 500
	want := writers*each*len("<0:0000>") + len("<end>")
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, want)
		_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.ReadFull(server, b)
		got <- b[:n]
	}()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := fmt.Fprintf(w, "<%d:%04d>", g, i); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := w.Write([]byte("<end>")); err != nil {
		t.Fatal(err)
	}
	all := <-got
	if len(all) != want || !bytes.HasSuffix(all, []byte("<end>")) {
		t.Fatalf("%d bytes arrived, want %d ending with the last write", len(all), want)
	}
	next := make([]int, writers)
	for _, f := range bytes.Split(bytes.Trim(all, "<>"), []byte("><")) {
		var g, i int
		if string(f) == "end" {
			continue
		}
		if _, err := fmt.Sscanf(string(f), "%d:%d", &g, &i); err != nil {
			t.Fatalf("a write was split or mixed with another: %q", f)
		}
		if i != next[g] {
			t.Fatalf("writer %d: write %d arrived where %d was due", g, i, next[g])
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Errorf("writer %d: %d writes arrived, want %d", g, n, each)
		}
	}
}

// A peer that reads nothing: once the buffer is full writes wait, and when the
// writer's write fails by the stall interval, every waiting and later write fails
// too, and the socket is closed (the client's reader fails with it).
func TestWriteBehindStallFailsWriters(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	w := stall.WriteBehind(stall.NewConn(client, 100*time.Millisecond))
	errc := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, stall.ErrStalled) {
			t.Fatalf("write after the stall = %v, want ErrStalled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writes to a peer that reads nothing never failed")
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, stall.ErrStalled) {
		t.Fatalf("a later write = %v, want the stall's error", err)
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("the socket stayed open after the stall")
	}
}

// Close lets a write waiting for room go.
func TestWriteBehindCloseReleasesWriters(t *testing.T) {
	t.Parallel()
	client, _ := pair(t)
	w := stall.WriteBehind(stall.NewConn(client, time.Hour))
	errc := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
	}()
	_ = w.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release a waiting write")
	}
}
