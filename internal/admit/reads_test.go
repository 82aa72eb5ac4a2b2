package admit_test

import (
	"bufio"
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

// Body reads past the bound: a newcomer takes the slot of the read begun the
// earliest once that has lasted Grace (it is cut), and is refused at once before
// that; the others read their body whole.
func TestReadsCutTheOldestOrRefuse(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	reads := admit.NewReads(1, clk)
	var cuts atomic.Int32
	started := make(chan string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := reads.Start(http.NewResponseController(w), func() { cuts.Add(1) })
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
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	a := post("/a", "12345") // holds the slot from t0, half its body sent
	if p := <-started; p != "/a" {
		t.Fatalf("started %s", p)
	}
	clk.Advance(admit.Grace - time.Millisecond)
	b := post("/b", "abcde") // a's read is not Grace old: refused at once
	if got := answer(b); !strings.HasPrefix(got, "refused") || !strings.Contains(got, admit.ErrFull.Error()) {
		t.Errorf("b: %q, want refused with ErrFull", got)
	}
	// The rest of its body is not waited for: the server closes the connection.
	if _, err := io.ReadAll(b); err != nil {
		t.Errorf("b after its answer: %v, want EOF", err)
	}
	clk.Advance(time.Millisecond)
	c := post("/c", "01234") // a has read for Grace: cut; c gets its slot
	if got := answer(a); got != "cut" {
		t.Errorf("a: %q, want cut", got)
	}
	if p := <-started; p != "/c" {
		t.Fatalf("started %s, want /c", p)
	}
	_, _ = io.WriteString(c, "56789")
	if got := answer(c); got != "read 0123456789" {
		t.Errorf("c: %q", got)
	}
	if n := cuts.Load(); n != 1 {
		t.Errorf("cut %d reads, want 1", n)
	}
	if n := reads.InUse(); n != 0 {
		t.Errorf("InUse = %d at the end", n)
	}
}
