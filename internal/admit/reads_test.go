package admit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// Body reads past the bound: the read begun the earliest is cut once it has
// lasted Grace and a newcomer waits, and a newcomer that gets no slot within
// Grace is refused (ErrFull); the others read their body whole.
func TestReadsCutTheOldestAndRefuseAfterGrace(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	reads := admit.NewReads(1, clk)
	var cuts atomic.Int32
	started := make(chan string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := reads.Start(r.Context(), http.NewResponseController(w), func() { cuts.Add(1) })
		if err != nil {
			_, _ = io.WriteString(w, "refused: "+err.Error())
			return
		}
		started <- r.URL.Path
		body, err := io.ReadAll(r.Body)
		switch {
		case s.Release():
			_, _ = io.WriteString(w, "cut")
		case err != nil:
			_, _ = io.WriteString(w, "failed")
		default:
			_, _ = io.WriteString(w, "read "+string(body))
		}
	}))
	defer srv.Close()
	post := func(path, sent string) net.Conn {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n%s", path, sent)
		return c
	}
	answer := func(c net.Conn) string {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	a := post("/a", "12345") // holds the slot from t0, half its body sent
	if p := <-started; p != "/a" {
		t.Fatalf("started %s", p)
	}
	clk.Advance(100 * time.Millisecond)
	b := post("/b", "abcde")
	waitingBehind(t, clk, 2) // b's wait of Grace, and the pool's timer
	clk.Advance(100 * time.Millisecond)
	c := post("/c", "01234")
	waitingBehind(t, clk, 3)

	clk.Set(t0.Add(admit.Grace)) // a has read for Grace: cut; b gets its slot
	if got := answer(a); got != "cut" {
		t.Errorf("a: %q, want cut", got)
	}
	if p := <-started; p != "/b" {
		t.Fatalf("started %s, want /b", p)
	}
	clk.Set(t0.Add(200*time.Millisecond + admit.Grace)) // c waited Grace; b's turn is young
	if got := answer(c); !strings.HasPrefix(got, "refused") || !strings.Contains(got, admit.ErrFull.Error()) {
		t.Errorf("c: %q, want refused with ErrFull", got)
	}
	// The rest of its body is not waited for: the server closes the connection.
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("c after its answer: %v, want EOF", err)
	}
	_, _ = io.WriteString(b, "fghij")
	if got := answer(b); got != "read abcdefghij" {
		t.Errorf("b: %q", got)
	}
	if n := cuts.Load(); n != 1 {
		t.Errorf("cut %d reads, want 1", n)
	}
	if n := reads.InUse(); n != 0 {
		t.Errorf("InUse = %d at the end", n)
	}
}

// A wait ends with the request's context, and says so.
func TestReadsWaitEndsWithCtx(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	reads := admit.NewReads(1, clk)
	rc := http.NewResponseController(httptest.NewRecorder())
	s, err := reads.Start(t.Context(), rc, func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := reads.Start(ctx, rc, func() {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with ctx ended: %v", err)
	}
}
